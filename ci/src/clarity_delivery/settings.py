"""Per-environment settings: ``terraform/environments/<env>/settings.json``.

Terraform reads the same file (``jsondecode(file(...))``), so a value such as a service's
minimum instances or the canary steps is written once. This module validates what the
delivery library needs and ignores the keys only Terraform uses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ._errors import ConfigError

__all__ = [
    "ENVIRONMENTS",
    "SERVICE_ORDER",
    "EnvironmentSettings",
    "HealthCheck",
    "RolloutPolicy",
    "ServiceSettings",
    "default_settings_dir",
    "load_settings",
]

ENVIRONMENTS = ("dev", "staging", "prod")
"""The environments a release can go to, in promotion order."""

SERVICE_ORDER = ("ml-service", "api-gateway")
"""Known services; the rollout order comes from each service's ``depends_on``."""

Strategy = Literal["canary", "blue-green"]
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


@dataclass(frozen=True, kw_only=True)
class HealthCheck:
    """One HTTP check against a service: ``GET path`` must answer ``expected_status``."""

    service: str
    path: str
    expected_status: int = 200
    timeout_seconds: float = 5.0


@dataclass(frozen=True, kw_only=True)
class RolloutPolicy:
    """How a release moves traffic and how health is analysed at each step."""

    strategy: Strategy
    steps: tuple[int, ...]
    analysis_interval_seconds: float
    probes_per_step: int
    failure_threshold: int
    ready_timeout_seconds: float
    require_approval: bool

    @property
    def lease_seconds(self) -> float:
        """How long a rollout may go without writing to the service before it counts as abandoned."""
        return (
            self.ready_timeout_seconds
            + 2 * self.probes_per_step * self.analysis_interval_seconds
            + 60
        )


@dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """A Cloud Run service of the backend, as the delivery library sees it."""

    key: str
    name: str
    depends_on: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class EnvironmentSettings:
    """Everything the delivery library reads from one environment's settings file."""

    environment: str
    project_id: str
    region: str
    services: Mapping[str, ServiceSettings]
    rollout: RolloutPolicy
    health_checks: tuple[HealthCheck, ...]
    artifact_repository: str

    def rollout_order(self) -> tuple[str, ...]:
        """Service keys in dependency order (a service after everything it depends on)."""
        ordered: list[str] = []
        visiting: set[str] = set()

        def visit(key: str) -> None:
            if key in ordered:
                return
            if key in visiting:
                msg = f"settings for {self.environment}: services depend on each other in a cycle at {key!r}"
                raise ConfigError(msg)
            visiting.add(key)
            for dep in self.services[key].depends_on:
                visit(dep)
            visiting.discard(key)
            ordered.append(key)

        for key in sorted(self.services, key=_known_first):
            visit(key)
        return tuple(ordered)

    def checks_for(self, service: str) -> tuple[HealthCheck, ...]:
        """The health checks that target ``service``."""
        return tuple(c for c in self.health_checks if c.service == service)

    def service(self, key: str) -> ServiceSettings:
        """Look up a service by key with an error that lists the known ones."""
        try:
            return self.services[key]
        except KeyError:
            known = ", ".join(self.services)
            msg = f"unknown service {key!r} in {self.environment}: known services are {known}"
            raise ConfigError(msg) from None

    def image_for(self, service: str, version: str) -> str:
        """The Artifact Registry reference a release of ``service`` is published under."""
        return (
            f"{self.region}-docker.pkg.dev/{self.project_id}/{self.artifact_repository}/"
            f"{service}:{version}"
        )


def _known_first(key: str) -> tuple[int, str]:
    return (SERVICE_ORDER.index(key) if key in SERVICE_ORDER else len(SERVICE_ORDER), key)


def default_settings_dir() -> Path:
    """``terraform/environments`` of the checkout we run from (or of the working directory)."""
    for base in (Path.cwd(), *Path(__file__).resolve().parents):
        candidate = base / "terraform" / "environments"
        if candidate.is_dir():
            return candidate
    return Path.cwd() / "terraform" / "environments"


def load_settings(environment: str, settings_dir: Path | None = None) -> EnvironmentSettings:
    """Read and validate ``<settings_dir>/<environment>/settings.json``."""
    if environment not in ENVIRONMENTS:
        msg = f"unknown environment {environment!r}: choose one of {', '.join(ENVIRONMENTS)}"
        raise ConfigError(msg)
    directory = settings_dir if settings_dir is not None else default_settings_dir()
    path = directory / environment / "settings.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        msg = f"no settings for {environment}: {path} does not exist (pass --settings-dir)"
        raise ConfigError(msg) from None
    except json.JSONDecodeError as exc:
        msg = f"{path} is not valid JSON: {exc}"
        raise ConfigError(msg) from None
    return _parse(raw, environment, path)


def _parse(raw: Any, environment: str, path: Path) -> EnvironmentSettings:  # noqa: ANN401 - JSON
    where = str(path)
    data = _mapping(raw, where)
    if data.get("environment") != environment:
        msg = f"{where}: 'environment' is {data.get('environment')!r}, expected {environment!r}"
        raise ConfigError(msg)
    project_id = _str(data, "project_id", where)
    if not _PROJECT.match(project_id):
        msg = f"{where}: project_id {project_id!r} is not a valid Google Cloud project id"
        raise ConfigError(msg)
    region = _str(data, "region", where)
    if not _REGION.match(region):
        msg = f"{where}: region {region!r} is not a Cloud Run region such as us-central1"
        raise ConfigError(msg)
    services_raw = _mapping(data.get("services"), f"{where}: services")
    services = {
        key: ServiceSettings(
            key=key,
            name=_str(
                _mapping(value, f"{where}: services.{key}"), "name", f"{where}: services.{key}"
            ),
            depends_on=tuple(_mapping(value, where).get("depends_on", ())),
        )
        for key, value in services_raw.items()
    }
    for svc in services.values():
        for dep in svc.depends_on:
            if dep not in services:
                msg = f"{where}: service {svc.key!r} depends on unknown service {dep!r}"
                raise ConfigError(msg)
    rollout = _rollout(_mapping(data.get("rollout"), f"{where}: rollout"), f"{where}: rollout")
    checks = tuple(
        _check(c, f"{where}: health_checks", services) for c in data.get("health_checks", [])
    )
    registry = _mapping(data.get("artifact_registry", {"repository": "clarity"}), where)
    settings = EnvironmentSettings(
        environment=environment,
        project_id=project_id,
        region=region,
        services=services,
        rollout=rollout,
        health_checks=checks,
        artifact_repository=_str(registry, "repository", f"{where}: artifact_registry"),
    )
    settings.rollout_order()  # rejects cycles now rather than mid-rollout
    return settings


def _rollout(data: Mapping[str, Any], where: str) -> RolloutPolicy:
    strategy = data.get("strategy")
    if strategy not in ("canary", "blue-green"):
        msg = f"{where}: strategy must be 'canary' or 'blue-green', not {strategy!r}"
        raise ConfigError(msg)
    steps = tuple(data.get("steps", (100,)))
    if (
        not steps
        or not all(isinstance(s, int) and 0 < s <= 100 for s in steps)
        or list(steps) != sorted(set(steps))
        or steps[-1] != 100
    ):
        msg = f"{where}: steps must be increasing percentages ending at 100, not {list(steps)}"
        raise ConfigError(msg)
    policy = RolloutPolicy(
        strategy=strategy,
        steps=steps if strategy == "canary" else (100,),
        analysis_interval_seconds=float(data.get("analysis_interval_seconds", 30)),
        probes_per_step=int(data.get("probes_per_step", 3)),
        failure_threshold=int(data.get("failure_threshold", 2)),
        ready_timeout_seconds=float(data.get("ready_timeout_seconds", 300)),
        require_approval=bool(data.get("require_approval", False)),
    )
    if policy.probes_per_step < 1 or not 1 <= policy.failure_threshold <= policy.probes_per_step:
        msg = f"{where}: need probes_per_step >= 1 and 1 <= failure_threshold <= probes_per_step"
        raise ConfigError(msg)
    if policy.analysis_interval_seconds < 0 or policy.ready_timeout_seconds <= 0:
        msg = f"{where}: analysis_interval_seconds must be >= 0 and ready_timeout_seconds > 0"
        raise ConfigError(msg)
    return policy


def _check(raw: Any, where: str, services: Mapping[str, ServiceSettings]) -> HealthCheck:  # noqa: ANN401
    data = _mapping(raw, where)
    check = HealthCheck(
        service=_str(data, "service", where),
        path=_str(data, "path", where),
        expected_status=int(data.get("expected_status", 200)),
        timeout_seconds=float(data.get("timeout_seconds", 5)),
    )
    if check.service not in services:
        msg = f"{where}: health check {check.path!r} targets unknown service {check.service!r}"
        raise ConfigError(msg)
    if not check.path.startswith("/"):
        msg = f"{where}: health check path {check.path!r} must start with '/'"
        raise ConfigError(msg)
    return check


def _mapping(value: Any, where: str) -> Mapping[str, Any]:  # noqa: ANN401
    if not isinstance(value, Mapping):
        msg = f"{where}: expected an object"
        raise ConfigError(msg)
    return value


def _str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        msg = f"{where}: '{key}' must be a non-empty string"
        raise ConfigError(msg)
    return value
