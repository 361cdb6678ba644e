"""Settings read from the environment (pydantic-settings); no secret lives in code.

The Google client libraries read ``FIRESTORE_EMULATOR_HOST`` and ``PUBSUB_EMULATOR_HOST``
straight from the process environment. The settings read the same variables, and
:func:`check_emulator_environment` refuses settings that disagree with the environment, so a
service can never believe it talks to an emulator while its clients talk to Google.
"""

from __future__ import annotations

import os
from typing import Annotated, TypeVar

from pydantic import BeforeValidator, Field, ValidationError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from clarity_common.errors import ConfigError
from clarity_common.faults import Fault, parse_fault

__all__ = [
    "ServiceSettings",
    "check_emulator_environment",
    "describe_invalid_settings",
    "settings_from_environment",
]

SettingsT = TypeVar("SettingsT", bound="ServiceSettings")


def _parse_fault(value: object) -> object:
    return parse_fault(value) if value is None or isinstance(value, str) else value


class ServiceSettings(BaseSettings):
    """What every Clarity service reads from its environment (variable = upper-case name)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_ignore_empty=True)

    google_cloud_project: str = Field(default="clarity-local", min_length=1)
    firestore_emulator_host: str | None = None
    pubsub_emulator_host: str | None = None
    port: int = Field(default=8080, ge=1, le=65535)
    clarity_version: str = Field(default="0.0.0-dev", min_length=1)
    k_revision: str | None = None
    k_service: str | None = None
    clarity_fault: Annotated[Fault, NoDecode, BeforeValidator(_parse_fault)] = Fault()
    firestore_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    publish_timeout_seconds: float = Field(default=10.0, gt=0, le=60)


def describe_invalid_settings(service: str, error: ValidationError) -> str:
    """One readable paragraph naming each bad variable and what to do about it."""
    problems = []
    for item in error.errors(include_url=False):
        variable = "_".join(str(part) for part in item["loc"]).upper() or "settings"
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(f"  {variable}: {message}")
    return f"{service}: refusing to start, invalid configuration:\n" + "\n".join(problems)


def settings_from_environment(cls: type[SettingsT], service: str) -> SettingsT:
    """Build settings from the environment, or exit with a message (no traceback) if invalid."""
    try:
        settings = cls()
    except ValidationError as exc:
        raise SystemExit(describe_invalid_settings(service, exc)) from None
    return settings


def check_emulator_environment(settings: ServiceSettings) -> None:
    """Raise :class:`ConfigError` when the settings and the client libraries would disagree."""
    for variable, configured in (
        ("FIRESTORE_EMULATOR_HOST", settings.firestore_emulator_host),
        ("PUBSUB_EMULATOR_HOST", settings.pubsub_emulator_host),
    ):
        actual = os.environ.get(variable) or None
        if actual != configured:
            msg = (
                f"the settings say {variable}={configured!r} but the environment has {actual!r}; "
                "the Google client libraries read the environment, so set the variable there"
            )
            raise ConfigError(msg)
