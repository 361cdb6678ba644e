"""Per-environment settings: ``terraform/environments/<env>/settings.json``.

Terraform reads the same file (``jsondecode(file(...))``), so a value such as a service's
minimum instances or the canary steps is written once. :func:`parse_settings` is the one
parser of it outside Terraform: the delivery CLI reads the file with :func:`load_settings`, the
Dagger module passes the text of the source directory's copy. It validates every key that
either of them reads, and ignores the keys only Terraform uses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._analysis_settings import (
    HealthCheck,
    JourneyPolicy,
    LatencyLimits,
    MetricAnalysis,
    PerformanceGate,
    TransactionCheck,
    mapping,
    nonempty_str,
    parse_health_check,
    parse_journey,
    parse_metric_analysis,
    parse_performance_gate,
    parse_transaction,
)
from ._errors import ConfigError
from ._names import ROLLOUT_TAGS, check_name_fits, valid
from ._prune_settings import PrunePolicy, parse_prune

__all__ = [
    "ENVIRONMENTS",
    "ROLLOUT_TAGS",
    "SERVICE_ORDER",
    "EnvironmentSettings",
    "HealthCheck",
    "JourneyPolicy",
    "LatencyLimits",
    "MetricAnalysis",
    "PerformanceGate",
    "PrunePolicy",
    "RolloutPolicy",
    "ServiceSettings",
    "TransactionCheck",
    "check_environment",
    "check_region",
    "default_settings_dir",
    "load_settings",
    "parse_settings",
    "registry_host",
]

ENVIRONMENTS = ("dev", "staging", "prod")
"""The environments a release can go to, in promotion order."""

SERVICE_ORDER = ("ml-service", "api-gateway")
"""Known services; the rollout order comes from each service's ``depends_on``."""

Strategy = Literal["canary", "blue-green"]


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
    bake_seconds: float = 0.0
    """How much traffic at 100 % is analysed before the release counts as stable."""
    metrics: MetricAnalysis | None = None
    """Metric analysis of real traffic at each step with traffic; None: probes only."""
    performance: PerformanceGate | None = None
    """The load test of candidate against stable before traffic; None: no performance gate."""
    prune: PrunePolicy = field(default_factory=PrunePolicy)
    """Revision clean-up after each successful deploy, and how many revisions it keeps."""
    journey: JourneyPolicy = field(default_factory=JourneyPolicy)
    """The user's journey against the gateway's candidate before it takes traffic."""
    lease_seconds: float = 60.0
    """How long a rollout holds a service after its last renewal. Every wait of a rollout
    (the Ready wait, analysis rounds, the bake, the journey's polls) renews it once a quarter
    of it has gone by, so it does not grow with the analysis: a deployer that dies holds
    production for at most this long after its last renewal."""
    allow_image_override: bool = False
    """Whether ``deploy --allow-image-override`` may run an image that is not pinned by digest
    in the environment's repository (dev only)."""

    @property
    def creation_lease_seconds(self) -> float:
        """The lease written with the candidate: Cloud Run's operation that creates it lasts
        until the revision is Ready, and no renewal can be written meanwhile. The candidate
        serves no traffic yet, so the longer hold costs production nothing."""
        return self.ready_timeout_seconds + self.lease_seconds

    @property
    def worst_case_detection_seconds(self) -> float:
        """The longest from a fault's onset to the rollback decision (rounds' own time and the
        rollback write not included); README "Metric analysis" derives it."""
        rounds = self.failure_threshold * self.analysis_interval_seconds
        if self.metrics is None:
            return rounds
        return self.metrics.window_seconds + self.metrics.delay_seconds + rounds


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
    monitoring_enabled: bool
    transactions: tuple[TransactionCheck, ...] = ()
    """Business transactions per service, declared beside the health checks."""

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

    def transactions_for(self, service: str) -> tuple[TransactionCheck, ...]:
        """The business transactions that target ``service``."""
        return tuple(c for c in self.transactions if c.service == service)

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
        return f"{self.image_repository(service)}:{version}"

    def image_repository(self, service: str) -> str:
        """``{region}-docker.pkg.dev/{project}/{repository}/{service}``: where its images live."""
        return (
            f"{registry_host(self.region)}/{self.project_id}/{self.artifact_repository}/{service}"
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


def check_environment(environment: str) -> str:
    """Return ``environment`` if a release can go there, else ConfigError."""
    if environment not in ENVIRONMENTS:
        msg = f"unknown environment {environment!r}: choose one of {', '.join(ENVIRONMENTS)}"
        raise ConfigError(msg)
    return environment


def check_region(region: str) -> str:
    """Return ``region`` if it is a Google Cloud region name (``us-central1``), else ConfigError."""
    return valid("region", region)


def registry_host(region: str) -> str:
    """The Artifact Registry Docker host of ``region``."""
    return f"{check_region(region)}-docker.pkg.dev"


def load_settings(environment: str, settings_dir: Path | None = None) -> EnvironmentSettings:
    """Read and validate ``<settings_dir>/<environment>/settings.json``."""
    check_environment(environment)
    directory = settings_dir if settings_dir is not None else default_settings_dir()
    path = directory / environment / "settings.json"
    try:
        text = path.read_text()
    except FileNotFoundError:
        msg = f"no settings for {environment}: {path} does not exist (pass --settings-dir)"
        raise ConfigError(msg) from None
    return parse_settings(text, environment, where=str(path))


def parse_settings(text: str, environment: str, *, where: str) -> EnvironmentSettings:
    """Parse and validate settings.json text of ``environment``; ``where`` names it in errors.

    Every rule about the file is here, for everyone who reads it before Terraform does: the
    delivery CLI and the Dagger module.
    """
    check_environment(environment)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"{where} is not valid JSON: {exc}"
        raise ConfigError(msg) from None
    if not isinstance(raw, Mapping):
        msg = f"{where} must hold a JSON object"
        raise ConfigError(msg)
    declared = _required(raw, "environment", where)
    if declared != environment:
        msg = f"{where} declares environment {declared!r}, expected {environment!r}"
        raise ConfigError(msg)
    project_id = valid("project_id", _required(raw, "project_id", where), where)
    region = valid("region", _required(raw, "region", where), where)
    repository = _required(raw, "artifact_registry.repository", where)
    repository = valid("repository", repository, where)
    monitoring = _required(raw, "monitoring_enabled", where)
    if not isinstance(monitoring, bool):
        msg = f"{where}: monitoring_enabled must be true or false"
        raise ConfigError(msg)
    services = _services(_required(raw, "services", where), where)
    settings = EnvironmentSettings(
        environment=environment,
        project_id=project_id,
        region=region,
        services=services,
        rollout=_rollout(
            mapping(_required(raw, "rollout", where), f"{where}: rollout"), where, environment
        ),
        health_checks=tuple(
            parse_health_check(c, f"{where}: health_checks", services)
            for c in raw.get("health_checks", [])
        ),
        artifact_repository=repository,
        monitoring_enabled=monitoring,
        transactions=tuple(
            parse_transaction(c, f"{where}: transaction_checks", services)
            for c in raw.get("transaction_checks", [])
        ),
    )
    settings.rollout_order()  # rejects cycles now rather than mid-rollout
    return settings


def _services(raw: Any, where: str) -> dict[str, ServiceSettings]:  # noqa: ANN401 - JSON
    if not isinstance(raw, Mapping) or not raw:
        msg = f"{where}: 'services' must name at least one service"
        raise ConfigError(msg)
    for key in raw:
        valid("service name", key, where)
    for key, value in raw.items():
        name = value.get("name") if isinstance(value, Mapping) else None
        if isinstance(name, str) and name:
            check_name_fits(name, f"{where}: services.{key}.name")
    services = {
        key: ServiceSettings(
            key=key,
            name=nonempty_str(
                mapping(value, f"{where}: services.{key}"), "name", f"{where}: services.{key}"
            ),
            depends_on=tuple(value.get("depends_on", ())),
        )
        for key, value in raw.items()
    }
    for svc in services.values():
        for dep in svc.depends_on:
            if dep not in services:
                msg = f"{where}: service {svc.key!r} depends on unknown service {dep!r}"
                raise ConfigError(msg)
    return services


def _rollout(data: Mapping[str, Any], where: str, environment: str) -> RolloutPolicy:
    strategy = data.get("strategy")
    if strategy not in ("canary", "blue-green"):
        msg = f"{where}: rollout: strategy must be 'canary' or 'blue-green', not {strategy!r}"
        raise ConfigError(msg)
    steps = tuple(data.get("steps", (100,)))
    if (
        not steps
        or not all(isinstance(s, int) and 0 < s <= 100 for s in steps)
        or list(steps) != sorted(set(steps))
        or steps[-1] != 100
    ):
        msg = f"{where}: rollout: steps must be increasing percentages ending at 100, not {list(steps)}"
        raise ConfigError(msg)
    override = data.get("allow_image_override", False)
    if not isinstance(override, bool):
        msg = f"{where}: rollout: allow_image_override must be true or false"
        raise ConfigError(msg)
    policy = RolloutPolicy(
        strategy=strategy,
        steps=steps if strategy == "canary" else (100,),
        analysis_interval_seconds=float(data.get("analysis_interval_seconds", 30)),
        probes_per_step=int(data.get("probes_per_step", 3)),
        failure_threshold=int(data.get("failure_threshold", 2)),
        ready_timeout_seconds=float(data.get("ready_timeout_seconds", 300)),
        require_approval=bool(data.get("require_approval", False)),
        bake_seconds=float(data.get("bake_seconds", 0)),
        metrics=parse_metric_analysis(data.get("metric_analysis"), where),
        journey=parse_journey(data.get("journey", {}), where),
        lease_seconds=float(data.get("lease_seconds", 60)),
        allow_image_override=override,
        performance=parse_performance_gate(data.get("performance_gate"), where),
        prune=parse_prune(data.get("prune"), where),
    )
    if policy.bake_seconds < 0:
        msg = f"{where}: rollout: bake_seconds must be 0 or more"
        raise ConfigError(msg)
    if policy.lease_seconds <= 0:
        msg = f"{where}: rollout: lease_seconds must be > 0 (60 is a good value)"
        raise ConfigError(msg)
    if policy.allow_image_override and environment != "dev":
        msg = (
            f"{where}: rollout: allow_image_override may only be true for dev: {environment} "
            "runs only images pinned by digest in its own Artifact Registry repository"
        )
        raise ConfigError(msg)
    if policy.probes_per_step < 1 or not 1 <= policy.failure_threshold <= policy.probes_per_step:
        msg = f"{where}: rollout: need probes_per_step >= 1 and 1 <= failure_threshold <= probes_per_step"
        raise ConfigError(msg)
    if policy.analysis_interval_seconds < 0 or policy.ready_timeout_seconds <= 0:
        msg = f"{where}: rollout: analysis_interval_seconds must be >= 0 and ready_timeout_seconds > 0"
        raise ConfigError(msg)
    return policy


def _required(data: Mapping[str, Any], dotted: str, where: str) -> object:
    """The value at ``dotted`` (``a.b``) in ``data``; a missing one names the file and the key."""
    value: object = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            msg = f"{where} has no '{dotted}': add it"
            raise ConfigError(msg)
        value = value[part]
    return value
