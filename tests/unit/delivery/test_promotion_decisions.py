"""Which digests a release may take into prod: the records of staging decide, nothing else."""

from __future__ import annotations

import json

import pytest
from clarity_delivery import ConfigError, load_settings
from clarity_delivery._errors import PromotionRefused
from clarity_delivery.ledger import DeploymentRecord
from clarity_delivery.promotion import (
    StagedRelease,
    check_verified,
    digest_of,
    plan_promotion,
    promotion_source,
    repository_of,
    staged_release,
)

pytestmark = pytest.mark.unit

STAGING = load_settings("staging")
PROD = load_settings("prod")
COMMIT = "0123456789abcdef0123456789abcdef01234567"  # pragma: allowlist secret
OTHER_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"  # pragma: allowlist secret
REPO = "us-central1-docker.pkg.dev/clarity-loop-staging/clarity"
PROD_REPO = "us-central1-docker.pkg.dev/clarity-loop-production/clarity"
GATEWAY = f"{REPO}/api-gateway@sha256:{'a' * 64}"
ML = f"{REPO}/ml-service@sha256:{'b' * 64}"


def record(
    id_: str,
    *,
    at: float,
    version: str = "1.4.0",
    commit: str = COMMIT,
    outcome: str = "succeeded",
    kind: str = "rollout",
    images: dict[str, str] | None = None,
    environment: str = "staging",
) -> DeploymentRecord:
    return DeploymentRecord(
        id=id_,
        kind=kind,  # type: ignore[arg-type]
        environment=environment,
        version=version,
        commit=commit,
        services=["ml-service", "api-gateway"],
        strategy="canary",
        started_at=at,
        ended_at=at + 60,
        outcome=outcome,  # type: ignore[arg-type]
        images={"api-gateway": GATEWAY, "ml-service": ML} if images is None else images,
    )


def test_the_newest_succeeded_rollout_of_the_version_at_the_commit_is_staged() -> None:
    records = [
        record("old", at=1, version="1.3.0"),
        record("first", at=2, images={"api-gateway": GATEWAY, "ml-service": ML}),
        record("other-commit", at=3, commit=OTHER_COMMIT),
    ]
    staged = staged_release(records, STAGING, version="v1.4.0", commit=COMMIT[:7])
    assert staged.record == "first"
    assert staged.version == "1.4.0"
    assert staged.images == {"api-gateway": GATEWAY, "ml-service": ML}
    assert StagedRelease.from_json(staged.to_json()) == staged


def test_a_tag_in_a_recorded_reference_is_dropped_the_digest_decides() -> None:
    tagged = {"api-gateway": GATEWAY.replace("@", ":1.4.0@"), "ml-service": ML}
    staged = staged_release([record("r", at=1, images=tagged)], STAGING, version="1.4.0")
    assert staged.images["api-gateway"] == GATEWAY


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        pytest.param([], "1.4.0 at 0123456789ab did not pass staging: never", id="never-deployed"),
        pytest.param(
            [record("r", at=1, outcome="rolled_back")],
            "its rollouts there ended 1.4.0 (0123456, rolled_back)",
            id="rolled-back",
        ),
        pytest.param(
            [record("r", at=1, environment="dev")],
            "did not pass staging: never",
            id="only-in-dev",
        ),
        pytest.param(
            [record("r", at=1, commit=OTHER_COMMIT)],
            "did not pass staging: never",
            id="another-commit",
        ),
        pytest.param(
            [record("r", at=1, images={"api-gateway": GATEWAY})],
            "names no image for ml-service",
            id="partial",
        ),
        pytest.param(
            [record("r", at=1, images={})],
            "recorded before images were",
            id="before-images-were-recorded",
        ),
        pytest.param(
            [
                record(
                    "r",
                    at=1,
                    images={"api-gateway": GATEWAY, "ml-service": f"{REPO}/ml-service:1.4.0"},
                )
            ],
            "not an image pinned by digest in us-central1-docker.pkg.dev/clarity-loop-staging/clarity/ml-service",
            id="tag-only",
        ),
        pytest.param(
            [
                record(
                    "r",
                    at=1,
                    images={"api-gateway": GATEWAY, "ml-service": ML.replace("staging", "dev")},
                )
            ],
            "only what staging published and verified is promoted",
            id="another-registry",
        ),
        pytest.param(
            [record("ok", at=1), record("again", at=2, outcome="rolled_back")],
            "a later rollout of the same images to staging ended rolled_back (record again)",
            id="same-digests-failed-later",
        ),
        pytest.param(
            [
                record("ok", at=1),
                record("back", at=2, kind="rollback", version="1.3.0", images={}),
            ],
            "staging was rolled back from 1.4.0 to 1.3.0 after it was released (record back)",
            id="rolled-back-by-hand",
        ),
    ],
)
def test_anything_short_of_a_pass_is_refused_with_what_the_records_show(
    records: list[DeploymentRecord], expected: str
) -> None:
    with pytest.raises(PromotionRefused) as refused:
        staged_release(records, STAGING, version="1.4.0", commit=COMMIT)
    assert expected in refused.value.message
    assert refused.value.exit_code == 2


def test_later_releases_and_a_rollback_to_the_version_itself_do_not_refuse_it() -> None:
    later_version = {"api-gateway": GATEWAY.replace("a" * 64, "c" * 64), "ml-service": ML}
    records = [
        record("ok", at=1),
        record("next", at=2, version="1.5.0", outcome="rolled_back", images=later_version),
        record("back-to-it", at=3, kind="rollback", version="1.4.0", images={}),
    ]
    assert staged_release(records, STAGING, version="1.4.0").record == "ok"


def test_a_rebuild_of_the_version_that_failed_later_does_not_taint_other_digests() -> None:
    rebuilt = {
        "api-gateway": GATEWAY.replace("a" * 64, "d" * 64),
        "ml-service": ML.replace("b" * 64, "e" * 64),
    }
    records = [record("ok", at=1), record("rebuilt", at=2, outcome="failed", images=rebuilt)]
    assert staged_release(records, STAGING, version="1.4.0").record == "ok"


def test_the_promotion_copies_each_digest_into_prods_repository_tagged_with_the_version() -> None:
    staged = staged_release([record("r", at=1)], STAGING, version="1.4.0")
    promotion = plan_promotion(staged, STAGING, PROD)
    assert [c.service for c in promotion.copies] == ["ml-service", "api-gateway"]
    assert promotion.images == {
        "api-gateway": f"{PROD_REPO}/api-gateway@sha256:{'a' * 64}",
        "ml-service": f"{PROD_REPO}/ml-service@sha256:{'b' * 64}",
    }
    assert {c.tag for c in promotion.copies} == {"1.4.0"}
    assert [c.digest for c in promotion.copies] == [f"sha256:{'b' * 64}", f"sha256:{'a' * 64}"]
    data = json.loads(promotion.to_json())
    assert data["record"] == "r"
    assert (data["from"], data["to"]) == ("staging", "prod")
    assert data["sources"] == {"api-gateway": GATEWAY, "ml-service": ML}


def test_only_prod_is_promoted_and_only_from_staging() -> None:
    assert promotion_source("prod") == "staging"
    with pytest.raises(ConfigError, match="staging is not deployed by promotion"):
        promotion_source("staging")
    with pytest.raises(ConfigError, match="prod promotes only from staging, not from dev"):
        promotion_source("prod", "dev")
    staged = staged_release([record("r", at=1)], STAGING, version="1.4.0")
    with pytest.raises(ConfigError, match="prod promotes only from staging"):
        plan_promotion(staged, load_settings("dev"), PROD)


def test_the_verified_images_must_be_exactly_the_staged_ones() -> None:
    staged = staged_release([record("r", at=1)], STAGING, version="1.4.0")
    check_verified(staged, {"api-gateway": GATEWAY, "ml-service": ML.replace("@", ":1.4.0@")})
    for verified in (
        {"api-gateway": GATEWAY},
        {"api-gateway": GATEWAY, "ml-service": ML.replace("b" * 64, "e" * 64)},
        {"api-gateway": GATEWAY, "ml-service": f"{REPO}/ml-service:1.4.0"},
        {"api-gateway": GATEWAY, "ml-service": ML, "web": ML},
    ):
        with pytest.raises(PromotionRefused, match="are not those staging's record r holds"):
            check_verified(staged, verified)


def test_references_and_repositories() -> None:
    assert digest_of(f"{REPO}/x:1.0@sha256:{'f' * 64}") == (f"{REPO}/x", f"sha256:{'f' * 64}")
    assert digest_of("127.0.0.1:5000/a/b@sha256:" + "0" * 64) == (
        "127.0.0.1:5000/a/b",
        "sha256:" + "0" * 64,
    )
    assert digest_of(f"{REPO}/x:1.0") is None
    assert digest_of(f"{REPO}/x@sha256:short") is None
    assert repository_of(PROD, "ml-service") == f"{PROD_REPO}/ml-service"
    with pytest.raises(ConfigError, match="unknown service 'web'"):
        repository_of(PROD, "web")


@pytest.mark.parametrize("text", ["[]", "{}", "not json", '{"images": "x"}'])
def test_a_staged_release_that_is_not_one_is_bad_input(text: str) -> None:
    with pytest.raises(ConfigError, match="not a staged release"):
        StagedRelease.from_json(text)
