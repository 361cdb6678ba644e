"""HTTP probes of a candidate: health checks and business transactions (Argo's ``webmetric``).

A *probe round* sends every configured check of a service once, concurrently, to one URL
(the candidate's tag URL during a rollout), and every business transaction
(:mod:`.transactions`). A round passes when every check answers its expected status and,
where the body names the revision that answered (``/health``), that revision is the one we
meant to probe, and every transaction's answer has the expected status and shape.
:class:`HttpProbes` offers rounds as a :class:`~.providers.MetricProvider`; :class:`Prober`
also serves the one-off health checks of the stable revisions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import anyio
import anyio.to_thread
import httpx

from .._auth import IdTokenSource
from .._tls import tls_context
from ..settings import HealthCheck, TransactionCheck
from .providers import Phase, Subject
from .transactions import transaction_for

__all__ = ["HttpProbes", "ProbeResult", "Prober", "RoundResult"]


@dataclass(frozen=True, kw_only=True)
class ProbeResult:
    """The outcome of one check against one URL."""

    check: HealthCheck | TransactionCheck
    url: str
    ok: bool
    status: int | None
    revision: str | None
    latency: float
    detail: str

    def describe(self) -> str:
        """``GET /health → 200 in 12 ms (revision x)`` or the failure reason."""
        where = f"{self.check.method} {self.check.path}"
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

    @property
    def phase(self) -> Phase:
        """A round is a measurement: successful when every check passed, else failed."""
        return "successful" if self.ok else "failed"

    def describe(self) -> str:
        """Every check's outcome, in order."""
        return ", ".join(r.describe() for r in self.results)

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

    @property
    def tokens(self) -> IdTokenSource:
        """Where its ID tokens come from (shared with the load test)."""
        return self._tokens

    @property
    def transport(self) -> httpx.AsyncBaseTransport | None:
        """The httpx transport it sends with (the test seam; None: the network)."""
        return self._transport

    async def round(
        self,
        base_url: str,
        checks: tuple[HealthCheck, ...],
        *,
        audience: str,
        expect_revision: str | None = None,
        transactions: tuple[TransactionCheck, ...] = (),
    ) -> RoundResult:
        """Probe every check and send every transaction once, concurrently."""
        started = time.monotonic()
        token = await anyio.to_thread.run_sync(self._tokens.token, audience)
        results: list[ProbeResult] = []
        async with httpx.AsyncClient(
            transport=self._transport,
            headers={"Authorization": f"Bearer {token}"},
            follow_redirects=False,
            verify=tls_context(),
        ) as client:

            async def one(check: HealthCheck) -> None:
                results.append(await self._probe(client, base_url, check, expect_revision))

            async def transact(check: TransactionCheck) -> None:
                results.append(await self._transact(client, base_url, check))

            async with anyio.create_task_group() as tg:
                for check in checks:
                    tg.start_soon(one, check)
                for transaction in transactions:
                    tg.start_soon(transact, transaction)
        order = {c: i for i, c in enumerate((*checks, *transactions))}
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

    async def _transact(
        self, client: httpx.AsyncClient, base_url: str, check: TransactionCheck
    ) -> ProbeResult:
        url = base_url.rstrip("/") + check.path
        transaction = transaction_for(check)
        started = time.monotonic()
        try:
            response = await client.post(url, json=transaction.body, timeout=check.timeout_seconds)
        except httpx.HTTPError as exc:
            detail = f"{type(exc).__name__}: {exc or 'no answer'}"
            return _result(check, url, None, started, detail)
        try:
            answer: object = response.json()
        except ValueError:
            answer = None
        problem = transaction.problem(check.kind, response.status_code, answer)
        if problem is not None:
            problem += f": {response.text[:200]!r}"
        return _result(check, url, response.status_code, started, problem)


def _result(
    check: TransactionCheck, url: str, status: int | None, started: float, problem: str | None
) -> ProbeResult:
    return ProbeResult(
        check=check,
        url=url,
        ok=problem is None,
        status=status,
        revision=None,
        latency=time.monotonic() - started,
        detail=problem or "ok",
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


class HttpProbes:
    """The service's health checks against the candidate's own URL, one round per measurement.

    A probe that gets no answer is a *failed* round, not an unmeasured one: a candidate that
    does not answer is what the checks are there to catch.
    """

    name = "http"

    def __init__(self, prober: Prober) -> None:
        self._prober = prober

    async def is_online(self) -> bool:
        """Always: the candidate's URL is what is measured, there is no backend in between."""
        return True

    def applies(self, subject: Subject) -> bool:  # noqa: ARG002 - every step is probed
        """Always."""
        return True

    async def measure(self, subject: Subject, since: float) -> RoundResult:  # noqa: ARG002 - a round is instantaneous
        """One round of the service's checks and transactions, expecting the candidate to answer."""
        return await self._prober.round(
            subject.url,
            subject.service.checks,
            audience=subject.audience,
            expect_revision=subject.candidate,
            transactions=subject.service.transactions,
        )
