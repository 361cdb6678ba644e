"""A test world for the delivery library: the Cloud Run double with real revision processes,
Google's token endpoints on localhost enforcing what Terraform grants, the emulators behind
the backend, and both services created the way Terraform creates them. Used by the
end-to-end tests and by ``make bench``; :func:`open_fixture_stage` is the same world with the
double's fixture app as every revision and no emulators (for the library's decisions).

Identities are CI's: ``clarity-deploy`` runs as the deployer through workload identity
federation (the credentials file google-github-actions/auth writes, a GitHub token for the
apply ref exchanged at STS, then impersonation), and the services are created and changed as
``clarity-terraform-apply`` with its key. IAM on the Admin API, the token endpoints and the
service URLs is exactly what ``terraform/environments/dev`` grants
(:mod:`tests.support.terraform_env`); ID tokens are verified at every service and tag URL.

The double's operations take :data:`OPERATION_SECONDS` here unless a test says why it needs
them faster: Cloud Run's own take seconds, and what happens while one is in flight (a poll
that fails, a retry meeting the running operation, a lease running out) is what these tests
are for.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from clarity_delivery.cli import main
from google.cloud import run_v2
from google.oauth2 import service_account

from tests.doubles.cloud_run import CloudRunDouble, default_image_command, fixture_app_command
from tests.doubles.oauth import TokenEndpoint
from tests.doubles_tests.helpers import FAST_POLL
from tests.support.emulators import Emulators
from tests.support.terraform_env import TerraformEnvironment, evaluate

REPO = Path(__file__).resolve().parents[2]
PROJECT = "clarity-e2e"
REGION = "us-central1"
BASE_VERSION = "0.9.0"
SERVICES = {"ml-service": "clarity-ml-service", "api-gateway": "clarity-api-gateway"}
DEPLOYER = "clarity-deployer"
TERRAFORM_APPLY = "clarity-terraform-apply"
IAM_ENDPOINT_ENV = "CLARITY_IAM_CREDENTIALS_ENDPOINT"
OPERATION_SECONDS = 1.0
"""How long the double's operations take: a traffic update on Cloud Run takes seconds."""
QUICK_OPERATION_SECONDS = 0.05
"""Operations for tests whose subject is not what happens while one runs (see ``quick_stage``)."""
_CLOUD_PLATFORM = ["https://www.googleapis.com/auth/cloud-platform"]


def events(out: str) -> list[dict[str, Any]]:
    """The JSON progress events of a CLI run's stdout (its closing summary lines are text)."""
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def kinds(out: str) -> list[str]:
    """The kinds of a run's events, retries left out (a slow machine may cause one)."""
    return [e["kind"] for e in events(out) if e["kind"] != "retry"]


@functools.cache
def terraform_dev() -> TerraformEnvironment:
    """What ``terraform/environments/dev`` grants and declares, in the tests' project."""
    return evaluate("dev", project=PROJECT, region=REGION)


def write_settings(
    directory: Path,
    rollout: Mapping[str, object] | None = None,
    *,
    env: str = "dev",
    transactions: bool = True,
) -> Path:
    """A settings file for ``env`` like the real one, with test-speed analysis timings.

    ``transactions=False`` declares no business transaction: the fixture app serves the
    revision contract (health, the answering revision), not the backend's transactions.
    """
    data = json.loads((REPO / "terraform" / "environments" / env / "settings.json").read_text())
    if not transactions:
        data["transaction_checks"] = []
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
        }
    )
    if env == "dev":
        # The stage runs local/... images, which only dev's explicit override may deploy;
        # staging and prod (the settings parser refuses the override there) get digests in
        # their own repository.
        data["rollout"]["allow_image_override"] = True
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
    identity: TokenEndpoint
    terraform: TerraformEnvironment
    terraform_credentials: Path
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
            "--monitoring-endpoint",
            self.double.monitoring_endpoint,
            "--logging-endpoint",
            self.double.logging_endpoint,
            "--ledger",
            str(self.ledger),
            "--output",
            "json",
        ]

    def cli(self, *argv: str, output: str = "json") -> int:
        """Run ``clarity-deploy`` in this process (the real CLI code path); ``output`` is its
        ``--output`` (JSON lines, which tests read, unless a test is about the text)."""
        args = self.base_args()
        args[args.index("--output") + 1] = output
        with self.environment():
            return main([*argv, *args])

    def environment(self) -> contextlib.AbstractContextManager[None]:
        """:attr:`env` in ``os.environ`` for a ``with`` block: what an in-process CLI run of
        this stage needs (where IAM Credentials is)."""
        return _environment(self.env)

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
            **self.env,
            "PYTHONPATH": os.pathsep.join([str(REPO / "ci" / "src"), str(REPO / "src")]),
        }

    def traffic(self, service: str) -> dict[str, int]:
        return self.double.traffic(SERVICES[service])

    def service(self, service: str) -> run_v2.Service:
        return self.double.service(SERVICES[service])

    def bearer(self, service: str) -> dict[str, str]:
        """An ``Authorization`` header with an ID token of the deployer (an invoker of both
        services in Terraform) for the service's audience, as a caller of its URLs needs."""
        svc = self.service(service)
        audience = (list(svc.custom_audiences) or [str(svc.uri)])[0]
        token = self.identity.authority.mint_id_token(self.terraform.account(DEPLOYER), audience)
        return {"Authorization": f"Bearer {token}"}

    def get(self, service: str, path: str, *, url: str | None = None) -> httpx.Response:
        """GET ``path`` on the service's URL (or ``url``) with an ID token of the deployer."""
        svc = self.service(service)
        return httpx.get((url or str(svc.uri)) + path, headers=self.bearer(service), timeout=5)

    def terraform_client(self) -> run_v2.ServicesClient:
        """An Admin API client acting as Terraform (``clarity-terraform-apply``'s key)."""
        credentials = service_account.Credentials.from_service_account_file(
            str(self.terraform_credentials), scopes=_CLOUD_PLATFORM
        )
        return run_v2.ServicesClient(
            transport="rest",
            credentials=credentials,
            client_options={"api_endpoint": self.double.endpoint},
        )

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
    metrics_delay: float = 0.0,
    base_faults: Mapping[str, str] | None = None,
    terraform: TerraformEnvironment | None = None,
    fixture_app: bool = False,
    **rollout: object,
) -> Iterator[Stage]:
    """Both services running 0.9.0 on a fresh double; everything stopped on exit.

    ``operation_delay`` is how long the double's operations take (:data:`OPERATION_SECONDS`
    unless a test says why it needs them faster). ``metrics_delay`` is the Monitoring double's
    ingestion delay; ``base_faults`` makes the 0.9.0 revisions of those services run with a
    ``CLARITY_FAULT`` (a slow stable revision). ``terraform`` replaces what
    ``terraform/environments/dev`` grants and declares (a test that removes a grant); the token
    endpoint enforces it from here on. ``fixture_app`` runs the small contract app for every
    image instead of the backend, where the backend is not what a test is about; with it,
    ``emulators`` may be None (nothing behind the revisions). ``rollout`` overrides keys of the
    settings' ``rollout`` section.
    """
    if emulators is None and not fixture_app:
        msg = "the backend's revisions need the emulators: pass them, or fixture_app=True"
        raise ValueError(msg)
    faults: dict[str, str] = {}
    terraform = terraform or terraform_dev()

    def image_command(image: str, port: int) -> list[str]:
        argv = (fixture_app_command if fixture_app else default_image_command)(image, port)
        fault = faults.get(image)
        return ["env", f"CLARITY_FAULT={fault}", *argv] if fault else argv

    token_endpoint.policy = terraform.policy
    if terraform.provider.audience not in {p.audience for p in token_endpoint.providers}:
        token_endpoint.add_provider(terraform.provider)
    project = emulators.for_project(PROJECT) if emulators is not None else None
    if project is not None:
        # What Terraform creates beside the services: the gateway's ingestion publishes here
        # (the business transaction and the load ingest real batches).
        project.create_topic("healthkit-data-ingestion")
    double = CloudRunDouble(
        workdir / "double",
        operation_delay=operation_delay,
        ready_timeout=30,
        image_command=image_command,
        # Plain-http URLs: the gateway attaches its ID token only when told to (ml_client).
        platform_env={**(project.env() if project else {}), "ML_SERVICE_AUTH": "id-token"},
        require_auth=True,
        identity=token_endpoint,
        metrics_delay=metrics_delay,
    )
    double.start()
    try:
        stage = Stage(
            double=double,
            credentials=token_endpoint.write_workload_identity(
                workdir / "deployer.json",
                provider=terraform.provider,
                service_account=terraform.account(DEPLOYER),
                ref=terraform.apply_ref,
            ),
            settings_dir=write_settings(
                workdir / "settings", rollout, transactions=not fixture_app
            ),
            ledger=workdir / "ledger" / "deployments.jsonl",
            faults=faults,
            workdir=workdir,
            identity=token_endpoint,
            terraform=terraform,
            terraform_credentials=token_endpoint.write_credentials(
                workdir / "terraform-apply.json", terraform.account(TERRAFORM_APPLY)
            ),
            env={IAM_ENDPOINT_ENV: token_endpoint.url},
        )
        # Creating the 0.9.0 services is no test's subject: on quick operations, then the
        # stage's own delay for what the test does.
        double.operation_delay = min(operation_delay, QUICK_OPERATION_SECONDS)
        _create_services(stage, dict(base_faults or {}))
        double.operation_delay = operation_delay
        yield stage
    finally:
        double.stop()
        if project is not None:
            project.cleanup()


@contextlib.contextmanager
def open_fixture_stage(
    workdir: Path,
    token_endpoint: TokenEndpoint,
    *,
    operation_delay: float = OPERATION_SECONDS,
    **rollout: object,
) -> Iterator[Stage]:
    """:func:`open_stage` with the double's fixture app (the backend's revision contract:
    ``/health``, ``CLARITY_VERSION``, ``CLARITY_FAULT``) as every revision and no emulators:
    revisions up in tens of milliseconds, for tests about the library's decisions."""
    settings: dict[str, Any] = dict(rollout)  # rollout settings only, as open_stage takes them
    with open_stage(
        workdir,
        token_endpoint,
        None,
        operation_delay=operation_delay,
        fixture_app=True,
        **settings,
    ) as stage:
        yield stage


def _create_services(stage: Stage, base_faults: Mapping[str, str]) -> None:
    """Create both services as Terraform does, running 0.9.0 (as if released once).

    ``base_faults`` makes those 0.9.0 revisions run with a ``CLARITY_FAULT``."""
    client = stage.terraform_client()
    latest = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
    ml_url = ""
    for key, name in SERVICES.items():
        declared = stage.terraform.services[key].with_ml_service_uri(ml_url)
        env = [run_v2.EnvVar(name="CLARITY_VERSION", value=BASE_VERSION)]
        if key == "api-gateway":
            env.append(run_v2.EnvVar(name="ML_SERVICE_URL", value=ml_url))
        template = run_v2.RevisionTemplate.from_json(json.dumps(declared.template))
        template.containers = [
            run_v2.Container(image=stage.image(key, BASE_VERSION, base_faults.get(key)), env=env)
        ]
        template.annotations = {"clarity.dev/version": BASE_VERSION}
        service = run_v2.Service.from_json(json.dumps(declared.fields))
        service.template = template
        service.traffic = [run_v2.TrafficTarget(type_=latest, percent=100)]
        created = client.create_service(
            parent=f"projects/{PROJECT}/locations/{REGION}", service=service, service_id=name
        ).result(timeout=60, polling=FAST_POLL)
        if key == "ml-service":
            ml_url = created.uri


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in os.environ for the duration (the CLI reads its endpoints from there)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
