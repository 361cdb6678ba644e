"""Settings from the environment, and refusing to start on bad ones."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api_gateway.ml_client import needs_id_token
from api_gateway.settings import GatewaySettings
from clarity_common.errors import ConfigError
from clarity_common.faults import FaultKind
from clarity_common.settings import (
    ServiceSettings,
    check_emulator_environment,
    settings_from_environment,
)

pytestmark = pytest.mark.unit


def test_defaults_without_environment() -> None:
    settings = GatewaySettings()
    assert settings.google_cloud_project == "clarity-local"
    assert settings.clarity_version == "0.0.0-dev"
    assert settings.k_revision is None
    assert settings.k_service is None
    assert settings.firestore_emulator_host is None
    assert settings.pubsub_emulator_host is None
    assert settings.ml_service_url is None
    assert settings.port == 8080
    assert settings.host == "0.0.0.0"  # noqa: S104 - the container default under test
    assert settings.firestore_database == "(default)"
    assert settings.clarity_fault.kind is FaultKind.NONE
    assert (settings.database_timeout_seconds, settings.ml_service_timeout_seconds) == (2.0, 2.0)
    assert (settings.firestore_timeout_seconds, settings.publish_timeout_seconds) == (5.0, 10.0)


def test_reads_every_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "GOOGLE_CLOUD_PROJECT": "clarity-loop-dev",
        "FIRESTORE_EMULATOR_HOST": "127.0.0.1:8080",
        "PUBSUB_EMULATOR_HOST": "127.0.0.1:8085",
        "ML_SERVICE_URL": "https://clarity-ml-service-abc-uc.a.run.app",
        "PORT": "9000",
        "CLARITY_VERSION": "1.4.0",
        "K_REVISION": "clarity-api-gateway-00007-abc",
        "K_SERVICE": "clarity-api-gateway",
        "CLARITY_FAULT": "health-500-after=3",
        "DATABASE_TIMEOUT_SECONDS": "1.5",
        "FIRESTORE_DATABASE": "clarity-dev",
        "HOST": "127.0.0.1",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = GatewaySettings()
    assert settings.google_cloud_project == "clarity-loop-dev"
    assert settings.firestore_emulator_host == "127.0.0.1:8080"
    assert settings.pubsub_emulator_host == "127.0.0.1:8085"
    assert str(settings.ml_service_url) == "https://clarity-ml-service-abc-uc.a.run.app/"
    assert settings.port == 9000
    assert settings.clarity_version == "1.4.0"
    assert settings.k_revision == "clarity-api-gateway-00007-abc"
    assert settings.k_service == "clarity-api-gateway"
    assert settings.clarity_fault.kind is FaultKind.HEALTH_500_AFTER
    assert settings.clarity_fault.healthy_requests == 3
    assert settings.database_timeout_seconds == 1.5
    assert settings.firestore_database == "clarity-dev"
    assert settings.host == "127.0.0.1"


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("K_REVISION", "CLARITY_FAULT", "FIRESTORE_EMULATOR_HOST", "CLARITY_VERSION"):
        monkeypatch.setenv(name, "")
    settings = ServiceSettings()
    assert settings.k_revision is None
    assert settings.firestore_emulator_host is None
    assert settings.clarity_version == "0.0.0-dev"
    assert settings.clarity_fault.kind is FaultKind.NONE


def test_invalid_fault_refuses_to_start_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARITY_FAULT", "crash-on-stat")
    with pytest.raises(SystemExit) as caught:
        settings_from_environment(ServiceSettings, "ml-service")
    message = str(caught.value.code)
    assert message.startswith("ml-service: refusing to start, invalid configuration:")
    assert "CLARITY_FAULT: CLARITY_FAULT='crash-on-stat' is not a known fault" in message
    assert "health-500-after=N" in message


def test_every_bad_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "0")
    monkeypatch.setenv("ML_SERVICE_URL", "not a url")
    with pytest.raises(SystemExit) as caught:
        settings_from_environment(GatewaySettings, "api-gateway")
    message = str(caught.value.code)
    assert "  PORT: " in message
    assert "  ML_SERVICE_URL: " in message


def test_valid_environment_builds_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K_REVISION", "r1")
    assert settings_from_environment(ServiceSettings, "ml-service").k_revision == "r1"


def test_settings_are_immutable() -> None:
    settings = ServiceSettings()
    with pytest.raises(ValidationError):
        settings.k_revision = "other"


def test_emulator_settings_must_match_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:1")
    check_emulator_environment(ServiceSettings())  # built from the environment: agrees
    with pytest.raises(
        ConfigError,
        match=r"PUBSUB_EMULATOR_HOST='127\.0\.0\.1:2' but the environment has '127\.0\.0\.1:1'",
    ):
        check_emulator_environment(ServiceSettings(pubsub_emulator_host="127.0.0.1:2"))
    with pytest.raises(ConfigError, match="FIRESTORE_EMULATOR_HOST"):
        check_emulator_environment(ServiceSettings(firestore_emulator_host="127.0.0.1:3"))


@pytest.mark.parametrize(
    ("url", "auth", "expected"),
    [
        ("https://clarity-ml-service-abc-uc.a.run.app", "auto", True),
        ("http://127.0.0.1:8001", "auto", False),
        (None, "auto", False),
        ("http://127.0.0.1:8001", "id-token", True),
        ("https://clarity-ml-service-abc-uc.a.run.app", "none", False),
    ],
)
def test_when_the_gateway_asks_for_an_id_token(url: str | None, auth: str, expected: bool) -> None:
    settings = GatewaySettings.model_validate({"ml_service_url": url, "ml_service_auth": auth})
    assert needs_id_token(settings) is expected


def test_unknown_ml_service_auth_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ML_SERVICE_AUTH", "oauth")
    with pytest.raises(
        SystemExit, match="ML_SERVICE_AUTH: Input should be 'auto', 'id-token' or 'none'"
    ):
        settings_from_environment(GatewaySettings, "api-gateway")
