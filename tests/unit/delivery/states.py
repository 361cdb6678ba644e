"""A rollout's lease as the library writes it on a service, for the unit tests."""

from __future__ import annotations

import time

from clarity_delivery import _state as st


def rollout_state(**changes: object) -> st.RolloutState:
    """A canary at 25 % held by another runner's deployer, heartbeat now; ``changes`` win."""
    values: dict[str, object] = {
        "id": "r1",
        "version": "1.1.0",
        "commit": "c0ffee1",
        "strategy": "canary",
        "candidate": "svc-new",
        "stable": "svc-old",
        "percent": 25,
        "owner": "runner-a:4242:abcdef",
        "heartbeat": time.time(),
        "lease_seconds": 60.0,
    }
    values.update(changes)
    return st.RolloutState(**values)  # type: ignore[arg-type]
