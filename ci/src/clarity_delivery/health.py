"""Health probes and step analysis.

A *probe round* sends every configured check of a service once, concurrently, to one URL
(the candidate's tag URL during a rollout). A round passes when every check answers its
expected status and, where the body names the revision that answered (``/health``), that
revision is the one we meant to probe. :class:`Analysis` turns rounds into a verdict: a step
fails as soon as ``failure_threshold`` rounds have failed, and passes after
``probes_per_step`` rounds otherwise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
import httpx

from ._auth import IdTokenSource
from .settings import HealthCheck, RolloutPolicy

__all__ = ["Analysis", "ProbeResult", "Prober", "RoundResult"]


@dataclass(frozen=True, kw_only=True)
class ProbeResult:
    """The outcome of one check against one URL."""

    check: HealthCheck
    url: str
    ok: bool
    status: int | None
    revision: str | None
    latency: float
    detail: str

    def describe(self) -> str:
        """``GET /health → 200 in 12 ms (revision x)`` or the failure reason."""
        where = f"GET {self.check.path}"
        if self.ok:
            rev = f" (revision {self.revision})" if self.revision else ""
            return f"{where} → {self.status} in {self.latency * 1000:.0f} ms{rev}"
        return f"{where} failed: {self.detail}"


@dataclass(frozen=True, kw_only=True)
class RoundResult:
    """One round: every check once."""

    at: float
    results: tuple[ProbeResult, ...]

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(r.ok for r in self.results)

    def failures(self) -> list[str]:
        """Readable reasons of the failed checks."""
        return [r.describe() for r in self.results if not r.ok]


class Prober:
    """Sends health checks with an ID token; the httpx transport is the test seam."""

    def __init__(
        self, tokens: IdTokenSource, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._tokens = tokens
        self._transport = transport

    async def round(
        self,
        base_url: str,
        checks: tuple[HealthCheck, ...],
        *,
        audience: str,
        expect_revision: str | None = None,
    ) -> RoundResult:
        """Probe every check once, concurrently."""
        started = time.monotonic()
        token = await anyio.to_thread.run_sync(self._tokens.token, audience)
        results: list[ProbeResult] = []
        async with httpx.AsyncClient(
            transport=self._transport,
            headers={"Authorization": f"Bearer {token}"},
            follow_redirects=False,
        ) as client:

            async def one(check: HealthCheck) -> None:
                results.append(await self._probe(client, base_url, check, expect_revision))

            async with anyio.create_task_group() as tg:
                for check in checks:
                    tg.start_soon(one, check)
        order = {c: i for i, c in enumerate(checks)}
        results.sort(key=lambda r: order[r.check])
        return RoundResult(at=started, results=tuple(results))

    async def _probe(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        check: HealthCheck,
        expect_revision: str | None,
    ) -> ProbeResult:
        url = base_url.rstrip("/") + check.path
        started = time.monotonic()
        status: int | None = None
        revision: str | None = None
        try:
            response = await client.get(url, timeout=check.timeout_seconds)
            status = response.status_code
            revision = _revision_of(response)
        except httpx.HTTPError as exc:
            return ProbeResult(
                check=check,
                url=url,
                ok=False,
                status=None,
                revision=None,
                latency=time.monotonic() - started,
                detail=f"{type(exc).__name__}: {exc or 'no answer'}",
            )
        latency = time.monotonic() - started
        if status != check.expected_status:
            detail = f"answered {status}, expected {check.expected_status}: {response.text[:200]!r}"
            return ProbeResult(
                check=check,
                url=url,
                ok=False,
                status=status,
                revision=revision,
                latency=latency,
                detail=detail,
            )
        if expect_revision is not None and revision is not None and revision != expect_revision:
            detail = f"answered by revision {revision}, expected {expect_revision}"
            return ProbeResult(
                check=check,
                url=url,
                ok=False,
                status=status,
                revision=revision,
                latency=latency,
                detail=detail,
            )
        return ProbeResult(
            check=check,
            url=url,
            ok=True,
            status=status,
            revision=revision,
            latency=latency,
            detail="ok",
        )


def _revision_of(response: httpx.Response) -> str | None:
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    value = body.get("revision") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


@dataclass
class Analysis:
    """Accumulates probe rounds of one step into a verdict (pure; unit-tested)."""

    policy: RolloutPolicy
    rounds: list[RoundResult] = field(default_factory=list)

    def record(self, result: RoundResult) -> None:
        """Add a round; ignored once the verdict is known."""
        if not self.done:
            self.rounds.append(result)

    @property
    def failed_rounds(self) -> int:
        """How many rounds had at least one failed check."""
        return sum(1 for r in self.rounds if not r.ok)

    @property
    def failed(self) -> bool:
        """The step failed: ``failure_threshold`` rounds failed."""
        return self.failed_rounds >= self.policy.failure_threshold

    @property
    def done(self) -> bool:
        """The verdict is known (failed, or every round of the step was probed)."""
        return self.failed or len(self.rounds) >= self.policy.probes_per_step

    @property
    def first_failure_at(self) -> float | None:
        """When the first failed round started (``time.monotonic``), for time-to-rollback."""
        return next((r.at for r in self.rounds if not r.ok), None)

    def reasons(self) -> list[str]:
        """Distinct failure reasons, in order of first appearance."""
        seen: list[str] = []
        for r in self.rounds:
            for reason in r.failures():
                if reason not in seen:
                    seen.append(reason)
        return seen
