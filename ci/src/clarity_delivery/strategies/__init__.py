"""Rollout strategies: one module each behind the :class:`Strategy` protocol.

A new strategy (a fixed-duration A/B, say) is one module here and one entry in
:data:`STRATEGIES`; the settings' ``rollout.strategy`` names it.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._errors import ConfigError
from ._strategy import PRE_TRAFFIC_FAILURE, Step, Strategy
from .bluegreen import BlueGreen
from .canary import Canary

__all__ = [
    "PRE_TRAFFIC_FAILURE",
    "STRATEGIES",
    "BlueGreen",
    "Canary",
    "Step",
    "Strategy",
    "strategy_for",
]

STRATEGIES: Mapping[str, Strategy] = {"canary": Canary(), "blue-green": BlueGreen()}
"""Every strategy by the name settings.json and ``--strategy`` use."""


def strategy_for(name: str) -> Strategy:
    """The strategy called ``name``."""
    try:
        return STRATEGIES[name]
    except KeyError:
        msg = f"unknown rollout strategy {name!r}: choose one of {', '.join(STRATEGIES)}"
        raise ConfigError(msg) from None
