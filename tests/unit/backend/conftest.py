"""Unit tier of the backend: no emulator, no network beyond loopback."""

from __future__ import annotations

import pytest

SERVICE_VARIABLES = (
    "CLARITY_FAULT",
    "CLARITY_VERSION",
    "K_REVISION",
    "K_SERVICE",
    "ML_SERVICE_URL",
    "PORT",
    "FIRESTORE_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "GOOGLE_CLOUD_PROJECT",
    "PUBLISH_TIMEOUT_SECONDS",
    "DATABASE_TIMEOUT_SECONDS",
    "ML_SERVICE_TIMEOUT_SECONDS",
)


@pytest.fixture(autouse=True)
def _clean_service_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start from an environment without any service variable of the developer's shell."""
    for name in SERVICE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
