"""Settings files, release plans, versions, revision names and traffic splits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from clarity_delivery import ConfigError, build_plan, load_settings, parse_version, revision_name
from clarity_delivery._prune_settings import PrunePolicy
from clarity_delivery.plan import TrafficSplit, TrafficTarget, label_value
from clarity_delivery.settings import ENVIRONMENTS, parse_settings

from tests.unit.delivery.images import DIGEST, pinned

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
SETTINGS = REPO / "terraform" / "environments"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_settings_file_loads(env: str) -> None:
    settings = load_settings(env, SETTINGS)
    assert settings.environment == env
    assert settings.rollout_order() == ("ml-service", "api-gateway")
    assert {c.service for c in settings.health_checks} == {"ml-service", "api-gateway"}


def test_prod_is_blue_green_with_approval_and_dev_is_canary() -> None:
    prod, dev = load_settings("prod", SETTINGS), load_settings("dev", SETTINGS)
    assert prod.rollout.strategy == "blue-green"
    assert prod.rollout.require_approval
    assert prod.rollout.steps == (100,)
    assert dev.rollout.strategy == "canary"
    assert not dev.rollout.require_approval


def test_unknown_environment_names_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown environment 'production': choose one of dev, staging, prod"
    ):
        load_settings("production", SETTINGS)


def test_missing_settings_dir_says_which_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dev/settings.json does not exist"):
        load_settings("dev", tmp_path)


def _write(tmp_path: Path, env: str, mutate: dict[str, object]) -> Path:
    data = json.loads((SETTINGS / env / "settings.json").read_text())
    for dotted, value in mutate.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    (tmp_path / env).mkdir(parents=True, exist_ok=True)
    (tmp_path / env / "settings.json").write_text(json.dumps(data))
    return tmp_path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        ({"rollout.steps": [50, 25, 100]}, "increasing percentages ending at 100"),
        ({"rollout.steps": [10, 50]}, "increasing percentages ending at 100"),
        ({"rollout.strategy": "yolo"}, "strategy must be 'canary' or 'blue-green'"),
        ({"rollout.failure_threshold": 9}, "failure_threshold <= probes_per_step"),
        ({"region": "moon"}, "not a Cloud Run region"),
        ({"project_id": "X"}, "not a valid Google Cloud project id"),
        ({"environment": "prod"}, "expected 'dev'"),
        ({"services.api-gateway.depends_on": ["db"]}, "depends on unknown service 'db'"),
        ({"services.ml-service.depends_on": ["api-gateway"]}, "cycle"),
        ({"health_checks": [{"service": "web", "path": "/health"}]}, "unknown service 'web'"),
        ({"health_checks": [{"service": "ml-service", "path": "health"}]}, "must start with '/'"),
    ],
)
def test_bad_settings_are_rejected_with_the_reason(
    tmp_path: Path, mutate: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings("dev", _write(tmp_path, "dev", mutate))


def test_malformed_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "settings.json").write_text("{")
    with pytest.raises(ConfigError, match=r"settings.json is not valid JSON"):
        load_settings("dev", tmp_path)


@pytest.mark.parametrize("text", ["1.2.3", "v1.2.3", "0.1.0-rc.1", "2.0.0+build.7"])
def test_semantic_versions_parse(text: str) -> None:
    assert str(parse_version(text)) == text.removeprefix("v")


@pytest.mark.parametrize("text", ["1.2", "latest", "1.2.3.4", "01.2.3", "", "1.2.3 ", "v"])
def test_malformed_versions_are_config_errors(text: str) -> None:
    if text == "1.2.3 ":
        assert str(parse_version(text)) == "1.2.3"  # surrounding blanks are forgiven
        return
    with pytest.raises(ConfigError, match="malformed version"):
        parse_version(text)


def test_revision_names_are_valid_unique_and_bounded() -> None:
    v = parse_version("1.4.0-rc.1")
    assert (
        revision_name("clarity-api-gateway", v, "abcdef1234")  # pragma: allowlist secret
        == "clarity-api-gateway-1-4-0-rc-1-abcdef1"
    )
    assert revision_name("clarity-api-gateway", v, "abcdef1234", 2).endswith("-abcdef1-r2")
    long = revision_name("clarity-" + "x" * 40, parse_version("1.2.3-" + "a" * 40), "abcdef1", 3)
    assert len(long) <= 63
    assert long.startswith("clarity-" + "x" * 40 + "-")
    assert long.endswith("-abcdef1-r3")
    assert not long.endswith("-")


def test_label_values_follow_google_rules() -> None:
    assert label_value("1.4.0-RC.1") == "1-4-0-rc-1"
    assert len(label_value("x" * 100)) == 63


def test_traffic_split_must_add_up_to_100() -> None:
    with pytest.raises(ValueError, match="add up to 100"):
        TrafficSplit((TrafficTarget("a", 60), TrafficTarget("b", 30)))
    split = TrafficSplit.canary("old", "new", 25)
    assert split.percent_of("new") == 25
    assert split.percent_of("old") == 75
    assert split.describe() == "old=75% (stable), new=25% (candidate)"
    single = TrafficSplit.single("new", keep={"previous": "old", "blue": "new"})
    assert single.targets == (
        TrafficTarget("new", 100, "stable"),
        TrafficTarget("old", 0, "previous"),
    )


STAGING_REPO = "us-central1-docker.pkg.dev/clarity-loop-staging/clarity"


def test_plan_orders_services_and_takes_the_pinned_images() -> None:
    settings = load_settings("staging", SETTINGS)
    plan = build_plan(settings, version="1.4.0", commit="ABCDEF1234", images=pinned(settings))
    assert [s.key for s in plan.services] == ["ml-service", "api-gateway"]
    assert plan.commit == "abcdef1234"
    ml = plan.services[0]
    assert ml.image == f"{STAGING_REPO}/ml-service@{DIGEST}"
    assert ml.revision == "clarity-ml-service-1-4-0-abcdef1"
    assert [c.path for c in plan.services[1].checks] == [
        "/health",
        "/health/database",
        "/ml/health",
    ]
    text = plan.describe()
    assert "traffic steps: 10% → 50% → 100%" in text
    assert "bake: 120s of traffic at 100% analysed before 'stable'" in text
    assert "worst case from a fault's onset to the rollback decision: 240s" in text
    assert "transactions: POST /v1/healthkit/samples (ingest-synthetic-batch)" in text
    assert "checks: /health→200, /health/database→200, /ml/health→200" in text
    assert "clarity-ml-service-1-4-0-abcdef1" in text
    assert plan.overrides == ()


def test_plan_strategy_override_and_service_filter() -> None:
    settings = load_settings("staging", SETTINGS)
    plan = build_plan(
        settings,
        version="1.0.0",
        only=("api-gateway",),
        strategy="blue-green",
        images={"api-gateway": f"{STAGING_REPO}/api-gateway:1.0.0@{DIGEST}"},
    )
    assert [s.key for s in plan.services] == ["api-gateway"]
    assert plan.policy.strategy == "blue-green"
    assert plan.policy.steps == (100,)
    assert plan.policy.lease_seconds == settings.rollout.lease_seconds
    assert plan.candidate_tag == "green"
    assert plan.services[0].image.endswith(DIGEST)


FOREIGN = f"is not from this environment's repository {STAGING_REPO}/ml-service"
UNPINNED = "is not pinned by digest (a tag can be moved)"


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("docker.io/someone/ml-service:latest", FOREIGN),
        (f"docker.io/someone/ml-service@{DIGEST}", FOREIGN),
        (f"{STAGING_REPO}/ml-service:1.4.0", UNPINNED),
        (f"{STAGING_REPO}/api-gateway@{DIGEST}", FOREIGN),
        (
            f"us-central1-docker.pkg.dev/clarity-loop-production/clarity/ml-service@{DIGEST}",
            FOREIGN,
        ),
        (f"{STAGING_REPO}/ml-service@sha256:abc", UNPINNED),
    ],
)
def test_images_not_pinned_in_the_environments_repository_are_refused(
    image: str, problem: str
) -> None:
    settings = load_settings("staging", SETTINGS)
    with pytest.raises(ConfigError, match=re.escape(problem)) as caught:
        build_plan(settings, version="1.4.0", images={"ml-service": image}, only=("ml-service",))
    assert f"pass --image ml-service={STAGING_REPO}/ml-service@sha256:<digest>" in str(caught.value)
    assert f"for ml-service {problem}. staging only runs" in str(caught.value)
    # staging allows no override, and says nothing of one
    assert "as `dagger call publish` printed it. Nothing was changed" in str(caught.value)
    with pytest.raises(ConfigError, match=re.escape(problem)):  # nor does the flag change that
        build_plan(
            settings,
            version="1.4.0",
            images={"ml-service": image},
            only=("ml-service",),
            image_override=True,
        )


def test_without_an_image_the_tag_settings_derive_is_refused_but_a_dry_run_notes_it() -> None:
    settings = load_settings("staging", SETTINGS)
    with pytest.raises(ConfigError, match="is not pinned by digest"):
        build_plan(settings, version="1.4.0")
    plan = build_plan(settings, version="1.4.0", dry_run=True)
    assert plan.services[0].image == f"{STAGING_REPO}/ml-service:1.4.0"
    assert len(plan.notes) == 2
    assert "note: a real run refuses this: image" in plan.describe()


def test_dev_accepts_another_image_only_with_the_explicit_override_and_says_so() -> None:
    settings = load_settings("dev", SETTINGS)
    assert settings.rollout.allow_image_override
    image = {"ml-service": "docker.io/someone/ml-service:latest"}
    with pytest.raises(ConfigError) as caught:
        build_plan(settings, version="1.4.0", images=image, only=("ml-service",))
    assert str(caught.value).endswith(
        "printed it (or, in dev only, add --allow-image-override). Nothing was changed"
    )
    plan = build_plan(
        settings, version="1.4.0", images=image, only=("ml-service",), image_override=True
    )
    (override,) = plan.overrides
    assert override.startswith(
        "image override: ml-service runs docker.io/someone/ml-service:latest"
    )
    assert "note: image override: ml-service" in plan.describe()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"version": "one"}, "malformed version"),
        ({"version": "1.0.0", "commit": "not-a-sha"}, "malformed commit"),
        ({"version": "1.0.0", "only": ("web",)}, "unknown service 'web'"),
        ({"version": "1.0.0", "images": {"ml-service": "reg/ml-service"}}, "tag or digest"),
        ({"version": "1.0.0", "images": {"frontend": "reg/x:1"}}, "unknown service 'frontend'"),
    ],
)
def test_plan_rejects_bad_input(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_plan(load_settings("dev", SETTINGS), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        ({"rollout.failure_threshold": 0}, r"1 <= failure_threshold <= probes_per_step"),
        ({"rollout.probes_per_step": 0}, r"need probes_per_step >= 1"),
        ({"rollout.steps": [25, 25, 100]}, r"increasing percentages ending at 100, not \[25, 25"),
        ({"rollout.steps": [50, 100, 100]}, r"increasing percentages ending at 100"),
        ({"rollout.steps": [0, 100]}, r"increasing percentages ending at 100"),
        ({"rollout.steps": [50, 101]}, r"increasing percentages ending at 100"),
        ({"rollout.steps": []}, r"increasing percentages ending at 100"),
        ({"rollout.analysis_interval_seconds": -1}, r"analysis_interval_seconds must be >= 0"),
        ({"rollout.ready_timeout_seconds": 0}, r"ready_timeout_seconds > 0"),
    ],
)
def test_rollout_policy_edges_are_refused(
    tmp_path: Path, mutate: dict[str, object], message: str
) -> None:
    """Boundaries a plausible slip would move: a threshold of 0 fails every step at once, a
    repeated step doubles the exposure at that percentage."""
    with pytest.raises(ConfigError, match=message):
        load_settings("dev", _write(tmp_path, "dev", mutate))


def test_rollout_policy_boundaries_that_are_allowed(tmp_path: Path) -> None:
    settings = load_settings(
        "dev",
        _write(
            tmp_path,
            "dev",
            {
                "rollout.steps": [1, 100],
                "rollout.failure_threshold": 3,
                "rollout.probes_per_step": 3,
                "rollout.analysis_interval_seconds": 0,
            },
        ),
    )
    assert settings.rollout.steps == (1, 100)
    assert settings.rollout.failure_threshold == settings.rollout.probes_per_step == 3
    assert settings.rollout.analysis_interval_seconds == 0


def _dev_without(*dotted: str, **changes: object) -> dict[str, object]:
    data: dict[str, object] = json.loads((SETTINGS / "dev" / "settings.json").read_text())
    for path in dotted:
        node = data
        *parents, leaf = path.split(".")
        for key in parents:
            node = node[key]  # type: ignore[assignment]
        del node[leaf]
    if changes:
        rollout = data["rollout"]
        assert isinstance(rollout, dict)
        rollout.update(changes)
    return data


OPTIONAL = (
    "steps",
    "analysis_interval_seconds",
    "probes_per_step",
    "failure_threshold",
    "ready_timeout_seconds",
    "require_approval",
    "bake_seconds",
    "lease_seconds",
    "prune",
)


def test_optional_rollout_keys_take_their_documented_defaults() -> None:
    data = _dev_without(*(f"rollout.{key}" for key in OPTIONAL))
    policy = parse_settings(json.dumps(data), "dev", where="dev.json").rollout
    assert policy.steps == (100,)
    assert policy.analysis_interval_seconds == 30
    assert (policy.probes_per_step, policy.failure_threshold) == (3, 2)
    assert policy.ready_timeout_seconds == 300
    assert policy.require_approval is False
    assert policy.bake_seconds == 0
    assert policy.lease_seconds == 60
    assert policy.prune == PrunePolicy()
    # ...and the file's own values where it has them.
    dev = load_settings("dev", SETTINGS).rollout
    assert dev.prune != PrunePolicy()
    assert dev.prune.enabled


def test_blue_green_has_one_step_whatever_the_file_lists() -> None:
    data = _dev_without(strategy="blue-green", steps=[10, 50, 100])
    assert parse_settings(json.dumps(data), "dev", where="dev.json").rollout.steps == (100,)


def test_the_smallest_windows_and_leases_are_allowed() -> None:
    data = _dev_without(
        probes_per_step=1, failure_threshold=1, lease_seconds=0.5, ready_timeout_seconds=0.5
    )
    policy = parse_settings(json.dumps(data), "dev", where="dev.json").rollout
    assert (policy.probes_per_step, policy.failure_threshold) == (1, 1)
    assert (policy.lease_seconds, policy.ready_timeout_seconds) == (0.5, 0.5)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_dev_without("project_id"), "has no 'project_id'"),
        (_dev_without("region"), "has no 'region'"),
        (_dev_without("monitoring_enabled"), "has no 'monitoring_enabled'"),
        (_dev_without("services"), "has no 'services'"),
        (_dev_without("rollout"), "has no 'rollout'"),
        ({**_dev_without(), "project_id": "X"}, "not a valid Google Cloud project id"),
        ({**_dev_without(), "region": "moon"}, "not a Cloud Run region"),
        (
            {**_dev_without(), "artifact_registry": {"repository": "Bad Repo"}},
            "repository",
        ),
        ({**_dev_without(), "services": []}, "services"),
        (_dev_without(lease_seconds=0), "lease_seconds"),
        (_dev_without(prune={"enabled": True, "keep": 0}), "rollout.prune"),
        (
            {**_dev_without(), "health_checks": [{"service": "web", "path": "/health"}]},
            "health_checks",
        ),
        (
            {
                **_dev_without(),
                "transaction_checks": [{"service": "web", "kind": "x", "path": "/x"}],
            },
            "transaction_checks",
        ),
    ],
)
def test_every_refusal_names_the_file(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        parse_settings(json.dumps(data), "dev", where="settings/dev.json")
    assert str(caught.value).startswith("settings/dev.json"), str(caught.value)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        ({"services.ml-service": "clarity-ml-service"}, r"services.ml-service: expected an object"),
        ({"services.ml-service.name": ""}, r"'name' must be a non-empty string"),
        ({"rollout": []}, r"rollout: expected an object"),
        ({"region": 7}, r"invalid region 7: not a Cloud Run region such as us-central1"),
    ],
)
def test_malformed_shapes_name_the_key(
    tmp_path: Path, mutate: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings("dev", _write(tmp_path, "dev", mutate))
