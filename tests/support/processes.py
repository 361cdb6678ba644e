"""Real processes for tests: started in their own session, stopped by process group.

Every daemon a test starts (emulators, revision processes, dockerd) goes through
:class:`ManagedProcess`, so teardown kills the whole group (a ``gcloud`` wrapper and the
Java process it forks, a ``uvicorn`` and its workers), also when the test failed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["ManagedProcess", "free_port", "wait_for", "wait_for_http", "wait_for_port"]


# Ports handed to child processes (a revision, an emulator, a registry) are free when chosen and
# bound by the child a moment later. A port the kernel picks (bind to 0) comes from the ephemeral
# range, where any other process's next connection or bind(0) may take it in that moment; with
# six test workers starting processes at once, one revision in a few thousand lost its port so.
# Ports are therefore taken below the ephemeral range (32768-60999 on Linux), from a block of
# their own per xdist worker, counting up: no other worker, and no kernel choice, hands them out.
_PORT_BASE = 20_000
_PORT_BLOCK = 1_500
_port_lock = threading.Lock()
_next_port: int | None = None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now and that no other test worker hands out."""
    global _next_port  # noqa: PLW0603 - one counter per process
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    block = _PORT_BASE + (int(worker) % 8 if worker.isdigit() else 0) * _PORT_BLOCK
    with _port_lock:
        if _next_port is None:
            # Start where an earlier process of this worker (a test's subprocess) would not.
            _next_port = block + (os.getpid() * 7) % _PORT_BLOCK
        for _ in range(_PORT_BLOCK):
            port = _next_port
            _next_port = block + (_next_port - block + 1) % _PORT_BLOCK
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    msg = f"no free port in {block}-{block + _PORT_BLOCK - 1}"
    raise OSError(msg)


def wait_for(
    predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1
) -> None:
    """Poll ``predicate`` until it is true; raise ``TimeoutError`` naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    msg = f"timed out after {timeout:.0f}s waiting for {what}"
    raise TimeoutError(msg)


def wait_for_port(host: str, port: int, *, timeout: float = 30.0) -> None:
    """Wait until something accepts TCP connections on ``host:port``."""

    def accepts() -> bool:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        return False

    wait_for(accepts, timeout=timeout, what=f"{host}:{port} to accept connections")


def wait_for_http(
    url: str, *, timeout: float = 30.0, ok: Callable[[httpx.Response], bool] | None = None
) -> None:
    """Wait until ``url`` answers (any status, or one that ``ok`` accepts)."""

    def answers() -> bool:
        try:
            response = httpx.get(url, timeout=1.0)
        except httpx.HTTPError:
            return False
        return ok(response) if ok is not None else True

    wait_for(answers, timeout=timeout, what=url)


@dataclass
class ManagedProcess:
    """A process started with ``setsid`` whose whole group is stopped by :meth:`stop`."""

    argv: Sequence[str]
    env: Mapping[str, str] | None = None
    log_path: Path | None = None
    cwd: Path | None = None
    _popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def start(self) -> ManagedProcess:
        """Start the process in a new session (its own process group)."""
        log = self.log_path.open("ab") if self.log_path is not None else subprocess.DEVNULL
        try:
            self._popen = subprocess.Popen(
                list(self.argv),
                env=dict(self.env) if self.env is not None else None,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if self.log_path is not None and not isinstance(log, int):
                log.close()
        return self

    @property
    def pid(self) -> int:
        """The process id (also the process-group id)."""
        if self._popen is None:
            msg = "process not started"
            raise RuntimeError(msg)
        return self._popen.pid

    def poll(self) -> int | None:
        """Return the exit code if the leader has exited, else None."""
        return None if self._popen is None else self._popen.poll()

    def wait(self, timeout: float) -> int:
        """Wait for the leader to exit; its exit code (``subprocess.TimeoutExpired`` if not)."""
        if self._popen is None:
            msg = "process not started"
            raise RuntimeError(msg)
        return self._popen.wait(timeout=timeout)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the process's log, for failure messages."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, *, grace: float = 5.0) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left after ``grace`` seconds."""
        if self._popen is None:
            return
        pgid = self._popen.pid
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                self._popen.poll()
                if not _group_alive(pgid):
                    break
                time.sleep(0.05)
            else:
                continue
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout=1.0)
        self._popen = None

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - only for groups we do not own
        return True
    return True


@contextlib.contextmanager
def running(argv: Sequence[str], **kwargs: object) -> Iterator[ManagedProcess]:
    """Context manager form: start ``argv`` and stop its group on exit."""
    proc = ManagedProcess(argv, **kwargs)  # type: ignore[arg-type]
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
