"""gcloud emulators as services: the command must start the emulator on the exposed port."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from tests.doubles.dagger_engine.contracts._base import Exec, Outcome, fail, ok

__all__ = ["CONTRACTS"]

#: Emulator -> the gcloud command group that starts it (Pub/Sub's is still in beta).
_GROUPS: Final = {"firestore": ("emulators",), "pubsub": ("beta", "emulators")}


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
    listen = ex.option("--host-port") or ""
    port = listen.rpartition(":")[2]
    if not port.isdigit() or int(port) not in ex.state.exposed:
        return fail(
            f"the service exposes {list(ex.state.exposed)} but the emulator listens on {listen or 'its default port'}: the engine's health check never sees the port open"
        )
    return ok(f"[{emulator}] Dev App Server is now running.\n")


CONTRACTS: Final[dict[str, Callable[[Exec], Outcome]]] = {"gcloud": gcloud}
