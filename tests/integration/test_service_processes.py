"""The services as the platform runs them: ``python -m uvicorn <service>.main:app``.

These are the contracts the delivery library and the Cloud Run double rely on: the processes
start without any emulator or credential, ``/health`` reports version and revision, and the
CLARITY_FAULT flag breaks them in exactly the advertised ways.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from tests.support.emulators import EmulatedProject
from tests.support.processes import ManagedProcess, free_port, wait_for_http

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
APPS = {"api-gateway": "api_gateway.main:app", "ml-service": "ml_service.main:app"}
MODULES = {"api-gateway": "api_gateway", "ml-service": "ml_service"}


def _environment(tmp_path: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """A minimal environment: no emulator, no credentials, nothing from the developer's shell."""
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT / "src"),
        "HOME": str(tmp_path),
        "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
        "NO_GCE_CHECK": "true",
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "GCE_METADATA_IP": "127.0.0.1:9",
    }
    env.update(extra)
    return env


class Service:
    """One service process on a free port."""

    def __init__(
        self, service: str, tmp_path: Path, env: Mapping[str, str], *, entry_point: bool = False
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if entry_point:  # python -m <package>, configured by HOST and PORT like on Cloud Run
            argv = [sys.executable, "-m", MODULES[service]]
            env = {"HOST": "127.0.0.1", "PORT": str(self.port), **env}
        else:
            argv = [
                sys.executable,
                "-m",
                "uvicorn",
                APPS[service],
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ]
        self.process = ManagedProcess(
            argv,
            env=_environment(tmp_path, env),
            log_path=tmp_path / f"{service}-{self.port}.log",
            cwd=tmp_path,
        )

    def start(self) -> Service:
        self.process.start()
        return self

    def wait_ready(self) -> Service:
        try:
            wait_for_http(f"{self.url}/health", timeout=30)
        except TimeoutError as exc:
            msg = f"{self.url} never answered; log:\n{self.process.log_tail()}"
            raise AssertionError(msg) from exc
        return self

    def wait_exit(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                return code
            time.sleep(0.05)
        msg = f"still running after {timeout}s; log:\n{self.process.log_tail()}"
        raise AssertionError(msg)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[list[Service]]:
    started: list[Service] = []
    yield started
    for service in started:
        service.process.stop()


def _run(services: list[Service], tmp_path: Path, service: str, **env: str) -> Service:
    process = Service(service, tmp_path, env).start()
    services.append(process)
    return process


def _run_module(services: list[Service], tmp_path: Path, service: str, **env: str) -> Service:
    process = Service(service, tmp_path, env, entry_point=True).start()
    services.append(process)
    return process


@pytest.mark.parametrize("service", sorted(APPS))
def test_starts_without_emulators_and_reports_its_revision(
    services: list[Service], tmp_path: Path, service: str
) -> None:
    running = _run(
        services, tmp_path, service, CLARITY_VERSION="1.2.3", K_REVISION=f"{service}-00004-xyz"
    ).wait_ready()
    response = httpx.get(f"{running.url}/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "service": service,
        "version": "1.2.3",
        "revision": f"{service}-00004-xyz",
    }


@pytest.mark.parametrize("service", sorted(APPS))
def test_module_entry_point_listens_on_port(
    services: list[Service], tmp_path: Path, service: str
) -> None:
    running = _run_module(services, tmp_path, service, K_REVISION="r7").wait_ready()
    response = httpx.get(f"{running.url}/health")
    assert response.json()["revision"] == "r7"
    assert "server" not in response.headers, "the entry point names no server software"


@pytest.mark.parametrize("service", sorted(APPS))
def test_entry_point_refuses_an_invalid_port(
    services: list[Service], tmp_path: Path, service: str
) -> None:
    refused = _run_module(services, tmp_path, service, PORT="http")
    assert refused.wait_exit() != 0
    assert (
        f"{service}: refusing to start, invalid configuration:\n  PORT: "
        in refused.process.log_tail(50)
    )


@pytest.mark.parametrize("service", sorted(APPS))
def test_crash_on_start_exits_non_zero_before_serving(
    services: list[Service], tmp_path: Path, service: str
) -> None:
    crashing = _run(services, tmp_path, service, CLARITY_FAULT="crash-on-start")
    code = crashing.wait_exit()
    assert code != 0
    assert (
        "CLARITY_FAULT=crash-on-start, refusing to start on purpose"
        in crashing.process.log_tail(200)
    )
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{crashing.url}/health")


@pytest.mark.parametrize("service", sorted(APPS))
def test_invalid_fault_refuses_to_start_with_a_clear_message(
    services: list[Service], tmp_path: Path, service: str
) -> None:
    refused = _run(services, tmp_path, service, CLARITY_FAULT="health-500-after=soon")
    assert refused.wait_exit() != 0
    log = refused.process.log_tail(200)
    assert f"{service}: refusing to start, invalid configuration:" in log
    assert "CLARITY_FAULT='health-500-after=soon' is not a known fault" in log
    assert "Traceback" not in log


@pytest.mark.parametrize("service", sorted(APPS))
def test_health_500_after_counts_per_process(
    services: list[Service], tmp_path: Path, service: str
) -> None:
    process = _run(services, tmp_path, service, CLARITY_FAULT="health-500-after=2")
    # Readiness polling would consume the healthy answers, so wait for the port instead.
    deadline = time.monotonic() + 30
    statuses: list[int] = []
    while time.monotonic() < deadline and not statuses:
        try:
            statuses.append(httpx.get(f"{process.url}/health").status_code)
        except httpx.ConnectError:
            time.sleep(0.05)
    statuses += [httpx.get(f"{process.url}/health").status_code for _ in range(3)]
    assert statuses == [200, 200, 500, 500]
    assert httpx.get(f"{process.url}/health").json()["status"] == "failing"


def test_gateway_process_reaches_firestore_and_the_ml_process(
    services: list[Service], tmp_path: Path, gcp_project: EmulatedProject
) -> None:
    ml = _run(services, tmp_path, "ml-service", **gcp_project.env(), K_REVISION="ml-00009")
    gateway = _run(services, tmp_path, "api-gateway", **gcp_project.env(), ML_SERVICE_URL=ml.url)
    ml.wait_ready()
    gateway.wait_ready()

    database = httpx.get(f"{gateway.url}/health/database")
    proxied = httpx.get(f"{gateway.url}/ml/health")

    assert database.status_code == 200, database.text
    assert database.json()["project"] == gcp_project.project
    assert proxied.status_code == 200
    assert proxied.json()["ml_service"]["revision"] == "ml-00009"

    ml.process.stop()
    down = httpx.get(f"{gateway.url}/ml/health")
    assert down.status_code == 503
    assert down.json()["status"] == "unavailable"


def test_gateway_process_without_firestore_answers_503(
    services: list[Service], tmp_path: Path
) -> None:
    gateway = _run(services, tmp_path, "api-gateway").wait_ready()
    response = httpx.get(f"{gateway.url}/health/database", timeout=10)
    assert response.status_code == 503
    assert response.json()["reason"].startswith(
        "cannot create a Firestore client: DefaultCredentialsError"
    )
