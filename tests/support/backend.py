"""The environment variables the backend services read, so tests can start from none of them."""

from __future__ import annotations

import pytest

__all__ = ["SERVICE_VARIABLES", "clear_service_environment"]

SERVICE_VARIABLES = (
    "CLARITY_FAULT",
    "CLARITY_VERSION",
    "DATABASE_TIMEOUT_SECONDS",
    "FIRESTORE_DATABASE",
    "FIRESTORE_EMULATOR_HOST",
    "FIRESTORE_TIMEOUT_SECONDS",
    "GOOGLE_CLOUD_PROJECT",
    "HOST",
    "K_REVISION",
    "K_SERVICE",
    "ML_SERVICE_AUTH",
    "ML_SERVICE_TIMEOUT_SECONDS",
    "ML_SERVICE_URL",
    "PORT",
    "PUBLISH_TIMEOUT_SECONDS",
    "PUBSUB_EMULATOR_HOST",
)


def clear_service_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every service variable a developer's shell may have set, for one test."""
    for name in SERVICE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
