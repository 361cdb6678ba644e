"""The user's journey as a metric provider: evidence about a candidate before it takes traffic.

:class:`JourneyProbe` runs :class:`~..journey.Journey` (ingest a synthetic batch, see it
processed, resend it, have a bad one refused) against the candidate's own URL, once per
measurement; the rollout engine asks for it on the API gateway's candidate where
``rollout.journey.before_traffic`` is on.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio
import anyio.to_thread
import httpx

from .._auth import IdTokenSource
from .._errors import CredentialsError
from ..journey import Journey, JourneyResult
from .providers import Subject

__all__ = ["JourneyProbe"]


class JourneyProbe:
    """The journey as a measurement of a candidate, through its own URL (one run per round).

    A step that fails is a *failed* measurement; an ID token that cannot be minted is an
    *unmeasured* one (the provider could not run the journey at all).
    """

    name = "journey"

    def __init__(
        self,
        tokens: IdTokenSource,
        *,
        timeout_seconds: float,
        transport: httpx.AsyncBaseTransport | None = None,
        poll_interval: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self._tokens = tokens
        self._timeout = timeout_seconds
        self._transport = transport
        self._poll_interval = poll_interval
        self._sleep = sleep

    def waiting_with(self, sleep: Callable[[float], Awaitable[None]]) -> JourneyProbe:
        """The same probe, waiting between its polls through ``sleep`` (a rollout's heartbeat,
        so that a journey as long as its timeout does not outlive the rollout's lease)."""
        return JourneyProbe(
            self._tokens,
            timeout_seconds=self._timeout,
            transport=self._transport,
            poll_interval=self._poll_interval,
            sleep=sleep,
        )

    async def is_online(self) -> bool:
        """Always: the candidate's URL is what is measured."""
        return True

    def applies(self, subject: Subject) -> bool:  # noqa: ARG002 - the engine picks the step
        """Always: the engine runs it once, on the gateway's candidate before traffic."""
        return True

    async def measure(self, subject: Subject, since: float) -> JourneyResult:  # noqa: ARG002 - one run is its own window
        """Run the journey against the candidate's URL, with an ID token for the service."""
        try:
            token = await anyio.to_thread.run_sync(self._tokens.token, subject.audience)
        except CredentialsError as exc:
            return JourneyResult(
                at=time.monotonic(),
                base_url=subject.url,
                batch_id=None,
                steps=(),
                unmeasured=exc.message,
            )
        journey = Journey(
            subject.url,
            token=token,
            timeout_seconds=self._timeout,
            poll_interval=self._poll_interval,
            transport=self._transport,
            sleep=self._sleep,
        )
        return await journey.run()
