"""The backend's data flow on this machine: both services as processes, wired by the emulator.

What ``docker compose up`` runs, without containers: the API gateway and the ML service as
real uvicorn processes on the Firestore and Pub/Sub emulators, and the topology created by
the same script compose runs (docker/pubsub/create_topology.py), with the emulator pushing
``healthkit-data-ingestion`` to the local ML service and the ingestion dead letters to the
local gateway.

Delivery is made fast on purpose (:data:`FAST_DELIVERY`): the shortest ack deadline and the
fewest delivery attempts Pub/Sub accepts, and no backoff beyond the emulator's own (it retries
a failed push about every 3 s), so a message that cannot be delivered is dead-lettered in
about 13 s instead of minutes. Each service can be stopped and started again on its port, to
take it down while messages arrive.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.emulators import EmulatedProject, Emulators
from tests.support.processes import ManagedProcess, free_port, wait_for_http

__all__ = [
    "FAST_DELIVERY",
    "REPO_ROOT",
    "LocalStack",
    "create_topology",
    "delete_topology",
    "local_stack",
    "service_environment",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY_SCRIPT = REPO_ROOT / "docker" / "pubsub" / "create_topology.py"
APPS = {"api-gateway": "api_gateway.main:app", "ml-service": "ml_service.main:app"}

FAST_DELIVERY: Mapping[str, str] = {
    "PUBSUB_ACK_DEADLINE_SECONDS": "10",
    "PUBSUB_MAX_DELIVERY_ATTEMPTS": "5",
    "PUBSUB_MINIMUM_BACKOFF_SECONDS": "0",
    "PUBSUB_MAXIMUM_BACKOFF_SECONDS": "1",
}
"""The topology's delivery timings in the tests (see the module docstring)."""


def service_environment(project: EmulatedProject, home: Path) -> dict[str, str]:
    """A service's environment: the emulators, nothing from the developer's shell."""
    return {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPO_ROOT / "src"),
        "HOME": str(home),
        "NO_GCE_CHECK": "true",
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "GCE_METADATA_IP": "127.0.0.1:9",
        **project.env(),
    }


@dataclass
class LocalStack:
    """The running stack: its emulator project, the services' URLs, and their processes."""

    project: EmulatedProject
    logs: Path
    env: dict[str, str]
    ports: dict[str, int]
    _processes: dict[str, ManagedProcess] = field(default_factory=dict, repr=False)

    def url(self, service: str) -> str:
        """``http://127.0.0.1:<port>`` of ``service``."""
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def gateway_url(self) -> str:
        """The API gateway's base URL."""
        return self.url("api-gateway")

    def start(self, service: str) -> None:
        """Start ``service`` on its port and wait until ``/health`` answers."""
        port = self.ports[service]
        env = dict(self.env)
        if service == "api-gateway":
            env["ML_SERVICE_URL"] = self.url("ml-service")
        process = ManagedProcess(
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
            log_path=self.logs / f"{service}.log",
            cwd=self.logs,
        )
        self._processes[service] = process.start()
        try:
            wait_for_http(f"{self.url(service)}/health", timeout=60)
        except TimeoutError as exc:
            msg = f"{service} never answered; log:\n{process.log_tail()}"
            raise AssertionError(msg) from exc

    def stop(self, service: str) -> None:
        """Stop ``service`` (its whole process group); its port then refuses connections."""
        process = self._processes.pop(service, None)
        if process is not None:
            process.stop()

    def stop_all(self) -> None:
        """Stop every service."""
        for service in list(self._processes):
            self.stop(service)

    def log_tail(self, service: str) -> str:
        """The end of ``service``'s log, for failure messages."""
        path = self.logs / f"{service}.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-40:]) if path.exists() else ""
        )


def create_topology(project: EmulatedProject, *, ml_service_url: str, gateway_url: str) -> None:
    """Run the compose one-shot's script on ``project``, pushing to the services at these URLs."""
    env = {
        "PATH": os.environ["PATH"],
        **project.env(),
        **FAST_DELIVERY,
        "ML_SERVICE_URL": ml_service_url,
        "API_GATEWAY_URL": gateway_url,
    }
    ran = subprocess.run(
        [sys.executable, str(TOPOLOGY_SCRIPT)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ran.returncode == 0, f"create_topology.py failed:\n{ran.stdout}{ran.stderr}"


@contextlib.contextmanager
def local_stack(emulators: Emulators, logs: Path) -> Iterator[LocalStack]:
    """Both services on a fresh emulator project with the push topology; stopped on exit."""
    project = emulators.for_project()
    stack = LocalStack(
        project=project,
        logs=logs,
        env=service_environment(project, logs),
        ports={"ml-service": free_port(), "api-gateway": free_port()},
    )
    try:
        create_topology(
            project, ml_service_url=stack.url("ml-service"), gateway_url=stack.gateway_url
        )
        stack.start("ml-service")
        stack.start("api-gateway")
        yield stack
    finally:
        stack.stop_all()
        delete_topology(project)


def delete_topology(project: EmulatedProject) -> None:
    """Remove every topic and subscription of ``project`` (the script's are not tracked by the
    project helper), then its documents."""
    base = f"http://{project.emulators.pubsub_host}/v1/projects/{project.project}"
    for kind in ("subscriptions", "topics"):
        listed = httpx.get(f"{base}/{kind}", timeout=10.0).json().get(kind, [])
        for item in listed:
            name = item if isinstance(item, str) else item.get("name", "")
            httpx.delete(f"http://{project.emulators.pubsub_host}/v1/{name}", timeout=10.0)
    project.cleanup()
