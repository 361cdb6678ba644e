"""The DAST tier: both services as real uvicorn processes on the real emulators.

Real processes rather than in-process ASGI: the body limits, content types and error
answers are then exercised through uvicorn's HTTP parsing and streaming, as in production,
and schemathesis speaks to them over a socket exactly as ``dagger call dast`` does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from api_gateway.ingestion import INGESTION_TOPIC
from ml_service.processing import INSIGHT_TOPIC
from tests.support.emulators import EmulatedProject, Emulators
from tests.support.processes import ManagedProcess, free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]
APPS = {"api-gateway": "api_gateway.main:app", "ml-service": "ml_service.main:app"}


def _serve(service: str, env: dict[str, str], logs: Path, started: list[ManagedProcess]) -> str:
    port = free_port()
    process = ManagedProcess(
        # The images' command, on a loopback port.
        [
            sys.executable,
            "-m",
            "uvicorn",
            APPS[service],
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-server-header",
        ],
        env=env,
        log_path=logs / f"{service}.log",
        cwd=logs,
    )
    started.append(process.start())
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", timeout=30)
    except TimeoutError as exc:
        msg = f"{service} never answered; log:\n{process.log_tail()}"
        raise AssertionError(msg) from exc
    return url


@pytest.fixture(scope="module")
def stack(
    emulators: Emulators, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """Both services on a fresh emulator project with its topics; service name -> base URL."""
    project: EmulatedProject = emulators.for_project()
    for topic in (INGESTION_TOPIC, INSIGHT_TOPIC):
        project.create_topic(topic)
    logs = tmp_path_factory.mktemp("dast")
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT / "src"),
        "HOME": str(logs),
        "NO_GCE_CHECK": "true",
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "GCE_METADATA_IP": "127.0.0.1:9",
        **project.env(),
    }
    started: list[ManagedProcess] = []
    try:
        ml_url = _serve("ml-service", env, logs, started)
        gateway_url = _serve("api-gateway", {**env, "ML_SERVICE_URL": ml_url}, logs, started)
        yield {"api-gateway": gateway_url, "ml-service": ml_url}
    finally:
        for process in started:
            process.stop()
        project.cleanup()
