"""What the engine may reuse: function cache policies, and execs that must run every call.

Two caches are in play. A function's result is cached by its arguments unless the function
says ``cache="never"`` or ``cache="session"`` (the decorators below). Inside any function,
every ``with_exec`` is cached again by its own inputs: the container it runs in, its argv,
and each secret's cache key, which the engine derives from the secret's plaintext. So on a
persistent engine a ``cache="never"`` function that runs ``clarity-deploy health-check``
with the same key file as yesterday gets yesterday's output back without running anything.
:func:`every_call` puts a fresh nonce into the container right before such an exec, so the
exec's inputs differ on every call and the engine must run it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Final, ParamSpec, TypeVar

import dagger
from dagger import function

__all__ = ["RUN_NONCE", "every_call", "never_cached", "session_cached"]

RUN_NONCE: Final = "CLARITY_RUN_NONCE"
"""The variable that carries the nonce; nothing reads it, it only changes the exec's inputs."""

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _function_cached(policy: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """``@function(cache=policy)`` with a type.

    dagger-io 0.21.11 accepts ``cache=`` at run time but its typing overloads of
    ``function`` omit the keyword, so a direct call does not type-check under mypy strict.
    """
    decorator: Callable[..., Callable[[Callable[_P, _R]], Callable[_P, _R]]] = function
    return decorator(cache=policy)


never_cached: Final = _function_cached("never")
"""A Dagger function with side effects or live reads: executed on every call."""

session_cached: Final = _function_cached("session")
"""A Dagger function whose result is reused only within one engine session."""


def every_call(container: dagger.Container) -> dagger.Container:
    """``container`` whose next execs run on every call (use with ``.with_``).

    Apply it right before the exec with the side effect or the live read, so the steps
    before it (image pulls, dependency installs, ``terraform init``) stay cached.
    """
    return container.with_env_variable(RUN_NONCE, secrets.token_hex(16))
