"""What the library prints and where it looks: plans, traffic splits, lookups, the settings folder.

Operators read these lines (``--dry-run``, progress, errors); each assertion pins the text a
slip in the code would change."""

from __future__ import annotations

from pathlib import Path

import pytest
from clarity_delivery import ConfigError, build_plan, load_settings
from clarity_delivery.plan import TrafficSplit, TrafficTarget
from clarity_delivery.settings import default_settings_dir

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
SETTINGS = REPO / "terraform" / "environments"


def test_a_blue_green_plan_without_a_commit_reads_as_such() -> None:
    plan = build_plan(load_settings("prod", SETTINGS), version="2.0.0", dry_run=True)
    lines = plan.describe().splitlines()
    assert lines[0] == (
        "Release 2.0.0 (no commit) to prod [clarity-loop-production/us-central1], strategy blue-green"
    )
    assert lines[1] == (
        "  candidate at 0% tagged 'green', verified, then one switch to 100%; "
        "previous kept as 'blue'"
    )
    assert lines[2].startswith("  analysis per step: ")
    assert "  1. ml-service (clarity-ml-service): revision clarity-ml-service-2-0-0" in lines


def test_a_canary_plan_lists_its_steps() -> None:
    plan = build_plan(
        load_settings("dev", SETTINGS), version="1.0.0", commit="abcdef1", dry_run=True
    )
    assert plan.describe().splitlines()[1] == (
        "  traffic steps: 50% → 100%, then the candidate is tagged 'stable'"
    )


def test_a_split_names_tags_only_where_there_are_some() -> None:
    split = TrafficSplit((TrafficTarget("rev-a", 75, "stable"), TrafficTarget("rev-b", 25)))
    assert split.describe() == "rev-a=75% (stable), rev-b=25%"


def test_an_unknown_service_lists_the_known_ones() -> None:
    settings = load_settings("dev", SETTINGS)
    with pytest.raises(
        ConfigError,
        match=r"^unknown service 'web' in dev: known services are ml-service, api-gateway$",
    ):
        settings.service("web")
    assert settings.service("ml-service").name == "clarity-ml-service"


def test_the_settings_folder_is_found_from_the_working_directory_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO / "tests")  # inside the checkout, but not at its root
    assert default_settings_dir() == SETTINGS
    (tmp_path / "terraform" / "environments").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert default_settings_dir() == tmp_path / "terraform" / "environments"
