"""A test world for the delivery library: the Cloud Run double with real revision processes,
credentials whose token endpoint is local, the emulators behind the backend, and both services
created the way Terraform creates them. Used by the end-to-end tests and by ``make bench``.

The double's operations take :data:`OPERATION_SECONDS` here unless a test says why it needs
them faster: Cloud Run's own take seconds, and what happens while one is in flight (a poll
that fails, a retry meeting the running operation, a lease running out) is what these tests
are for."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clarity_delivery.cli import main
from google.cloud import run_v2
from google.oauth2 import service_account

from tests.doubles.cloud_run import CloudRunDouble, ImageCommand, default_image_command
from tests.doubles.oauth import TokenEndpoint
from tests.doubles_tests.helpers import FAST_POLL
from tests.support.emulators import Emulators

REPO = Path(__file__).resolve().parents[2]
PROJECT = "clarity-e2e"
REGION = "us-central1"
BASE_VERSION = "0.9.0"
SERVICES = {"ml-service": "clarity-ml-service", "api-gateway": "clarity-api-gateway"}
OPERATION_SECONDS = 1.0
"""How long the double's operations take: a traffic update on Cloud Run takes seconds."""


def write_settings(
    directory: Path, rollout: Mapping[str, object] | None = None, *, env: str = "dev"
) -> Path:
    """A settings file for ``env`` like the real one, with test-speed analysis timings."""
    data = json.loads((REPO / "terraform" / "environments" / env / "settings.json").read_text())
    data["project_id"] = PROJECT
    data["region"] = REGION
    data["rollout"].update(
        {
            "strategy": "canary",
            "steps": [25, 50, 100],
            "analysis_interval_seconds": 0.2,
            "probes_per_step": 3,
            "failure_threshold": 2,
            "ready_timeout_seconds": 30,
            "require_approval": False,
            # The stage runs local/... images, which only an explicit override may deploy.
            "allow_image_override": True,
        }
    )
    data["rollout"].update(rollout or {})
    (directory / env).mkdir(parents=True, exist_ok=True)
    (directory / env / "settings.json").write_text(json.dumps(data, indent=2))
    return directory


@dataclass
class Stage:
    """One test's world: a Cloud Run project (the double) with both services deployed at 0.9.0."""

    double: CloudRunDouble
    credentials: Path
    settings_dir: Path
    ledger: Path
    faults: dict[str, str]
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)

    def image(self, service: str, version: str, fault: str | None = None) -> str:
        """An image reference; ``fault`` makes revisions of it run with that CLARITY_FAULT."""
        ref = f"local/{service}:{version}" + (f"-{fault.replace('=', '-')}" if fault else "")
        if fault:
            self.faults[ref] = fault
        return ref

    def base_args(self) -> list[str]:
        return [
            "--settings-dir",
            str(self.settings_dir),
            "--credentials",
            str(self.credentials),
            "--api-endpoint",
            self.double.endpoint,
            "--ledger",
            str(self.ledger),
            "--output",
            "json",
        ]

    def cli(self, *argv: str) -> int:
        """Run ``clarity-deploy`` in this process (the real CLI code path)."""
        return main([*argv, *self.base_args()])

    def deploy(
        self, version: str, *, faults: dict[str, str] | None = None, extra: tuple[str, ...] = ()
    ) -> int:
        images = [
            f"--image={svc}={self.image(svc, version, (faults or {}).get(svc))}" for svc in SERVICES
        ]
        return self.cli("deploy", *self.deploy_args(version, images), *extra)

    def deploy_args(self, version: str, images: list[str]) -> list[str]:
        """``deploy`` of ``version`` (commit c0ffee1) with these ``--image=`` arguments."""
        return [
            "--env",
            "dev",
            "--version",
            version,
            "--commit",
            "c0ffee1",
            "--allow-image-override",
            *images,
        ]

    def subprocess_argv(self, *argv: str) -> list[str]:
        return [sys.executable, "-m", "clarity_delivery", *argv, *self.base_args()]

    def subprocess_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(REPO / "ci" / "src"), str(REPO / "src")]),
        }

    def traffic(self, service: str) -> dict[str, int]:
        return self.double.traffic(SERVICES[service])

    def service(self, service: str) -> run_v2.Service:
        return self.double.service(SERVICES[service])

    def records(self) -> list[dict[str, Any]]:
        return (
            [json.loads(line) for line in self.ledger.read_text().splitlines()]
            if self.ledger.exists()
            else []
        )


@contextlib.contextmanager
def open_stage(
    workdir: Path,
    token_endpoint: TokenEndpoint,
    emulators: Emulators | None,
    *,
    operation_delay: float = OPERATION_SECONDS,
    run_image: ImageCommand = default_image_command,
    **rollout: object,
) -> Iterator[Stage]:
    """Both services running 0.9.0 on a fresh double; everything stopped on exit.

    ``emulators`` may be None when ``run_image`` runs something that needs no backend (the
    fixture app); ``rollout`` overrides keys of the settings' ``rollout`` section.
    """
    faults: dict[str, str] = {}

    def image_command(image: str, port: int) -> list[str]:
        argv = run_image(image, port)
        fault = faults.get(image)
        return ["env", f"CLARITY_FAULT={fault}", *argv] if fault else argv

    project = emulators.for_project(PROJECT) if emulators is not None else None
    double = CloudRunDouble(
        workdir / "double",
        operation_delay=operation_delay,
        ready_timeout=30,
        image_command=image_command,
        platform_env=project.env() if project is not None else {},
        require_auth=False,
    )
    double.start()
    try:
        creds = token_endpoint.write_credentials(workdir / "deployer.json")
        stage = Stage(
            double=double,
            credentials=creds,
            settings_dir=write_settings(workdir / "settings", rollout),
            ledger=workdir / "ledger" / "deployments.jsonl",
            faults=faults,
            workdir=workdir,
        )
        _create_services(stage, service_account.Credentials.from_service_account_file(str(creds)))
        yield stage
    finally:
        double.stop()
        if project is not None:
            project.cleanup()


def _create_services(stage: Stage, credentials: service_account.Credentials) -> None:
    client = run_v2.ServicesClient(
        transport="rest",
        credentials=credentials,
        client_options={"api_endpoint": stage.double.endpoint},
    )
    latest = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
    ml_url = ""
    for key, name in SERVICES.items():
        env = [run_v2.EnvVar(name="CLARITY_VERSION", value=BASE_VERSION)]
        if key == "api-gateway":
            env.append(run_v2.EnvVar(name="ML_SERVICE_URL", value=ml_url))
        service = run_v2.Service(
            template=run_v2.RevisionTemplate(
                containers=[run_v2.Container(image=stage.image(key, BASE_VERSION), env=env)],
                annotations={"clarity.dev/version": BASE_VERSION},
            ),
            traffic=[run_v2.TrafficTarget(type_=latest, percent=100)],
        )
        created = client.create_service(
            parent=f"projects/{PROJECT}/locations/{REGION}", service=service, service_id=name
        ).result(timeout=60, polling=FAST_POLL)
        if key == "ml-service":
            ml_url = created.uri
