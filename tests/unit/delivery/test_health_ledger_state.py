"""Probing, step analysis, credentials, the ledger and report, and rollout state on a service."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from clarity_delivery import ConfigError, CredentialsError
from clarity_delivery import _state as st
from clarity_delivery._auth import GoogleIdTokens, load_credentials
from clarity_delivery.analysis import Analysis, Prober, ProbeResult, RoundResult
from clarity_delivery.ledger import DeploymentRecord, Ledger, StepRecord, build_report, percentile
from clarity_delivery.plan import TrafficSplit
from clarity_delivery.settings import HealthCheck, RolloutPolicy
from google.cloud import run_v2

from tests.doubles.oauth import TokenEndpoint

pytestmark = pytest.mark.unit

CHECK = HealthCheck(service="api-gateway", path="/health")
DB = HealthCheck(service="api-gateway", path="/health/database", expected_status=200)


class StaticTokens:
    def __init__(self) -> None:
        self.audiences: list[str] = []

    def token(self, audience: str) -> str:
        self.audiences.append(audience)
        return "token-for-" + audience


def _policy(probes: int = 3, threshold: int = 2) -> RolloutPolicy:
    return RolloutPolicy(
        strategy="canary",
        steps=(50, 100),
        analysis_interval_seconds=0,
        probes_per_step=probes,
        failure_threshold=threshold,
        ready_timeout_seconds=10,
        require_approval=False,
    )


def _round(ok: bool, at: float = 0.0) -> RoundResult:
    result = ProbeResult(
        check=CHECK,
        url="u",
        ok=ok,
        status=200 if ok else 500,
        revision=None,
        latency=0.01,
        detail="ok" if ok else "answered 500, expected 200",
    )
    return RoundResult(at=at, results=(result,))


def test_analysis_fails_as_soon_as_the_threshold_is_reached() -> None:
    analysis = Analysis(_policy(probes=5, threshold=2))
    analysis.record(_round(True))
    analysis.record(_round(False, at=1.0))
    assert not analysis.done
    analysis.record(_round(False, at=2.0))
    assert (analysis.failed, analysis.done) == (True, True)
    assert analysis.first_failure_at == 1.0
    analysis.record(_round(True))  # ignored once decided
    assert len(analysis.rounds) == 3
    assert analysis.reasons() == ["GET /health failed: answered 500, expected 200"]


def test_analysis_passes_after_all_rounds_with_failures_below_threshold() -> None:
    analysis = Analysis(_policy(probes=3, threshold=2))
    for ok in (True, False, True):
        analysis.record(_round(ok))
    assert analysis.done
    assert not analysis.failed
    assert analysis.failed_rounds == 1


def _prober(handler: httpx.MockTransport) -> tuple[Prober, StaticTokens]:
    tokens = StaticTokens()
    return Prober(tokens, transport=handler), tokens


def test_probe_round_checks_status_revision_and_sends_the_id_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/health":
            return httpx.Response(200, json={"status": "ok", "revision": "rev-2"})
        return httpx.Response(503, json={"status": "down", "reason": "firestore unreachable"})

    prober, tokens = _prober(httpx.MockTransport(handler))
    result = anyio.run(
        lambda: prober.round(
            "https://svc.example", (CHECK, DB), audience="https://aud", expect_revision="rev-2"
        )
    )
    assert tokens.audiences == ["https://aud"]
    assert {r.headers["authorization"] for r in seen} == {"Bearer token-for-https://aud"}
    assert [r.check.path for r in result.results] == ["/health", "/health/database"]
    assert result.results[0].ok
    assert result.results[0].revision == "rev-2"
    assert not result.ok
    assert result.failures() == [
        "GET /health/database failed: answered 503, expected 200: "
        '\'{"status":"down","reason":"firestore unreachable"}\''
    ]


def test_probe_fails_when_another_revision_answers() -> None:
    prober, _ = _prober(
        httpx.MockTransport(lambda _: httpx.Response(200, json={"revision": "rev-1"}))
    )
    result = anyio.run(
        lambda: prober.round("https://svc", (CHECK,), audience="a", expect_revision="rev-2")
    )
    assert result.failures() == ["GET /health failed: answered by revision rev-1, expected rev-2"]


def test_probe_reports_connection_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        msg = "connection refused"
        raise httpx.ConnectError(msg, request=request)

    prober, _ = _prober(httpx.MockTransport(refuse))
    result = anyio.run(lambda: prober.round("https://svc", (CHECK,), audience="a"))
    assert not result.ok
    assert "ConnectError: connection refused" in result.failures()[0]


@pytest.fixture
def token_endpoint() -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint().start()
    yield endpoint
    endpoint.stop()


def test_service_account_credentials_mint_cached_id_tokens(
    tmp_path: Path, token_endpoint: TokenEndpoint
) -> None:
    creds_file = token_endpoint.write_credentials(tmp_path / "sa.json")
    assert oct(creds_file.stat().st_mode & 0o777) == "0o600"
    tokens = GoogleIdTokens(load_credentials(creds_file))
    first = tokens.token("https://api.example.run.app")
    assert tokens.token("https://api.example.run.app") == first
    assert token_endpoint.id_tokens_for("https://api.example.run.app") == 1
    payload = json.loads(__import__("base64").urlsafe_b64decode(first.split(".")[1] + "=="))
    assert payload["aud"] == "https://api.example.run.app"
    assert payload["email"] == token_endpoint.email


def test_missing_credentials_file_is_a_credentials_error(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="does not exist"):
        load_credentials(tmp_path / "nope.json")


def test_no_credentials_at_all_says_how_to_provide_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert os.environ["NO_GCE_CHECK"] == "true"
    with pytest.raises(CredentialsError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        load_credentials(None)


def test_a_key_the_endpoint_did_not_issue_cannot_mint_tokens(
    tmp_path: Path, token_endpoint: TokenEndpoint
) -> None:
    other = TokenEndpoint()
    forged = other.write_credentials(tmp_path / "forged.json")
    other.stop()
    info = json.loads(forged.read_text())
    info["token_uri"] = token_endpoint.token_uri
    forged.write_text(json.dumps(info))
    with pytest.raises(CredentialsError, match="could not mint an ID token"):
        GoogleIdTokens(load_credentials(forged)).token("https://aud")


def _record(
    env: str, outcome: str, duration: float, ttr: float | None = None, kind: str = "rollout"
) -> DeploymentRecord:
    return DeploymentRecord(
        id="x",
        kind=kind,  # type: ignore[arg-type]
        environment=env,
        version="1.0.0",
        commit="",
        services=["api-gateway"],
        strategy="canary",
        started_at=1000.0,
        ended_at=1000.0 + duration,
        outcome=outcome,  # type: ignore[arg-type]
        time_to_rollback_seconds=ttr,
    )


def test_ledger_round_trips_and_report_computes_targets(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l" / "deployments.jsonl")
    rec = _record("prod", "succeeded", 120.0)
    rec.steps.append(
        StepRecord(
            service="api-gateway",
            percent=100,
            started_at=1.0,
            duration_seconds=2.0,
            rounds=3,
            failed_rounds=0,
        )
    )
    ledger.append(rec)
    for d in (100.0, 140.0, 700.0):
        ledger.append(_record("prod", "succeeded", d))
    ledger.append(_record("prod", "rolled_back", 50.0, ttr=12.0))
    ledger.append(_record("prod", "succeeded", 5.0, ttr=3.0, kind="rollback"))
    ledger.append(_record("dev", "succeeded", 30.0))
    records = ledger.records()
    assert records[0].steps[0].rounds == 3
    dev, prod = build_report(records)
    assert dev.environment == "dev"
    assert dev.success_rate == 1.0
    assert prod.rollouts == 5
    assert prod.succeeded == 4
    assert prod.success_rate == 0.8
    assert prod.deploy_p50_seconds == 130.0
    assert prod.deploy_p95_seconds == 700.0
    assert prod.rollback_p50_seconds == 7.5
    assert prod.mttr_seconds == 7.5
    assert prod.rollbacks == 1
    assert prod.meets_targets() == {
        "success_rate": False,
        "deploy_duration": False,
        "time_to_rollback": True,
        "mttr": True,
    }
    assert dev.meets_targets()["time_to_rollback"] is None


def test_ledger_errors_name_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no ledger at"):
        Ledger(tmp_path / "missing.jsonl").records()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:1 is not a deployment record"):
        Ledger(bad).records()


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 95) is None
    assert percentile([5.0], 95) == 5.0
    assert percentile([float(i) for i in range(1, 21)], 95) == 19.0


def _service(**annotations: str) -> run_v2.Service:
    service = run_v2.Service(
        name="s", latest_ready_revision="projects/p/locations/r/services/s/revisions/rev-1"
    )
    service.annotations.update(annotations)
    return service


def test_rollout_state_lease_and_dead_owner_detection() -> None:
    now = time.time()
    state = st.RolloutState(
        id="r1",
        version="1.0.0",
        commit="",
        strategy="canary",
        candidate="c",
        stable="s",
        percent=5,
        owner="elsewhere:1",
        heartbeat=now,
        lease_seconds=60,
    )
    assert not state.abandoned(now + 10)
    assert state.abandoned(now + 61)
    mine = st.RolloutState(**{**state.__dict__, "owner": st.owner_id()})
    assert not mine.abandoned(now, host=None)
    dead = st.RolloutState(
        **{**state.__dict__, "owner": f"{socket.gethostname()}:999999999:abc123"}
    )
    assert dead.abandoned(now)
    service = _service(**{st.ROLLOUT_ANNOTATION: state.to_json()})
    assert st.RolloutState.from_service(service) == state
    assert st.RolloutState.from_service(_service(**{st.ROLLOUT_ANNOTATION: "{garbage"})) is None


def test_traffic_views_resolve_latest_and_find_stable() -> None:
    service = _service()
    latest = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
    service.traffic = [run_v2.TrafficTarget(type_=latest, percent=100)]
    assert st.current_split(service) == TrafficSplit.single("rev-1", tag="")
    assert st.stable_revision(service) == "rev-1"
    st.apply_split(service, TrafficSplit.canary("rev-1", "rev-2", 25))
    assert st.stable_revision(service) == "rev-1"
    assert st.tagged_revisions(service) == {"stable": "rev-1", "candidate": "rev-2"}
    assert st.same_split(service, TrafficSplit.canary("rev-1", "rev-2", 25))
    assert not st.same_split(service, TrafficSplit.canary("rev-1", "rev-2", 50))
    service.traffic_statuses = [run_v2.TrafficTargetStatus(tag="candidate", uri="http://c")]
    assert st.tag_url(service, "candidate") == "http://c"
    assert st.tag_url(service, "green") is None


def test_history_is_bounded_and_tolerates_garbage() -> None:
    service = _service()
    for n in range(st.HISTORY_LIMIT + 5):
        service.annotations[st.HISTORY_ANNOTATION] = st.with_history(
            service,
            st.HistoryEntry(version=f"1.0.{n}", revision=f"r{n}", outcome="succeeded", at=float(n)),
        )
    history = st.history_of(service)
    assert len(history) == st.HISTORY_LIMIT
    assert history[-1].version == f"1.0.{st.HISTORY_LIMIT + 4}"
    assert st.history_of(_service(**{st.HISTORY_ANNOTATION: "nope"})) == []


def test_ledger_on_a_service_is_bounded_and_keeps_one_entry_per_id() -> None:
    service = _service()
    for n in range(st.LEDGER_LIMIT + 3):
        record = _record("dev", "succeeded", float(n))
        record.id = f"r{n}"
        service.annotations[st.LEDGER_ANNOTATION] = st.with_ledger(service, record)
    again = _record("dev", "rolled_back", 1.0)
    again.id = f"r{st.LEDGER_LIMIT + 2}"
    service.annotations[st.LEDGER_ANNOTATION] = st.with_ledger(service, again)
    records = st.ledger_of(service)
    assert len(records) == st.LEDGER_LIMIT
    assert records[-1].id == again.id
    assert records[-1].outcome == "rolled_back"
    assert [r.id for r in records].count(again.id) == 1
    assert st.ledger_of(_service(**{st.LEDGER_ANNOTATION: "[{]"})) == []
