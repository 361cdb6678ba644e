"""Serving an ASGI app on a real socket from a thread, for tests that need a real HTTP server.

Used where something outside the process must reach the app (the Pub/Sub emulator pushing to
the ML service) or where the test is about the transport (the gateway calling the ML service).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from tests.support.processes import free_port

__all__ = ["serve_in_thread"]


@contextlib.contextmanager
def serve_in_thread(app: ASGIApp, *, timeout: float = 15.0) -> Iterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1 and a free port; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        if not server.started:
            msg = f"uvicorn did not start on port {port} within {timeout:.0f}s"
            raise RuntimeError(msg)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
