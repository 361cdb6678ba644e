"""A Dagger engine double at the GraphQL seam (see README.md)."""

from tests.doubles.dagger_engine._double import EngineDouble
from tests.doubles.dagger_engine._harness import CallResult, DaggerCall, ExportFailed, SecretArg
from tests.doubles.dagger_engine._world import Execution, World

__all__ = [
    "CallResult",
    "DaggerCall",
    "EngineDouble",
    "Execution",
    "ExportFailed",
    "SecretArg",
    "World",
]
