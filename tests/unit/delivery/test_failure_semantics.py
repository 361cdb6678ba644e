"""What a fault means, without a network: error bodies, retries and their notices, what counts as
someone else's change, the lease and what the next command does about it, and the settings that
bound it all."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import pytest
import requests
from clarity_delivery import (
    ConfigError,
    load_settings,
    parse_settings,
    parse_version,
    revision_name,
)
from clarity_delivery import _state as st
from clarity_delivery._apierrors import describe, map_error, status_of
from clarity_delivery._cloudrun import ServicePath
from clarity_delivery._errors import (
    ConcurrentRollout,
    DeployError,
    OperationFailed,
    RevisionNameTaken,
    ServiceUnreachable,
)
from clarity_delivery._retrying import Attempts, RetryNotice, RetryPolicy
from clarity_delivery.lease import Heartbeat
from clarity_delivery.plan import TrafficSplit, label_value
from clarity_delivery.recovery import outlook
from clarity_delivery.rollback import is_ours, manual_restore
from clarity_delivery.traffic import LeaseChange, TrafficChange, owned_changes
from google.api_core import exceptions as gexc
from google.cloud import run_v2

from tests.unit.delivery.states import rollout_state

pytestmark = pytest.mark.unit

SETTINGS = Path(__file__).resolve().parents[3] / "terraform" / "environments"
REVISION = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION


def _conflict(status: str, message: str) -> gexc.Conflict:
    """A 409 as the REST client raises it: the body's ``status`` is the only difference."""
    response = requests.Response()
    response.status_code = 409
    response._content = json.dumps(
        {"error": {"code": 409, "message": message, "status": status}}
    ).encode()
    return gexc.Conflict(message, response=response)


def _service(
    traffic: dict[str, tuple[int, str]], state: st.RolloutState | None = None
) -> run_v2.Service:
    service = run_v2.Service(
        name="projects/p/locations/us-central1/services/svc",
        traffic=[
            run_v2.TrafficTarget(type_=REVISION, revision=rev, percent=pct, tag=tag)
            for rev, (pct, tag) in traffic.items()
        ],
    )
    if state is not None:
        service.annotations[st.ROLLOUT_ANNOTATION] = state.to_json()
    return service


# ---------------------------------------------------------------- errors


def test_409_aborted_and_already_exists_are_told_apart_by_the_body() -> None:
    aborted = _conflict("ABORTED", "etag mismatch")
    taken = _conflict("ALREADY_EXISTS", "Revision named 'svc-1' with different configuration")
    assert status_of(aborted) == "ABORTED"
    assert status_of(taken) == "ALREADY_EXISTS"
    assert type(map_error(aborted, "update service svc", "svc", "p")) is ConcurrentRollout
    name_taken = map_error(taken, "update service svc", "svc", "p")
    assert isinstance(name_taken, RevisionNameTaken)
    assert not isinstance(name_taken, ConcurrentRollout)
    assert name_taken.exit_code == 1
    assert "deploy again" in name_taken.message


def test_an_unreachable_api_says_how_many_attempts_were_made() -> None:
    error = map_error(
        gexc.ServiceUnavailable("unavailable"), "read service svc", "svc", "p", attempts=5
    )
    assert isinstance(error, ServiceUnreachable)
    assert "after 5 attempts" in error.message
    assert describe(gexc.TooManyRequests("Quota exceeded")) == "429 Quota exceeded"
    assert isinstance(map_error(gexc.FailedPrecondition("x"), "w", "svc", "p"), OperationFailed)


def test_an_error_message_is_cause_state_and_advice_on_one_line() -> None:
    error = DeployError("could not update service svc", advice="Retry.")
    assert error.message == "could not update service svc. Retry."
    error.state = "svc-old serves 100% of svc again"
    assert error.message == (
        "could not update service svc. Production: svc-old serves 100% of svc again. Retry."
    )
    assert "\n" not in error.message
    assert DeployError("plain").message == "plain"


# ---------------------------------------------------------------- retries


def test_each_retry_is_announced_with_its_attempt_and_wait_until_none_are_left() -> None:
    notices: list[RetryNotice] = []
    slept: list[float] = []
    attempts = Attempts(
        "update service svc",
        RetryPolicy(attempts=3, initial=1.0, multiplier=2.0),
        sleep=slept.append,
        notify=notices.append,
    )
    assert attempts.retry_after("503 unavailable")
    assert attempts.retry_after("503 unavailable")
    assert not attempts.retry_after("503 unavailable")
    assert [(n.attempt, n.attempts) for n in notices] == [(1, 3), (2, 3)]
    assert [n.wait_seconds for n in notices] == slept
    assert 0.8 <= slept[0] <= 1.2
    assert 1.6 <= slept[1] <= 2.4
    assert attempts.made == 3
    assert notices[0].describe() == (
        f"update service svc: 503 unavailable; attempt 1 of 3 failed, retrying in {slept[0]:.1f}s"
    )


# ---------------------------------------------------------------- changes and conflicts


def test_only_traffic_rollout_state_and_template_revision_are_someone_elses_change() -> None:
    ours = rollout_state()
    base = _service({"svc-old": (75, "stable"), "svc-new": (25, "candidate")}, ours)
    labelled = run_v2.Service.deserialize(run_v2.Service.serialize(base))
    labelled.labels["terraform"] = "yes"
    labelled.etag = "moved"
    assert owned_changes(base, labelled) is None
    moved = _service({"svc-old": (100, "stable")}, ours)
    assert "changed the traffic" in str(owned_changes(base, moved))
    cleared = _service({"svc-old": (75, "stable"), "svc-new": (25, "candidate")})
    assert "took over" in str(owned_changes(base, cleared))
    theirs = _service({"svc-old": (100, "stable")}, rollout_state(id="r2", owner="runner-b:1:x"))
    assert "another rollout (r2 of 1.1.0, by runner-b:1:x) holds svc" in str(
        owned_changes(base, theirs)
    )


def test_a_traffic_change_knows_when_it_landed_and_a_takeover_ignores_conflicts() -> None:
    base = _service({"svc-old": (100, "stable")})
    split = TrafficSplit.canary("svc-old", "svc-new", 25)
    change = TrafficChange(split, rollout_state().to_json())
    written = change.apply(base)
    assert change.landed(written)
    assert not change.landed(base)
    assert list(change.fields) == ["traffic", "annotations"]
    other = _service({"svc-old": (50, "stable"), "svc-new": (50, "candidate")})
    assert change.conflict(base, other) is not None
    assert TrafficChange(split, None, takeover=True).conflict(base, other) is None
    renewal = LeaseChange(rollout_state(percent=50).to_json())
    assert renewal.landed(renewal.apply(written))
    assert list(renewal.fields) == ["annotations"]


def test_a_service_is_ours_while_our_lease_is_on_it_or_our_candidate_is_stable() -> None:
    assert is_ours(_service({"svc-old": (100, "stable")}, rollout_state()), "r1", "svc-new")
    assert not is_ours(
        _service({"svc-old": (100, "stable")}, rollout_state(id="r2")), "r1", "svc-new"
    )
    assert is_ours(
        _service({"svc-new": (100, "stable"), "svc-old": (0, "previous")}), "r1", "svc-new"
    )
    assert not is_ours(_service({"svc-old": (100, "stable")}), "r1", "svc-new")
    path = ServicePath("proj", "us-central1", "svc")
    assert manual_restore(path, "svc-old") == (
        "gcloud run services update-traffic svc --to-revisions=svc-old=100 "
        "--region=us-central1 --project=proj"
    )


# ---------------------------------------------------------------- the lease


def test_a_live_lease_is_waited_out_by_a_deploy_and_taken_over_by_a_rollback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(st.HOST_ENV, "runner-b")
    now = time.time()
    live = outlook(rollout_state(heartbeat=now - 10), now)
    assert not live.abandoned
    assert 49 < live.expires_in <= 50
    assert live.describe_expiry().startswith("expires in 50s (at ")
    assert live.next_deploy.startswith("refused (exit 3) until the lease expires")
    assert live.next_rollback == "takes it over at once"
    gone = outlook(rollout_state(heartbeat=now - 70), now)
    assert gone.abandoned
    assert gone.describe_expiry() == "expired 10s ago"
    assert gone.next_deploy.startswith("rolls it back to svc-old first")


def test_the_deployer_host_comes_from_the_environment_and_renewals_move_the_heartbeat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(st.HOST_ENV, "runner-a")
    assert st.owner_id().startswith("runner-a:")
    old = rollout_state(heartbeat=100.0, lease_seconds=360.0)
    new = old.renewed(percent=50, lease_seconds=60.0)
    assert (new.percent, new.lease_seconds, new.id) == (50, 60.0, "r1")
    assert new.heartbeat > old.heartbeat
    assert new.expires_at == new.heartbeat + 60.0
    # A dead process on this host is abandoned at once; one on another host only by its lease.
    dead_here = rollout_state(owner="runner-a:999999999:x")
    assert dead_here.abandoned(time.time())
    assert not rollout_state(owner="runner-c:999999999:x").abandoned(time.time())


class _Lease:
    """A lease due every ``every`` seconds of the (fake) clock the sleeps advance."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.clock = 0.0
        self.renewed_at: list[float] = []
        self._due = every

    def due_in(self) -> float:
        return self._due - self.clock

    async def renew(self) -> None:
        self.renewed_at.append(self.clock)
        self._due = self.clock + self.every


def test_the_heartbeat_renews_a_held_lease_while_sleeping_and_only_then() -> None:
    lease = _Lease(every=1.5)

    async def fake_sleep(seconds: float) -> None:
        lease.clock += seconds

    async def run() -> None:
        beat = Heartbeat(fake_sleep)
        await beat.sleep(4.0)  # nothing held: a plain sleep
        assert lease.renewed_at == []
        with beat.keeping(lease):
            await beat.sleep(4.0)
        await beat.sleep(4.0)

    anyio.run(run)
    assert lease.renewed_at == [4.0, 5.5, 7.0]  # overdue on entry, then every 1.5 s
    assert lease.clock == 12.0


# ---------------------------------------------------------------- settings


def _settings(env: str = "dev", **rollout: object) -> str:
    data = json.loads((SETTINGS / env / "settings.json").read_text())
    data["rollout"].update(rollout)
    return json.dumps(data)


def test_the_lease_is_short_by_default_and_the_candidates_covers_its_creation() -> None:
    dev = load_settings("dev", SETTINGS).rollout
    assert dev.lease_seconds == 60
    assert dev.creation_lease_seconds == dev.ready_timeout_seconds + 60
    with pytest.raises(ConfigError, match="lease_seconds must be > 0"):
        parse_settings(_settings(lease_seconds=0), "dev", where="x.json")


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_only_dev_may_allow_an_image_override(env: str) -> None:
    assert not load_settings(env, SETTINGS).rollout.allow_image_override
    with pytest.raises(ConfigError, match="allow_image_override may only be true for dev"):
        parse_settings(_settings(env, allow_image_override=True), env, where="x.json")
    with pytest.raises(ConfigError, match="must be true or false"):
        parse_settings(_settings(env, allow_image_override="yes"), env, where="x.json")


def test_a_service_name_must_leave_room_for_every_rollout_tag() -> None:
    data = json.loads(_settings())
    data["services"]["ml-service"]["name"] = "clarity-" + "m" * 30  # 38 + "candidate" > 46
    with pytest.raises(ConfigError, match=r"at most 46 characters.*use at most 37"):
        parse_settings(json.dumps(data), "dev", where="x.json")
    longest = "clarity-" + "m" * 29
    data["services"]["ml-service"]["name"] = longest
    assert parse_settings(json.dumps(data), "dev", where="x.json").services["ml-service"].name
    # ...which leaves room for a whole revision name of a long version, commit and retry.
    name = revision_name(longest, parse_version("10.20.30-rc.1"), "abcdef1234", attempt=10)
    assert name == f"{longest}-10-20-30-rc-1-abcdef1-r10"
    assert len(name) <= 63


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1.4.0", "1-4-0"),
        ("1.4.0-RC.1+Build.7", "1-4-0-rc-1-build-7"),
        ("9" * 80, "9" * 63),
    ],
)
def test_label_values_are_lowercase_and_at_most_63_characters(text: str, value: str) -> None:
    assert label_value(text) == value
