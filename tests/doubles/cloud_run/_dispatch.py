"""Every API call runs through here: the request policies, the RPC's handler, the answer policies.

A :class:`RequestPolicy` decides, per call, whether an RPC runs at all: injected faults and
permission denials (:class:`~._faults.FaultInjector`) today. It sees the matched route (RPC
name, HTTP rule, the IAM permission it needs) and the request (path parameters, query, body,
headers, the resource it names); raising :class:`~._errors.ApiError` answers the call with
that error and nothing is written, raising :class:`~._api.NoAnswer` closes the connection.

An :class:`AnswerPolicy` runs after the handler, whatever it answered (an error too): it may
replace the answer or drop it (:class:`~._api.NoAnswer`), which is how a write that landed
but whose answer was lost is made, for every RPC alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from ._api import Answer, Request, Route
from ._errors import ApiError

__all__ = ["AnswerPolicy", "Handler", "RequestPolicy", "RpcDispatcher"]

Handler = Callable[[Request], dict[str, Any]]


class RequestPolicy(Protocol):
    """Decides whether an API call reaches its handler."""

    def check(self, route: Route, request: Request) -> None:
        """Return to let the call run; raise :class:`~._errors.ApiError` to answer with it."""
        ...


class AnswerPolicy(Protocol):
    """Sees every answer before it is sent."""

    def answer(self, route: Route, request: Request, answer: Answer) -> Answer:
        """The answer to send (``answer`` itself to leave it); raise NoAnswer to send none."""
        ...


class RpcDispatcher:
    """Runs the request policies, the handler the RPC table names, then the answer policies."""

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        policies: Iterable[RequestPolicy] = (),
        answer_policies: Iterable[AnswerPolicy] = (),
    ) -> None:
        self._handlers = dict(handlers)
        self.policies: list[RequestPolicy] = list(policies)
        self.answer_policies: list[AnswerPolicy] = list(answer_policies)

    def __call__(self, route: Route, request: Request) -> Answer:
        for policy in self.policies:
            policy.check(route, request)
        try:
            answer = Answer(200, self._handlers[route.rpc](request))
        except ApiError as error:
            answer = Answer.of(error)
        for after in self.answer_policies:
            answer = after.answer(route, request, answer)
        return answer
