"""Revision processes: one real local process per revision, started like a container.

Readiness mirrors Cloud Run's default startup probe: the revision is Ready once something
accepts TCP connections on its port. A process that exits first, or does not listen within
the timeout, fails the revision with a message in the words Cloud Run uses.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import ManagedProcess, free_port

__all__ = [
    "FIXTURE_APP",
    "ImageCommand",
    "RevisionProcess",
    "RevisionProcessInfo",
    "default_image_command",
    "fixture_app_command",
    "image_short_name",
]

ImageCommand = Callable[[str, int], list[str]]

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURE_APP = Path(__file__).with_name("fixture_app.py")

_BACKEND_APPS = {"api-gateway": "api_gateway.main:app", "ml-service": "ml_service.main:app"}
# A container sees only what Cloud Run gives it; the host environment passes through only
# what a local interpreter needs to run at all.
_HOST_ENV_PASSTHROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "TZ")


class UnknownImageError(LookupError):
    """The double cannot map an image to a local command."""


def image_short_name(image: str) -> str:
    """The last path segment of an image's repository, without tag or digest.

    ``europe-docker.pkg.dev/p/clarity/api-gateway:1.2.0@sha256:...`` → ``api-gateway``.
    """
    without_digest = image.split("@", 1)[0]
    last = without_digest.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def default_image_command(image: str, port: int) -> list[str]:
    """Run the backend app an image would contain with uvicorn on ``port``."""
    short = image_short_name(image)
    app = _BACKEND_APPS.get(short)
    if app is None:
        msg = (
            f"Image '{image}' not found. The Cloud Run double runs images whose repository "
            f"ends in {' or '.join(sorted(_BACKEND_APPS))}; pass image_command= to run others."
        )
        raise UnknownImageError(msg)
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def fixture_app_command(image: str, port: int) -> list[str]:
    """Run the small contract-honouring fixture app for any image."""
    del image
    return [sys.executable, str(FIXTURE_APP), "--port", str(port)]


def revision_environment(
    *,
    template_env: Mapping[str, str],
    platform_env: Mapping[str, str],
    service: str,
    revision: str,
    port: int,
) -> dict[str, str]:
    """What the revision's process sees: host basics < platform < template < Cloud Run's own."""
    env = {key: os.environ[key] for key in _HOST_ENV_PASSTHROUGH if key in os.environ}
    env["PYTHONPATH"] = str(REPO_ROOT / "src")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(platform_env)
    env.update(template_env)
    env.update(
        {
            "PORT": str(port),
            "K_SERVICE": service,
            "K_REVISION": revision,
            "K_CONFIGURATION": service,
        }
    )
    return env


@dataclass(frozen=True)
class RevisionProcessInfo:
    """What tests may inspect about a revision's process."""

    revision: str
    pid: int | None
    port: int
    alive: bool
    exit_code: int | None
    log_path: Path


class RevisionProcess:
    """One revision's process, its port and its readiness."""

    def __init__(
        self,
        *,
        revision: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        port: int,
        log_path: Path,
    ) -> None:
        self.revision = revision
        self.port = port
        self.log_path = log_path
        self._process = ManagedProcess(argv, env=env, log_path=log_path, cwd=REPO_ROOT)
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False
        self._exit_code: int | None = None

    @staticmethod
    def allocate_port() -> int:
        return free_port()

    def start(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._process.start()
            self._started = True

    def wait_ready(self, *, timeout: float, cancelled: threading.Event) -> str | None:
        """Wait for the port to accept connections; return None or why the revision failed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not cancelled.is_set():
            code = self.exit_code()
            if code is not None:
                return (
                    "The user-provided container failed to start and listen on the port "
                    f"defined provided by the PORT={self.port} environment variable. "
                    f"Container called exit({code}). Logs for this revision might contain "
                    f"more information: {self.log_path}"
                )
            if self._accepts():
                return None
            time.sleep(0.05)
        if cancelled.is_set():
            return "The Cloud Run double stopped before the revision became ready."
        return (
            "The user-provided container failed to start and listen on the port defined "
            f"provided by the PORT={self.port} environment variable within the allocated "
            f"timeout ({timeout:g}s). Logs for this revision might contain more information: "
            f"{self.log_path}"
        )

    def _accepts(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
        ):
            return True
        return False

    def exit_code(self) -> int | None:
        with self._lock:
            if self._exit_code is None and self._started and not self._stopped:
                self._exit_code = self._process.poll()
            return self._exit_code

    def alive(self) -> bool:
        with self._lock:
            return self._started and not self._stopped and self._process.poll() is None

    def stop(self, *, grace: float = 5.0) -> None:
        """Stop the whole process group (SIGTERM, then SIGKILL after ``grace``)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            if self._started:
                self._exit_code = self._process.poll()
        self._process.stop(grace=grace)

    def kill(self) -> None:
        """SIGKILL the process group as a crash would, leaving the revision's record in place."""
        with self._lock:
            if not self._started or self._stopped:
                return
            pid = self._process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5.0
        while self.exit_code() is None and time.monotonic() < deadline:
            time.sleep(0.02)

    def info(self) -> RevisionProcessInfo:
        with self._lock:
            pid = self._process.pid if self._started and not self._stopped else None
        return RevisionProcessInfo(
            revision=self.revision,
            pid=pid,
            port=self.port,
            alive=self.alive(),
            exit_code=self.exit_code(),
            log_path=self.log_path,
        )
