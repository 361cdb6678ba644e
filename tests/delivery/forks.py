"""Deployer processes that start in milliseconds, so a test can kill hundreds of them.

Starting ``clarity-deploy`` as a new interpreter costs a second or more of imports (google-auth,
google-cloud-run). :class:`DeployerForks` starts one server process that imports the CLI once
and then forks a deployer per request: each is a real, separate process (its own pid, killable
with SIGKILL mid-call, no cleanup code of it runs), started from an already warm interpreter.
The server is single-threaded, so forking it is safe. It and every deployer it forked share one
process group, which :meth:`DeployerForks.stop` ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["DeployerForks"]

REPO = Path(__file__).resolve().parents[2]

# The server: imports the CLI, then for each JSON line on stdin forks a deployer that runs
# clarity_delivery.cli.main(argv) with the given environment, its output to a log file, and
# answers the deployer's pid. Exited deployers are reaped by the kernel (SIGCHLD ignored).
_SERVER = """
import json, os, signal, sys
from clarity_delivery._cloudrun import CloudRunApi, RetryPolicy
from clarity_delivery.cli import main
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
print(json.dumps({"ready": os.getpid()}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.environ.update(request["env"])
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        retry = RetryPolicy(**request["retry"])
        def connect(credentials, endpoint):
            return CloudRunApi.connect(credentials, endpoint=endpoint, retry=retry)
        try:
            code = main(request["argv"], connect=connect)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    print(json.dumps({"pid": pid}), flush=True)
"""


class DeployerForks:
    """A warm server that forks ``clarity-deploy`` processes on request."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = dict(env)
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> DeployerForks:
        """Start the server and wait until it has imported the CLI."""
        self._process = subprocess.Popen(
            [sys.executable, "-c", _SERVER],
            env=self._env,
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._read()
        return self

    def spawn(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log: Path,
        retry: Mapping[str, float],
    ) -> int:
        """Fork a deployer running ``clarity-deploy argv``; its pid."""
        assert self._process is not None
        assert self._process.stdin is not None
        request = {"argv": list(argv), "env": dict(env), "log": str(log), "retry": dict(retry)}
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        return int(self._read()["pid"])

    @staticmethod
    def gone(pid: int) -> bool:
        """Whether the deployer ``pid`` has exited (and been reaped)."""
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    @staticmethod
    def wait_gone(pid: int, *, timeout: float) -> None:
        """Wait until the deployer ``pid`` has exited."""
        deadline = time.monotonic() + timeout
        while not DeployerForks.gone(pid):
            if time.monotonic() > deadline:
                msg = f"deployer {pid} still runs after {timeout:g}s"
                raise TimeoutError(msg)
            time.sleep(0.01)

    def stop(self) -> None:
        """End the server and every deployer it forked (one process group)."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()

    def _read(self) -> dict[str, int]:
        assert self._process is not None
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            msg = f"the deployer fork server exited ({self._process.poll()})"
            raise RuntimeError(msg)
        answer: dict[str, int] = json.loads(line)
        return answer

    def __enter__(self) -> DeployerForks:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
