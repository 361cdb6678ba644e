"""What the library reads off a Cloud Run service: which revision is stable, the traffic as
names, the template Terraform wants, and who holds a rollout's lease.

Each case pins a choice a mutation of ``_state.py`` flipped without any test noticing (see
``make mutation``): the ``stable`` tag winning over the busiest revision, the busiest over the
latest ready one, a lease expiring only after its last second, compact annotation values.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time

import pytest
from clarity_delivery import _state as st
from clarity_delivery.plan import TrafficSplit, TrafficTarget
from google.cloud import run_v2

from tests.unit.delivery.states import rollout_state

pytestmark = pytest.mark.unit

REVISIONS = "projects/p/locations/r/services/s/revisions/"
LATEST = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST


def _service(latest: str = "rev-9", **annotations: str) -> run_v2.Service:
    service = run_v2.Service(name="s", latest_ready_revision=REVISIONS + latest if latest else "")
    service.annotations.update(annotations)
    return service


def _routed(*targets: TrafficTarget, latest: str = "rev-9") -> run_v2.Service:
    service = _service(latest)
    st.apply_split(service, TrafficSplit(targets))
    return service


def test_the_revision_tagged_stable_is_stable_even_with_the_least_traffic() -> None:
    service = _routed(TrafficTarget("rev-1", 10, "stable"), TrafficTarget("rev-2", 90, "candidate"))
    assert st.stable_revision(service) == "rev-1"


def test_without_a_stable_tag_the_busiest_revision_is_stable_not_the_latest_ready() -> None:
    service = _routed(TrafficTarget("rev-1", 30, ""), TrafficTarget("rev-2", 70, "old"))
    assert st.stable_revision(service) == "rev-2"
    service = _routed(TrafficTarget("rev-1", 70, ""), TrafficTarget("rev-2", 30, ""))
    assert st.stable_revision(service) == "rev-1"


def test_without_traffic_the_latest_ready_revision_is_stable_and_nothing_is_tagged() -> None:
    assert st.stable_revision(_service("rev-7")) == "rev-7"
    assert st.stable_revision(_service("")) is None
    assert st.current_split(_service("rev-7")) is None
    assert st.tagged_revisions(_service("rev-7")) == {}


def test_latest_traffic_without_a_ready_revision_is_no_split() -> None:
    service = _service("")
    service.traffic = [run_v2.TrafficTarget(type_=LATEST, percent=100)]
    assert st.current_split(service) is None
    assert st.stable_revision(service) is None


def test_short_name_is_the_last_path_segment_and_a_bare_name_itself() -> None:
    assert st.short_name(REVISIONS + "rev-1") == "rev-1"
    assert st.short_name("rev-1") == "rev-1"


def test_template_digest_is_a_digest_of_terraforms_annotation_and_empty_without_one() -> None:
    template = json.dumps({"containers": [{"image": "example/app:1"}]})
    digest = st.template_digest(_service(**{st.TEMPLATE_ANNOTATION: template}))
    assert digest == hashlib.sha256(template.encode()).hexdigest()[:32]
    assert st.template_digest(_service()) == ""
    assert st.template_digest(_service(**{st.TEMPLATE_ANNOTATION: ""})) == ""


def test_a_lease_holds_through_its_last_second() -> None:
    state = rollout_state(heartbeat=1000.0, lease_seconds=60.0)
    assert not state.abandoned(1060.0, host="here")
    assert state.abandoned(1060.001, host="here")


def test_a_live_owner_on_this_host_holds_its_lease_and_is_not_signalled() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        state = rollout_state(owner=f"here:{child.pid}:aa", heartbeat=time.time())
        assert not state.dead_on("here")
        assert not state.abandoned(time.time(), host="here")
        # Asking whether a process lives must not signal it.
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=0.3)
    finally:
        child.kill()
        child.wait()
    assert rollout_state(owner=f"here:{child.pid}:aa").dead_on("here")
    assert not rollout_state(owner=f"here:{os.getpid()}:aa").dead_on("here")
    assert not rollout_state(owner=f"there:{child.pid}:aa").dead_on("here")


def test_renewing_keeps_the_percent_unless_it_moved() -> None:
    state = rollout_state(percent=25)
    assert state.renewed(lease_seconds=30).percent == 25
    assert state.renewed(percent=50, lease_seconds=30).percent == 50
    assert state.renewed(lease_seconds=30).lease_seconds == 30


def test_owner_id_is_host_pid_and_a_six_digit_nonce(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(st.HOST_ENV, "runner-7")
    assert re.fullmatch(rf"runner-7:{os.getpid()}:[0-9a-f]{{6}}", st.owner_id())


def test_annotation_values_are_compact_json() -> None:
    """Cloud Run bounds the size of a service's annotations: no spaces, keys sorted."""
    value = rollout_state().to_json()
    assert value == json.dumps(json.loads(value), sort_keys=True, separators=(",", ":"))
    assert value.startswith('{"candidate":"svc-new","commit":"c0ffee1",')
    history = st.with_history(
        _service(), st.HistoryEntry(version="1.0.0", revision="rev-1", outcome="succeeded", at=1.0)
    )
    assert " " not in history
