"""settings.json parsed from text: the one set of rules the CLI and the Dagger module share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clarity_delivery import (
    ConfigError,
    check_environment,
    check_region,
    load_settings,
    parse_commit,
    parse_settings,
    registry_host,
)

pytestmark = pytest.mark.unit

SETTINGS = Path(__file__).resolve().parents[3] / "terraform" / "environments"


def _text(env: str = "dev", **changes: Any) -> str:
    data = json.loads((SETTINGS / env / "settings.json").read_text())
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node[key]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value
    return json.dumps(data)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_text_parses_to_what_the_file_loads_to(env: str) -> None:
    text = (SETTINGS / env / "settings.json").read_text()
    parsed = parse_settings(text, env, where="settings.json")
    loaded = load_settings(env, SETTINGS)
    assert parsed.rollout == loaded.rollout
    assert parsed.services == loaded.services
    assert parsed.health_checks == loaded.health_checks
    assert parsed.monitoring_enabled is (env != "dev")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"environment": None}, r"^x\.json has no 'environment': add it$"),
        ({"artifact_registry": None}, r"x\.json has no 'artifact_registry\.repository': add it"),
        ({"artifact_registry__repository": "Clarity"}, r"invalid repository 'Clarity'"),
        ({"services": {}}, "'services' must name at least one service"),
        ({"services__Gateway": {"name": "g"}}, "invalid service name 'Gateway'"),
        ({"services__api-gateway__name": ""}, r"services\.api-gateway: 'name' must be"),
        ({"monitoring_enabled": None}, "has no 'monitoring_enabled': add it"),
        ({"monitoring_enabled": "false"}, "monitoring_enabled must be true or false"),
        ({"rollout": None}, "has no 'rollout': add it"),
        ({"region": "us-central0"}, "invalid region 'us-central0': not a Cloud Run region"),
        ({"project_id": 7}, "invalid project_id 7"),
    ],
)
def test_every_rule_names_the_file_and_what_is_wrong(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_settings(_text(**changes), "dev", where="x.json")


def test_a_file_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^x\.json must hold a JSON object$"):
        parse_settings("[1]", "dev", where="x.json")
    with pytest.raises(ConfigError, match="unknown environment 'qa'"):
        parse_settings(_text(), "qa", where="x.json")


@pytest.mark.parametrize("region", ["us-central1", "europe-west10", "me-central2"])
def test_regions_with_any_number(region: str) -> None:
    assert check_region(region) == region
    assert registry_host(region) == f"{region}-docker.pkg.dev"
    parsed = parse_settings(_text(region=region), "dev", where="x.json")
    assert parsed.image_for("api-gateway", "1.0.0").startswith(f"{region}-docker.pkg.dev/")


@pytest.mark.parametrize("region", ["us-central0", "US-CENTRAL1", "evil.com/x", "us"])
def test_other_regions_are_refused(region: str) -> None:
    with pytest.raises(ConfigError, match="such as us-central1"):
        registry_host(region)


def test_commits_are_hexadecimal_shas_normalised_to_lower_case() -> None:
    assert parse_commit(" ABCDEF1 ") == "abcdef1"
    assert parse_commit("a" * 40) == "a" * 40
    for bad in ("", "abc123", "g" * 7, "a" * 41, "HEAD"):
        with pytest.raises(ConfigError, match="malformed commit"):
            parse_commit(bad)


def test_environments() -> None:
    assert check_environment("prod") == "prod"
    with pytest.raises(ConfigError, match="choose one of dev, staging, prod"):
        check_environment("../prod")
