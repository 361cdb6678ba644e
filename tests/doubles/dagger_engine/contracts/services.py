"""Servers a service runs: the gcloud emulators and uvicorn.

A server's contract checks what it needs to come up and returns the addresses it listens
on (``serving``); whether those are the container's exposed ports is the engine's health
check, not the server's business. uvicorn imports ``MODULE:ATTRIBUTE`` the way it does:
``--app-dir`` (default: the working directory) first, then the environment of the
interpreter its script belongs to (site-packages and the ``.pth`` directories of an
editable install); the module's file must define the attribute at top level.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from tests.doubles.dagger_engine.contracts import _venv
from tests.doubles.dagger_engine.contracts._base import Exec, Outcome, fail, serving

__all__ = ["CONTRACTS", "uvicorn"]

#: Emulator -> the gcloud command group that starts it (Pub/Sub's is still in beta).
_GROUPS: Final = {"firestore": ("emulators",), "pubsub": ("beta", "emulators")}
#: Where each emulator listens without --host-port.
_DEFAULT_LISTEN: Final = {"firestore": "localhost:8080", "pubsub": "localhost:8085"}
_UVICORN_ERROR: Final = "ERROR:    Error loading ASGI app. "


def gcloud(ex: Exec) -> Outcome:
    """gcloud [beta] emulators EMULATOR start --host-port=HOST:PORT (a long-running service)."""
    words = [a for a in ex.args if not a.startswith("-")]
    emulator = next((w for w in words if w in _GROUPS), None)
    if emulator is None or words[-1:] != ["start"]:
        return fail(
            f"ERROR: (gcloud) the engine double models only emulator starts, not {' '.join(words)}",
            2,
        )
    group = tuple(words[: words.index(emulator)])
    if group != _GROUPS[emulator]:
        return fail(f"ERROR: (gcloud.{'.'.join(group)}) Invalid choice: '{emulator}'.", 2)
    listen = ex.option("--host-port") or _DEFAULT_LISTEN[emulator]
    return serving(listen, stdout=f"[{emulator}] Dev App Server is now running.\n")


def _defines(source: str, attribute: str) -> bool:
    name = re.escape(attribute)
    pattern = rf"^(?:{name}\s*(?::[^=\n]*)?=|(?:async\s+)?def\s+{name}\b|class\s+{name}\b)"
    return re.search(pattern, source, re.MULTILINE) is not None


def uvicorn(ex: Exec) -> Outcome:
    """uvicorn MODULE:ATTRIBUTE [--host H] [--port P] [--app-dir D] [options]."""
    operands = [a for i, a in enumerate(ex.args) if not a.startswith("-") and not _value_of(ex, i)]
    if not operands:
        return fail(
            "Usage: uvicorn [OPTIONS] APP\nTry 'uvicorn --help' for help.\n\n"
            "Error: Missing argument 'APP'.",
            2,
        )
    module, _, attribute = operands[0].partition(":")
    if not attribute:
        return fail(
            f'{_UVICORN_ERROR}Import string "{operands[0]}" must be in format "<module>:<attribute>".'
        )
    port = ex.option("--port", "8000") or "8000"
    if not port.isdigit():
        return fail(
            f"Usage: uvicorn [OPTIONS] APP\nTry 'uvicorn --help' for help.\n\n"
            f"Error: Invalid value for '--port': '{port}' is not a valid integer.",
            2,
        )
    app_dir = ex.path(ex.option("--app-dir", ".") or ".")
    found = _venv.module_file(ex.fs, module, site=_venv.site_of(ex.program), extra=[app_dir])
    if found is None:
        return fail(f'{_UVICORN_ERROR}Could not import module "{module}".')
    if not _defines(ex.fs.read_text(found), attribute):
        return fail(f'{_UVICORN_ERROR}Attribute "{attribute}" not found in module "{module}".')
    host = ex.option("--host", "127.0.0.1") or "127.0.0.1"
    return serving(
        f"{host}:{port}",
        stdout=f"INFO:     Uvicorn running on http://{host}:{port} (Press CTRL+C to quit)\n",
    )


#: uvicorn's options that take a value (the others are flags).
_VALUED: Final = frozenset(
    {
        "--host",
        "--port",
        "--uds",
        "--fd",
        "--app-dir",
        "--forwarded-allow-ips",
        "--root-path",
        "--workers",
        "--log-level",
        "--log-config",
        "--env-file",
        "--loop",
        "--http",
        "--ws",
        "--lifespan",
        "--interface",
        "--timeout-keep-alive",
        "--limit-concurrency",
        "--ssl-keyfile",
        "--ssl-certfile",
        "--header",
        "--h11-max-incomplete-event-size",
    }
)


def _value_of(ex: Exec, index: int) -> bool:
    """True if ``ex.args[index]`` is the value of the option before it."""
    return index > 0 and ex.args[index - 1] in _VALUED


CONTRACTS: Final[dict[str, Callable[[Exec], Outcome]]] = {"gcloud": gcloud, "uvicorn": uvicorn}
