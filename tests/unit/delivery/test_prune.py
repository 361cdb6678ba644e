"""Which revisions a clean-up deletes (pure), and the ``rollout.prune`` settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from clarity_delivery import _state as st
from clarity_delivery._errors import ConfigError
from clarity_delivery._prune_settings import PrunePolicy, parse_prune
from clarity_delivery.prune import Pruned, PruneReport, protected_revisions, prunable
from clarity_delivery.render import prune_summary
from google.cloud import run_v2

pytestmark = pytest.mark.unit

SVC = "projects/p/locations/r/services/clarity-ml-service"
REVISION = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION


def _revision(name: str, minute: int) -> run_v2.Revision:
    return run_v2.Revision(
        name=f"{SVC}/revisions/{name}",
        create_time=datetime(2027, 1, 1, 12, minute, tzinfo=UTC),
        annotations={st.VERSION_ANNOTATION: name.rsplit("-", 1)[-1]},
    )


def _service(
    *targets: tuple[str, int, str], lease: st.RolloutState | None = None
) -> run_v2.Service:
    service = run_v2.Service(
        name=SVC,
        traffic=[
            run_v2.TrafficTarget(type_=REVISION, revision=r, percent=p, tag=t)
            for r, p, t in targets
        ],
        latest_created_revision=f"{SVC}/revisions/r-6",
        latest_ready_revision=f"{SVC}/revisions/r-6",
    )
    if lease is not None:
        service.annotations[st.ROLLOUT_ANNOTATION] = lease.to_json()
    return service


REVISIONS = [_revision(f"r-{n}", n) for n in range(1, 7)]  # r-6 newest


def _names(revisions: list[run_v2.Revision]) -> list[str]:
    return [st.short_name(r.name) for r in revisions]


def test_only_untagged_revisions_without_traffic_past_the_newest_n_go() -> None:
    service = _service(("r-6", 100, "stable"), ("r-4", 0, "previous"))
    assert _names(prunable(service, REVISIONS, keep=1)) == ["r-5", "r-3", "r-2", "r-1"]
    assert _names(prunable(service, REVISIONS, keep=3)) == ["r-3", "r-2", "r-1"]
    assert prunable(service, REVISIONS, keep=6) == []


def test_a_rollout_in_progress_keeps_its_candidate_and_stable() -> None:
    lease = st.RolloutState(
        id="x", version="1.0.0", commit="", strategy="canary", candidate="r-2", stable="r-1",
        percent=0, owner="h:1:a", heartbeat=0.0, lease_seconds=60,
    )  # fmt: skip
    # Neither is in traffic nor tagged (the candidate was just created; stable lost its tag).
    service = _service(("r-6", 100, ""), lease=lease)
    assert {"r-1", "r-2", "r-6"} <= protected_revisions(service)
    assert _names(prunable(service, REVISIONS, keep=1)) == ["r-5", "r-4", "r-3"]


def test_what_cloud_run_reports_serving_and_the_latest_revisions_are_kept() -> None:
    service = _service(("r-5", 100, ""))
    service.traffic_statuses = [run_v2.TrafficTargetStatus(revision="r-3", percent=100)]
    service.latest_created_revision = f"{SVC}/revisions/r-4"
    assert _names(prunable(service, REVISIONS, keep=1)) == ["r-2", "r-1"]


def test_prune_settings() -> None:
    assert parse_prune(None, "s.json") == PrunePolicy(enabled=False, keep=5)
    assert parse_prune({"enabled": True, "keep": 2}, "s.json") == PrunePolicy(enabled=True, keep=2)
    for bad, message in (
        ({"enabled": True, "kep": 2}, "unknown key"),
        ({"enabled": "yes"}, "'enabled' must be true or false"),
        ({"enabled": True, "keep": 0}, "at least 1"),
        ({"enabled": True, "keep": 2.5}, "at least 1"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_prune(bad, "s.json")


def test_the_summary_lists_each_revision() -> None:
    report = PruneReport(environment="prod", keep=10, dry_run=False)
    report.revisions += [
        Pruned(service="ml-service", revision="r-1", version="1.0.0", created=0.0),
        Pruned(
            service="ml-service", revision="r-2", version="1.1.0", created=60.0, skipped="it serves"
        ),
    ]
    text = prune_summary(report)
    assert text.startswith("### 🧹 revision clean-up of prod: deleted 1")
    assert "| ml-service | `r-1` | 1.0.0 | 1970-01-01 00:00 UTC | deleted |" in text
    assert "| ml-service | `r-2` | 1.1.0 | 1970-01-01 00:01 UTC | kept: it serves |" in text
