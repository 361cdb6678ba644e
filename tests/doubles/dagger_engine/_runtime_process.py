"""The module runtime, as a process: ``python tests/doubles/dagger_engine/_runtime_process.py``.

The engine starts the module's runtime with ``DAGGER_SESSION_PORT`` and
``DAGGER_SESSION_TOKEN`` and runs the SDK's entry point, which connects, serves one
function call and exits. Importing the SDK and the module takes seconds, so this process
imports them once and forks a child per invocation (read from stdin as one JSON line:
port and token); the child runs ``dagger.mod.cli.main`` exactly as the runtime does and
exits with its status, which goes back on stdout. It runs with the module's own
dependencies in mind: ci/uv.lock has no ``httpx2`` (the test environment has it for
Starlette's TestClient, and gql would pick it over the httpx the SDK hands it), so it is
hidden from this process before anything imports gql.

Run by path, never imported: the package's ``__init__`` imports the SDK (and gql) first.
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def main() -> int:
    """Preload, then serve invocations until stdin closes."""
    sys.modules["httpx2"] = None  # type: ignore[assignment]
    import anyio  # noqa: PLC0415 - after hiding httpx2
    import anyio._backends._asyncio  # noqa: PLC0415 - imported lazily, once per child otherwise
    import clarity  # noqa: PLC0415
    import httpx  # noqa: PLC0415
    from dagger.mod import cli  # noqa: PLC0415

    # What a connection imports on first use, so each forked child does not repeat it.
    httpx.AsyncHTTPTransport()

    module = clarity.Clarity.__dagger_module__  # type: ignore[attr-defined]
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the runtime of one function call
            os.dup2(2, 1)  # its output must not reach the protocol on stdout
            os.environ["DAGGER_SESSION_PORT"] = str(request["port"])
            os.environ["DAGGER_SESSION_TOKEN"] = str(request["token"])
            try:
                code = anyio.run(cli.main, module) or 0
            except BaseException:
                traceback.print_exc()
                code = 70
            sys.stderr.flush()
            os._exit(int(code))
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"exit": os.waitstatus_to_exitcode(status)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
