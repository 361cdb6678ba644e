"""Errors raised by the Dagger module before or after it runs containers.

::

    ClarityError                 root; the message says what happened and what to do
    ├── InputError               a function argument is invalid (env, version, service...)
    ├── SettingsError            terraform/environments/<env>/settings.json is unusable
    ├── ApprovalError         a protected environment needs --approve
    ├── CredentialsError         the credentials Secret cannot produce an access token
    ├── RolloutError             the delivery CLI (clarity-deploy) reported a failure
    └── GatesFailedError               one or more quality gates failed (carries the summary)

The engine prints the message of an exception raised by a function and exits non-zero.
"""

from __future__ import annotations

__all__ = [
    "ApprovalError",
    "ClarityError",
    "CredentialsError",
    "GatesFailedError",
    "InputError",
    "RolloutError",
    "SettingsError",
]


class ClarityError(Exception):
    """Root of the module's errors."""


class InputError(ClarityError):
    """A function argument is invalid."""


class SettingsError(ClarityError):
    """An environment's settings file is missing or malformed."""


class ApprovalError(ClarityError):
    """The environment refuses changes without an explicit approval."""


class CredentialsError(ClarityError):
    """The credentials Secret does not yield a Google access token."""


class GatesFailedError(ClarityError):
    """At least one gate failed; the message is the full summary."""


class RolloutError(ClarityError):
    """clarity-deploy exited non-zero; the message carries its summary or output."""
