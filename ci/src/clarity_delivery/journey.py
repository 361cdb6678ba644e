"""The user's journey through a deployed backend: the business transaction every check runs.

One journey, against the API gateway at one base URL (an environment's URL, or a candidate's
tag URL before it takes traffic), with an ID token for the service:

1. **ingest**: a synthetic batch (``"synthetic": true``, its own batch id) is accepted (201);
2. **processed**: within the time bound, ``GET /v1/batches/{id}`` says *processed*, with an
   insight of exactly those samples, and says when the synthetic data expires (Firestore's TTL
   deletes it: nothing needs cleaning up, and the public API has no delete);
3. **resend**: the same batch again is a duplicate (200, the same message id, nothing new);
4. **reject**: an invalid batch is refused (422, the field named) and nothing is stored for it
   (its batch id is unknown: 404).

:class:`Journey` offers each step (the ``tests/e2e`` suite asserts them one by one) and
:meth:`Journey.run`, which takes them in order, stops at the first failure and returns a
:class:`JourneyResult`, a measurement: :class:`~.analysis.journey.JourneyProbe` is the same run
as a metric provider, so a rollout can take it as evidence before the candidate gets traffic.
The httpx transport is the test seam; nothing here knows the backend's code.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx

from ._errors import JourneyFailed
from ._tls import tls_context
from .analysis.providers import Phase

__all__ = [
    "JOURNEY_SERVICE",
    "JOURNEY_USER",
    "Ingested",
    "Journey",
    "JourneyResult",
    "JourneyStep",
]

JOURNEY_SERVICE = "api-gateway"
"""The service a journey enters through."""

JOURNEY_USER = "e2e-journey"
"""The user id of every synthetic batch, so test traffic is recognisable in any store."""

SAMPLES_PATH = "/v1/healthkit/samples"
_MAX_EXPIRY = timedelta(days=2)
_STEPS = (1000, 2000, 3000)


@dataclass(frozen=True)
class Ingested:
    """A batch the gateway accepted: its payload and the message that announced it."""

    batch: dict[str, Any]
    message_id: str

    @property
    def batch_id(self) -> str:
        """The batch's id."""
        return str(self.batch["batch_id"])


@dataclass(frozen=True, kw_only=True)
class JourneyStep:
    """One step of a journey and how it went."""

    name: str
    ok: bool
    detail: str
    seconds: float

    def describe(self) -> str:
        """``ingest: 201 in 0.2 s`` or the failure."""
        return f"{self.name}: {self.detail} ({self.seconds:.1f} s)"


@dataclass(frozen=True, kw_only=True)
class JourneyResult:
    """A whole journey, as a measurement: successful, failed at a step, or not measured."""

    at: float
    base_url: str
    batch_id: str | None
    steps: tuple[JourneyStep, ...]
    unmeasured: str | None = None
    """Why the journey could not be run at all (no ID token): the provider could not measure."""

    @property
    def phase(self) -> Phase:
        """``error`` when not run, ``failed`` when a step failed, else ``successful``."""
        if self.unmeasured is not None:
            return "error"
        return "successful" if all(step.ok for step in self.steps) else "failed"

    def describe(self) -> str:
        """Every step's outcome, in order."""
        if self.unmeasured is not None:
            return f"journey could not run: {self.unmeasured}"
        return "journey " + "; ".join(step.describe() for step in self.steps)

    def failures(self) -> list[str]:
        """The failed step, or why nothing could run; empty when successful."""
        if self.unmeasured is not None:
            return [self.describe()]
        return [f"journey {step.describe()}" for step in self.steps if not step.ok]


class Journey:
    """The journey's steps against the gateway at ``base_url`` (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        timeout_seconds: float = 60.0,
        poll_interval: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_seconds = timeout_seconds
        self._poll_interval = poll_interval
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._transport = transport
        self._sleep = sleep

    # ------------------------------------------------------------------ the steps

    def new_batch(self, *, now: datetime | None = None) -> dict[str, Any]:
        """A synthetic batch with a fresh id: three step counts in the hours before ``now``."""
        start = (now or datetime.now(UTC)).replace(microsecond=0) - timedelta(hours=4)
        samples = [
            {
                "sample_type": "step_count",
                "value": value,
                "unit": "count",
                "start_date": (start + timedelta(hours=index)).isoformat(),
                "end_date": (start + timedelta(hours=index, minutes=30)).isoformat(),
            }
            for index, value in enumerate(_STEPS)
        ]
        return {
            "batch_id": f"e2e-{uuid.uuid4().hex}",
            "user_id": JOURNEY_USER,
            "samples": samples,
            "synthetic": True,
        }

    async def ingest(self, batch: dict[str, Any]) -> Ingested:
        """Step 1: the gateway stores and announces the batch (201, not a duplicate)."""
        response = await self._request("ingest", "POST", SAMPLES_PATH, json=batch)
        body = _json(response)
        if response.status_code != 201 or body.get("duplicate") is not False:
            msg = f"POST {SAMPLES_PATH} answered {response.status_code}, expected 201: {_excerpt(response)}"
            raise JourneyFailed(msg, step="ingest")
        return Ingested(batch=batch, message_id=str(body.get("message_id")))

    async def status(self, batch_id: str, *, step: str = "status") -> dict[str, Any]:
        """``GET /v1/batches/{batch_id}``: the batch's status (200 expected)."""
        path = f"/v1/batches/{batch_id}"
        response = await self._request(step, "GET", path)
        if response.status_code != 200:
            msg = f"GET {path} answered {response.status_code}: {_excerpt(response)}"
            raise JourneyFailed(msg, step=step)
        return _json(response)

    async def wait_until_processed(self, ingested: Ingested) -> dict[str, Any]:
        """Step 2: the batch is processed into an insight of its samples within the time bound."""
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            body = await self.status(ingested.batch_id, step="processed")
            if body.get("status") == "processed":
                _check_insight(ingested, body)
                return body
            if body.get("status") == "failed":
                msg = f"the batch failed to process: {body.get('failure')}"
                raise JourneyFailed(msg, step="processed")
            if time.monotonic() >= deadline:
                msg = (
                    f"still {body.get('status')!s} after {self.timeout_seconds:.0f} s: nothing "
                    "processed it (is healthkit-data-ingestion pushed to the ML service?)"
                )
                raise JourneyFailed(msg, step="processed")
            await self._sleep(self._poll_interval)

    async def resend(self, ingested: Ingested) -> None:
        """Step 3: the same batch again is a duplicate: 200, the same message, nothing new."""
        response = await self._request("resend", "POST", SAMPLES_PATH, json=ingested.batch)
        body = _json(response)
        if response.status_code != 200 or body.get("duplicate") is not True:
            msg = f"a resend answered {response.status_code}, expected 200 and a duplicate: {_excerpt(response)}"
            raise JourneyFailed(msg, step="resend")
        if body.get("message_id") != ingested.message_id:
            msg = f"a resend was announced again (message {body.get('message_id')}, first {ingested.message_id})"
            raise JourneyFailed(msg, step="resend")

    async def reject_bad(self) -> None:
        """Step 4: a batch with an impossible value is refused, and nothing is stored for it."""
        batch = self.new_batch()
        batch["samples"][0] = {
            **batch["samples"][0],
            "sample_type": "heart_rate",
            "unit": "count/min",
            "value": 1000,
        }
        response = await self._request("reject", "POST", SAMPLES_PATH, json=batch)
        fields = _json(response).get("error", {}).get("fields", [])
        located = any(field.get("loc") == ["body", "samples", 0, "value"] for field in fields)
        if response.status_code != 422 or not located:
            msg = f"an invalid batch answered {response.status_code}, expected 422 naming samples.0.value: {_excerpt(response)}"
            raise JourneyFailed(msg, step="reject")
        stored = await self._request("reject", "GET", f"/v1/batches/{batch['batch_id']}")
        if stored.status_code != 404:
            msg = f"a rejected batch was stored: GET /v1/batches/{batch['batch_id']} answered {stored.status_code}"
            raise JourneyFailed(msg, step="reject")

    async def check_version(self, expected: str) -> None:
        """The revision answering reports ``expected`` as its version (``GET /health``)."""
        response = await self._request("version", "GET", "/health")
        served = _json(response).get("version")
        if response.status_code != 200 or served != expected:
            msg = f"GET /health answered {response.status_code} with version {served!r}, expected {expected!r}: is this release deployed there yet?"
            raise JourneyFailed(msg, step="version")

    # ------------------------------------------------------------------ the whole journey

    async def run(self, *, expect_version: str | None = None) -> JourneyResult:
        """Every step in order (first, where given, the version served), stopping at the first
        failure; a failed step is in the result, never raised."""
        started = mark = time.monotonic()
        steps: list[JourneyStep] = []
        ingested: Ingested | None = None

        def passed(name: str, detail: str) -> None:
            nonlocal mark
            now = time.monotonic()
            steps.append(JourneyStep(name=name, ok=True, detail=detail, seconds=now - mark))
            mark = now

        try:
            if expect_version is not None:
                await self.check_version(expect_version)
                passed("version", f"serving {expect_version}")
            ingested = await self.ingest(self.new_batch())
            passed("ingest", f"stored and announced as message {ingested.message_id}")
            await self.wait_until_processed(ingested)
            passed("processed", "an insight of its samples, expiring with them")
            await self.resend(ingested)
            passed("resend", "a duplicate, announced once")
            await self.reject_bad()
            passed("reject", "refused with 422, nothing stored")
        except JourneyFailed as exc:
            failed = JourneyStep(
                name=exc.step, ok=False, detail=exc.message, seconds=time.monotonic() - mark
            )
            steps.append(failed)
        return JourneyResult(
            at=started,
            base_url=self.base_url,
            batch_id=ingested.batch_id if ingested else None,
            steps=tuple(steps),
        )

    # ------------------------------------------------------------------ HTTP

    async def _request(self, step: str, method: str, path: str, **kwargs: Any) -> httpx.Response:  # noqa: ANN401 - httpx's own keywords
        try:
            async with httpx.AsyncClient(
                transport=self._transport,
                headers=self._headers,
                follow_redirects=False,
                verify=tls_context(),
                timeout=15.0,
            ) as client:
                return await client.request(method, f"{self.base_url}{path}", **kwargs)
        except httpx.HTTPError as exc:
            msg = f"{method} {path}: no answer from {self.base_url} ({type(exc).__name__}: {exc or 'no detail'})"
            raise JourneyFailed(msg, step=step) from exc


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _excerpt(response: httpx.Response) -> str:
    return repr(response.text[:300])


def _check_insight(ingested: Ingested, status: dict[str, Any]) -> None:
    """The insight is of exactly the batch's samples, and the synthetic batch says it expires."""
    insight = status.get("insight") or {}
    days = insight.get("days") or []
    steps = sum(day.get("steps") or 0 for day in days if isinstance(day, dict))
    if insight.get("sample_count") != len(ingested.batch["samples"]) or steps != sum(_STEPS):
        msg = f"the insight is not of the batch's samples: {insight.get('sample_count')} samples, {steps} steps (sent {len(_STEPS)}, {sum(_STEPS)})"
        raise JourneyFailed(msg, step="processed")
    expires = status.get("expires_at")
    try:
        moment = datetime.fromisoformat(str(expires))
    except ValueError:
        moment = None
    now = datetime.now(UTC)
    if (
        status.get("synthetic") is not True
        or moment is None
        or not now < moment <= now + _MAX_EXPIRY
    ):
        msg = f"the synthetic batch does not expire within {_MAX_EXPIRY.days} days (synthetic={status.get('synthetic')}, expires_at={expires})"
        raise JourneyFailed(msg, step="processed")
