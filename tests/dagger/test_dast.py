"""The DAST helpers of the module, and the settings file both DAST runs share."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from clarity._dast import (
    DAST_CONFIG,
    LOCAL_TARGETS,
    TOKEN_VARIABLE,
    authenticated_config,
    dast_command,
    validate_targets,
)
from clarity._errors import InputError
from clarity._settings import SERVICES
from schemathesis.config import ConfigError, SchemathesisConfig

pytestmark = pytest.mark.dagger

ROOT = Path(__file__).resolve().parents[2]


def _settings(text: str) -> dict[str, Any]:
    data = tomllib.loads(text)
    data.pop("hooks")  # loading the hooks would register them in this process
    return data


def test_the_command_reads_the_shared_settings() -> None:
    assert dast_command("http://api-gateway:8080/") == [
        "schemathesis",
        "--config-file",
        "tests/dast/schemathesis.toml",
        "run",
        "http://api-gateway:8080/openapi.json",
        "--no-color",
    ]
    assert dast_command("https://x.run.app", config="/tmp/c.toml")[2] == "/tmp/c.toml"


def test_the_settings_run_every_check_and_phase_bounded_and_reproducibly() -> None:
    text = (ROOT / DAST_CONFIG).read_text()
    data = tomllib.loads(text)
    assert (ROOT / data["hooks"]).is_file()
    assert "max-time" not in data  # fuzzing would spend all of it
    generation = data["generation"]
    assert generation["mode"] == "all"
    assert generation["deterministic"] is True
    assert 0 < generation["max-examples"] <= 50
    assert all(
        data["phases"][phase]["enabled"]
        for phase in ("examples", "coverage", "fuzzing", "stateful")
    )
    assert data["checks"]["enabled"] is True
    assert not any(
        isinstance(check, dict) and check.get("enabled") is False
        for check in data["checks"].values()
    )
    assert "missing_auth" in data["warnings"]["fail-on"]
    SchemathesisConfig.from_dict(_settings(text))  # schemathesis itself accepts the file


def test_remote_runs_name_the_token_variable_never_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = authenticated_config((ROOT / DAST_CONFIG).read_text())
    assert "${" + TOKEN_VARIABLE + "}" in text
    monkeypatch.setenv(TOKEN_VARIABLE, "id-token-value")
    config = SchemathesisConfig.from_dict(_settings(text))
    assert config.projects.default.headers == {"Authorization": "Bearer id-token-value"}
    monkeypatch.delenv(TOKEN_VARIABLE)
    with pytest.raises(ConfigError, match=TOKEN_VARIABLE):
        SchemathesisConfig.from_dict(_settings(text))


def test_local_targets_are_both_services_gateway_first() -> None:
    assert list(LOCAL_TARGETS) == list(SERVICES) == ["api-gateway", "ml-service"]


def test_targets_are_https_origins() -> None:
    assert validate_targets(
        [
            "https://candidate---api-gateway-abc123-ew.a.run.app/",
            " https://candidate---api-gateway-abc123-ew.a.run.app",
            "https://ml.example.com:8443",
        ]
    ) == ["https://candidate---api-gateway-abc123-ew.a.run.app", "https://ml.example.com:8443"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://api.example.com", "is not an https URL"),
        ("api.example.com", "is not an https URL"),
        ("https://", "is not an https URL"),
        ("https://user:pw@api.example.com", "carries credentials"),  # pragma: allowlist secret
        ("https://api.example.com/v1", "is not a base URL"),
        ("https://api.example.com/?token=x", "is not a base URL"),
    ],
)
def test_targets_that_are_not_base_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        validate_targets([url])
