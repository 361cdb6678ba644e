"""Every API call runs through here: the request policies in order, then the RPC's handler.

A :class:`RequestPolicy` is the extension point for anything that decides, per call, whether
an RPC runs at all: injected faults and permission denials (:class:`~._faults.FaultInjector`)
today. A policy sees the matched route (RPC name, HTTP rule, the IAM permission it needs)
and the request (path parameters, query, body, headers, the resource it names); raising an
:class:`~._errors.ApiError` answers the call with that error and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from ._api import Request, Route

__all__ = ["AnswerPolicy", "Handler", "RequestPolicy", "RpcDispatcher"]

Handler = Callable[[Request], dict[str, Any]]


class RequestPolicy(Protocol):
    """Decides whether an API call reaches its handler."""

    def check(self, route: Route, request: Request) -> None:
        """Return to let the call run; raise :class:`~._errors.ApiError` to answer with it."""
        ...


class AnswerPolicy(Protocol):
    """Decides whether the answer of a call that took effect reaches the caller."""

    def answered(self, route: Route, request: Request) -> None:
        """Return to send the answer; raise :class:`~._errors.ApiError` to send it instead
        (the write stays done: an answer lost on the way back)."""
        ...


class RpcDispatcher:
    """Runs the policies, then the handler the RPC table names, then the answer policies."""

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        policies: Iterable[RequestPolicy] = (),
        answer_policies: Iterable[AnswerPolicy] = (),
    ) -> None:
        self._handlers = dict(handlers)
        self.policies: list[RequestPolicy] = list(policies)
        self.answer_policies: list[AnswerPolicy] = list(answer_policies)

    def __call__(self, route: Route, request: Request) -> tuple[int, dict[str, Any]]:
        for policy in self.policies:
            policy.check(route, request)
        answer = self._handlers[route.rpc](request)
        for after in self.answer_policies:
            after.answered(route, request)
        return 200, answer
