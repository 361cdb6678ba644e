"""The parent side of the module runtime process (see ``_runtime_process``)."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = ["ModuleRuntime"]

_ROOT = Path(__file__).resolve().parents[3]


class ModuleRuntime:
    """Owns the runtime process; ``invoke`` runs one function call against a session."""

    def __init__(self, log: Path, *, root: Path = _ROOT, timeout: float = 120.0) -> None:
        self.log = log
        self.root = root
        self.timeout = timeout
        self._process: subprocess.Popen[str] | None = None
        self._log_handle: IO[str] | None = None

    def start(self) -> ModuleRuntime:
        """Start the process and wait until it has imported the module."""
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(str(self.root / p) for p in ("ci/src", "src", ".")),
        }
        self._log_handle = self.log.open("a", encoding="utf-8")
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("_runtime_process.py"))],
            cwd=self.root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_handle,
            text=True,
            start_new_session=True,
        )
        self._read()
        return self

    def invoke(self, port: int, token: str) -> int:
        """Run the module's entry point against the session; its exit status."""
        process = self._require()
        assert process.stdin is not None
        process.stdin.write(json.dumps({"port": port, "token": token}) + "\n")
        process.stdin.flush()
        status = self._read()["exit"]
        assert isinstance(status, int)
        return status

    def log_tail(self, lines: int = 40) -> str:
        """The end of the runtime's stderr (SDK logs, tracebacks)."""
        return "\n".join(self.log.read_text(encoding="utf-8").splitlines()[-lines:])

    def _require(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            msg = f"the module runtime process is not running:\n{self.log_tail()}"
            raise RuntimeError(msg)
        return self._process

    def _read(self) -> dict[str, object]:
        process = self._require()
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(self.timeout):
                msg = (
                    f"the module runtime did not answer in {self.timeout:.0f}s:\n{self.log_tail()}"
                )
                raise TimeoutError(msg)
        line = process.stdout.readline()
        if not line:
            msg = f"the module runtime exited:\n{self.log_tail()}"
            raise RuntimeError(msg)
        answer: dict[str, object] = json.loads(line)
        return answer

    def stop(self) -> None:
        """Stop the process group (also its children), idempotent."""
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def __enter__(self) -> ModuleRuntime:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
