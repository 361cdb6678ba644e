"""Test hooks that make the API misbehave on purpose: transient errors, IAM denials, lost
answers and a concurrent writer that gets in first.

:class:`FaultInjector` is a request policy (:mod:`._dispatch`): it runs before every RPC, and
an answer policy: it runs after an RPC took effect, to lose the answer on the way back.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ._api import Request, Route
from ._errors import HTTP_STATUS_NAMES, ApiError

__all__ = ["FaultInjector"]

_TRANSIENT_MESSAGES = {
    429: "Quota exceeded for quota metric 'Write requests' of service 'run.googleapis.com'.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "The request deadline was exceeded.",
}


@dataclass
class _FailRule:
    matcher: str
    pattern: re.Pattern[str]
    error: ApiError
    remaining: int


@dataclass
class _Hook:
    matcher: str
    pattern: re.Pattern[str]
    action: Callable[[], None]
    remaining: int


@dataclass
class _Denial:
    permission: str
    remaining: int | None


class FaultInjector:
    """Thread-safe queue of injected failures, consulted before every API call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_FailRule] = []
        self._lost: list[_FailRule] = []
        self._hooks: list[_Hook] = []
        self._denials: dict[str, _Denial] = {}

    def fail_next(self, matcher: str, *, status: int, times: int, message: str | None) -> None:
        if status not in HTTP_STATUS_NAMES:
            known = ", ".join(str(code) for code in sorted(HTTP_STATUS_NAMES))
            msg = f"fail_next: status {status} is not one the double renders; use one of {known}"
            raise ValueError(msg)
        if times < 1:
            msg = f"fail_next: times must be at least 1, got {times}"
            raise ValueError(msg)
        text = message or _TRANSIENT_MESSAGES.get(status, "Injected failure.")
        error = ApiError(status, HTTP_STATUS_NAMES[status], text)
        with self._lock:
            self._rules.append(_FailRule(matcher, re.compile(matcher), error, times))

    def lose_next(self, matcher: str, *, times: int) -> None:
        """The next ``times`` matching calls take effect, then answer 503."""
        if times < 1:
            msg = f"lose_answer: times must be at least 1, got {times}"
            raise ValueError(msg)
        error = ApiError(503, HTTP_STATUS_NAMES[503], _TRANSIENT_MESSAGES[503])
        with self._lock:
            self._lost.append(_FailRule(matcher, re.compile(matcher), error, times))

    def before_next(self, matcher: str, action: Callable[[], None], *, times: int) -> None:
        """Run ``action`` just before the next ``times`` matching calls are handled."""
        with self._lock:
            self._hooks.append(_Hook(matcher, re.compile(matcher), action, times))

    def deny(self, permission: str, *, times: int | None) -> None:
        with self._lock:
            self._denials[permission] = _Denial(permission, times)

    def allow(self, permission: str) -> None:
        with self._lock:
            self._denials.pop(permission, None)

    def check(self, route: Route, request: Request) -> None:
        """Run the actions waiting for this call, then raise its injected error, if any."""
        for action in self._due(self._hooks, route, request):
            action()  # outside the lock: a concurrent writer calls the API itself
        permission = route.permission
        with self._lock:
            for rule in self._rules:
                if rule.matcher == route.rpc or rule.pattern.search(request.line):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._rules.remove(rule)
                    raise rule.error
            denial = self._denials.get(permission)
            if denial is not None:
                if denial.remaining is not None:
                    denial.remaining -= 1
                    if denial.remaining == 0:
                        del self._denials[permission]
                raise ApiError.permission_denied(permission, request.resource)

    def answered(self, route: Route, request: Request) -> None:
        """After a call took effect: raise the error that hides its answer, if one is queued."""
        with self._lock:
            for rule in self._lost:
                if rule.matcher == route.rpc or rule.pattern.search(request.line):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._lost.remove(rule)
                    raise rule.error

    def _due(self, hooks: list[_Hook], route: Route, request: Request) -> list[Callable[[], None]]:
        actions = []
        with self._lock:
            for hook in list(hooks):
                if hook.matcher == route.rpc or hook.pattern.search(request.line):
                    hook.remaining -= 1
                    if hook.remaining == 0:
                        hooks.remove(hook)
                    actions.append(hook.action)
        return actions
