"""The module reads settings.json with the delivery library's parser: same rules, same words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clarity._errors import InputError, SettingsError
from clarity._settings import parse_settings, registry_host, settings_path, validate_commit
from clarity_delivery import ConfigError
from clarity_delivery import parse_settings as parse_delivery_settings

pytestmark = pytest.mark.dagger

ROOT = Path(__file__).resolve().parents[2]


def _broken() -> list[str]:
    """The dev settings, broken in ways only one of the old parsers used to notice."""
    data = json.loads((ROOT / settings_path("dev")).read_text())
    out = []
    for key, value in (
        ("rollout", {"strategy": "yolo"}),  # the library's rule
        ("health_checks", [{"service": "web", "path": "/health"}]),  # the library's rule
        ("monitoring_enabled", "yes"),  # the module's rule
        ("artifact_registry", {"repository": "Bad Repo"}),  # the module's rule
    ):
        out.append(json.dumps({**data, key: value}))
    return out


@pytest.mark.parametrize("text", _broken())
def test_the_module_refuses_what_the_library_refuses_with_its_message(text: str) -> None:
    with pytest.raises(ConfigError) as library:
        parse_delivery_settings(text, "dev", where=settings_path("dev"))
    with pytest.raises(SettingsError) as module:
        parse_settings("dev", text)
    assert str(module.value) == library.value.message
    assert module.value.__cause__ is not None
    assert isinstance(module.value.__cause__, ConfigError)


def test_the_module_passes_on_the_library_settings() -> None:
    text = (ROOT / settings_path("staging")).read_text()
    settings = parse_settings("staging", text)
    assert settings.delivery == parse_delivery_settings(text, "staging", where="x")
    assert settings.services == ("api-gateway", "ml-service")
    assert settings.repository == settings.delivery.artifact_repository


def test_commit_and_region_rules_are_the_library_ones() -> None:
    assert registry_host("europe-west10") == "europe-west10-docker.pkg.dev"
    with pytest.raises(InputError, match="not a Cloud Run region"):
        registry_host("us-central0")
    with pytest.raises(InputError, match="git rev-parse HEAD"):
        validate_commit(" abcdef1")  # the library would strip it; the module passes it on as given
