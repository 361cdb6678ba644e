"""The journey's verdicts against a gateway double at the transport seam, and its settings.

:class:`GatewayDouble` answers the three routes the journey uses the way the backend does
(idempotent ingestion, batch status, 422 for an impossible value); each test breaks one thing
and checks which step says so. The real backend is the e2e tier's (tests/e2e).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from clarity_delivery import ConfigError, CredentialsError, parse_settings
from clarity_delivery.analysis.journey import JourneyProbe
from clarity_delivery.analysis.providers import Subject
from clarity_delivery.journey import JOURNEY_USER, Journey, JourneyResult
from clarity_delivery.lease import Heartbeat
from clarity_delivery.plan import ServicePlan
from clarity_delivery.settings import JourneyPolicy

pytestmark = pytest.mark.unit

BASE = "https://candidate---clarity-api-gateway-abc.a.run.app"
SETTINGS = Path(__file__).resolve().parents[3] / "terraform" / "environments"


@dataclass
class GatewayDouble:
    """The gateway's ingestion and status routes, in memory; knobs break one behaviour each."""

    process_after_polls: int = 1
    outcome: str = "processed"
    resend_status: int = 200
    accept_invalid: bool = False
    sample_count_offset: int = 0
    version: str = "1.4.0"
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    authorizations: list[str | None] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.authorizations.append(request.headers.get("authorization"))
        if request.url.path == "/health":
            return httpx.Response(200, json={"status": "ok", "version": self.version})
        if request.url.path == "/v1/healthkit/samples":
            return self._ingest(json.loads(request.content))
        batch_id = request.url.path.removeprefix("/v1/batches/")
        if batch_id not in self.batches:
            return httpx.Response(404, json={"error": {"code": 404}})
        return self._status(batch_id)

    def _ingest(self, batch: dict[str, Any]) -> httpx.Response:
        values = [sample["value"] for sample in batch["samples"]]
        if not self.accept_invalid and any(
            s["sample_type"] == "heart_rate" and s["value"] > 300 for s in batch["samples"]
        ):
            field_error = {
                "loc": ["body", "samples", 0, "value"],
                "type": "value_error",
                "msg": "x",
            }
            return httpx.Response(422, json={"error": {"code": 422, "fields": [field_error]}})
        if batch["batch_id"] in self.batches:
            return httpx.Response(
                self.resend_status,
                json={"batch_id": batch["batch_id"], "message_id": "m-1", "duplicate": True},
            )
        self.batches[batch["batch_id"]] = {"batch": batch, "steps": sum(values)}
        return httpx.Response(
            201, json={"batch_id": batch["batch_id"], "message_id": "m-1", "duplicate": False}
        )

    def _status(self, batch_id: str) -> httpx.Response:
        self.polls[batch_id] = self.polls.get(batch_id, 0) + 1
        stored = self.batches[batch_id]
        samples = len(stored["batch"]["samples"])
        body: dict[str, Any] = {
            "batch_id": batch_id,
            "user_id": stored["batch"]["user_id"],
            "status": "pending",
            "synthetic": True,
            "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            "insight": None,
            "failure": None,
        }
        if self.polls[batch_id] >= self.process_after_polls and self.outcome == "processed":
            body["status"] = "processed"
            body["insight"] = {
                "sample_count": samples + self.sample_count_offset,
                "days": [{"steps": stored["steps"]}],
            }
        elif self.outcome == "failed":
            body["status"] = "failed"
            body["failure"] = "not processed: dead-lettered after 5 delivery attempts"
        return httpx.Response(200, json=body)


async def _no_sleep(_seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


def _journey(gateway: GatewayDouble, *, timeout: float = 5.0) -> Journey:
    return Journey(
        BASE,
        token="id-token",
        timeout_seconds=timeout,
        poll_interval=0,
        transport=httpx.MockTransport(gateway),
        sleep=_no_sleep,
    )


def _run(gateway: GatewayDouble, **kwargs: Any) -> JourneyResult:
    return anyio.run(lambda: _journey(gateway, timeout=kwargs.pop("timeout", 5.0)).run(**kwargs))


def test_a_healthy_gateway_passes_every_step_with_the_token() -> None:
    gateway = GatewayDouble(process_after_polls=3)
    result = _run(gateway, expect_version="1.4.0")

    assert result.phase == "successful", result.describe()
    assert [step.name for step in result.steps] == [
        "version",
        "ingest",
        "processed",
        "resend",
        "reject",
    ]
    assert result.failures() == []
    assert result.batch_id is not None
    assert result.batch_id.startswith("e2e-")
    assert gateway.polls[result.batch_id] == 3
    assert set(gateway.authorizations) == {"Bearer id-token"}
    stored = gateway.batches[result.batch_id]["batch"]
    assert stored["synthetic"] is True
    assert stored["user_id"] == JOURNEY_USER


@pytest.mark.parametrize(
    ("gateway", "step", "reason"),
    [
        (
            GatewayDouble(outcome="pending"),
            "processed",
            "still pending after 0 s: nothing processed it",
        ),
        (
            GatewayDouble(outcome="failed"),
            "processed",
            "the batch failed to process: not processed",
        ),
        (
            GatewayDouble(sample_count_offset=1),
            "processed",
            "the insight is not of the batch's samples: 4 samples",
        ),
        (GatewayDouble(resend_status=201), "resend", "a resend answered 201, expected 200"),
        (GatewayDouble(accept_invalid=True), "reject", "an invalid batch answered 201"),
    ],
    ids=[
        "never processed",
        "dead-lettered",
        "wrong insight",
        "resend stored again",
        "bad accepted",
    ],
)
def test_each_broken_behaviour_fails_its_own_step_and_stops(
    gateway: GatewayDouble, step: str, reason: str
) -> None:
    result = _run(gateway, timeout=0)

    assert result.phase == "failed"
    failed = result.steps[-1]
    assert (failed.name, failed.ok) == (step, False)
    assert reason in failed.detail
    assert all(s.ok for s in result.steps[:-1])
    assert result.failures() == [f"journey {failed.describe()}"]


def test_a_version_other_than_the_release_fails_before_anything_is_sent() -> None:
    gateway = GatewayDouble(version="1.3.9")
    result = _run(gateway, expect_version="1.4.0")

    assert [(s.name, s.ok) for s in result.steps] == [("version", False)]
    assert "with version '1.3.9', expected '1.4.0'" in result.steps[0].detail
    assert gateway.batches == {}


def test_a_gateway_that_does_not_answer_fails_at_ingest() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        reason = "connection refused"
        raise httpx.ConnectError(reason, request=request)

    journey = Journey(BASE, token=None, transport=httpx.MockTransport(refuse))
    result = anyio.run(journey.run)

    assert [(s.name, s.ok) for s in result.steps] == [("ingest", False)]
    assert result.steps[0].detail == (
        f"POST /v1/healthkit/samples: no answer from {BASE} (ConnectError: connection refused)"
    )
    assert result.batch_id is None


# ---------------------------------------------------------------------- as a metric provider
class Tokens:
    def __init__(self, error: str | None = None) -> None:
        self.error = error
        self.audiences: list[str] = []

    def token(self, audience: str) -> str:
        self.audiences.append(audience)
        if self.error is not None:
            raise CredentialsError(self.error)
        return "minted"


SUBJECT = Subject(
    service=ServicePlan(
        key="api-gateway", name="clarity-api-gateway", image="i", revision="r", checks=()
    ),
    candidate="clarity-api-gateway-1-4-0-abc1234",
    baseline="clarity-api-gateway-1-3-0-def5678",
    url=BASE,
    audience="https://clarity-api-gateway-abc.a.run.app",
    percent=0,
)


def test_the_probe_runs_the_journey_at_the_candidate_url_with_a_token_for_the_service() -> None:
    gateway, tokens = GatewayDouble(), Tokens()
    probe = JourneyProbe(
        tokens, timeout_seconds=5, transport=httpx.MockTransport(gateway), poll_interval=0
    )

    result = anyio.run(probe.measure, SUBJECT, 0.0)

    assert result.phase == "successful"
    assert tokens.audiences == [SUBJECT.audience]
    assert set(gateway.authorizations) == {"Bearer minted"}
    assert result.base_url == BASE
    assert anyio.run(probe.is_online)


def test_no_token_means_the_probe_could_not_measure() -> None:
    gateway = GatewayDouble()
    probe = JourneyProbe(
        Tokens("could not mint an ID token"),
        timeout_seconds=5,
        transport=httpx.MockTransport(gateway),
    )

    result = anyio.run(probe.measure, SUBJECT, 0.0)

    assert result.phase == "error"
    assert result.failures() == ["journey could not run: could not mint an ID token"]
    assert gateway.authorizations == []


# ---------------------------------------------------------------------- settings
def _settings(journey: object) -> str:
    data = json.loads((SETTINGS / "staging" / "settings.json").read_text())
    data["rollout"]["journey"] = journey
    return json.dumps(data)


def test_the_journey_is_off_unless_settings_turn_it_on() -> None:
    for env in ("dev", "staging", "prod"):
        text = (SETTINGS / env / "settings.json").read_text()
        policy = parse_settings(text, env, where="x").rollout
        assert isinstance(policy.journey, JourneyPolicy)
    on = parse_settings(
        _settings({"before_traffic": True, "timeout_seconds": 90}), "staging", where="x"
    )
    assert on.rollout.journey == JourneyPolicy(before_traffic=True, timeout_seconds=90.0)
    off = parse_settings(_settings({}), "staging", where="x")
    assert off.rollout.journey == JourneyPolicy()
    # The lease does not grow with the journey: its polls renew it (next test).
    assert on.rollout.lease_seconds == off.rollout.lease_seconds == 60


def test_a_journey_waiting_for_its_insight_renews_the_rollouts_lease() -> None:
    """A journey may wait up to its timeout (600 s at most) for the insight: every poll goes
    through the rollout's heartbeat, so a short lease outlives a long journey."""

    @dataclass
    class Hold:
        renewals: int = 0

        def due_in(self) -> float:
            return 0.0  # always due: every wait renews

        async def renew(self) -> None:
            self.renewals += 1

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    gateway, hold, heartbeat = GatewayDouble(process_after_polls=4), Hold(), Heartbeat(sleep)
    probe = JourneyProbe(
        Tokens(), timeout_seconds=60, transport=httpx.MockTransport(gateway), poll_interval=2
    ).waiting_with(heartbeat.sleep)

    async def measure() -> JourneyResult:
        with heartbeat.keeping(hold):
            return await probe.measure(SUBJECT, 0.0)

    result = anyio.run(measure)

    assert result.phase == "successful"
    assert sum(slept) == pytest.approx(3 * 2)  # the polls before the batch was processed
    assert hold.renewals >= 3


@pytest.mark.parametrize(
    ("journey", "message"),
    [
        ([], r"rollout\.journey: expected an object"),
        ({"before_traffic": "yes"}, r"before_traffic must be true or false"),
        ({"timeout_seconds": 1}, r"timeout_seconds must be a number of seconds from 5 to 600"),
        ({"timeout_seconds": True}, r"timeout_seconds must be a number of seconds from 5 to 600"),
        ({"service": "ml-service"}, r"unknown keys \['service'\]: use before_traffic"),
    ],
)
def test_bad_journey_settings_say_what_to_write(journey: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_settings(_settings(journey), "staging", where="x")
