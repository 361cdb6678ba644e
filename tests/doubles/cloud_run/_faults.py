"""Test hooks that make the API misbehave on purpose, one call at a time.

:class:`FaultInjector` is both a request policy and an answer policy (:mod:`._dispatch`): it
runs before every RPC and sees every answer. Each hook is a rule: *which* calls (an RPC name, a
regular expression searched in ``"<VERB> <path>"``, or a :class:`CallStep`), *how many*, and
*what* happens to them:

- refused with an error (transient or not) before anything is written;
- answered, but the answer is lost after the write landed (the connection closes unanswered,
  or an error such as 503 is answered instead of the result);
- the operation the write starts fails (the write itself is accepted);
- another client writes the same service just before the call (a real concurrent writer);
- intercepted: a callback runs and the call gets no answer (a deployer killed mid-call);
- preceded: a callback runs just before the call, which then goes on as any other (another
  client that gets in first, a grant revoked at that moment).

:class:`CallStep` numbers the calls of a run the same way for every run: a call that repeats
the one before it (same RPC, same path: a retry, another poll of the same operation) belongs
to the same step, so "step 7" is the same API call in a clean run and in a faulty one up to
the fault.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ._api import Answer, NoAnswer, Request, Route
from ._errors import HTTP_STATUS_NAMES, ApiError

__all__ = ["Call", "CallStep", "FaultInjector", "Matcher", "StepRecord"]

_TRANSIENT_MESSAGES = {
    429: "Quota exceeded for quota metric 'Write requests' of service 'run.googleapis.com'.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "The request deadline was exceeded.",
}
_WRITES = frozenset({"CreateService", "UpdateService", "DeleteService"})

Kind = Literal["refuse", "lose", "fail-operation", "interleave", "intercept", "before"]


@dataclass(frozen=True)
class CallStep:
    """The ``n``-th API call of a run (1-based), its retries and repeated polls included."""

    n: int


@dataclass(frozen=True)
class Call:
    """Calls of ``method`` (an RPC name, or a regular expression searched in ``"<VERB> <path>"``)
    whose request body matches the regular expression ``body``, e.g. the write that moves
    traffic to 25 %: ``Call("UpdateService", body=r'"percent": 25\b')``."""

    method: str
    body: str | None = None

    def matches(self, route: Route, request: Request) -> bool:
        if self.method != route.rpc and not re.search(self.method, request.line):
            return False
        return self.body is None or bool(
            re.search(self.body, request.body.decode(errors="replace"))
        )


Matcher = str | CallStep | Call


@dataclass(frozen=True)
class StepRecord:
    """One step of the calls seen since the count was last reset."""

    n: int
    rpc: str
    path: str


@dataclass
class _Rule:
    matcher: CallStep | Call
    remaining: int
    kind: Kind
    error: ApiError | None = None
    callback: Callable[[Request], None] | None = None
    after: Call | None = None
    """The rule sleeps until a call matching this one has been answered."""

    def matches(self, route: Route, request: Request, step: int) -> bool:
        if self.after is not None:
            return False
        if self.kind == "fail-operation" and route.rpc not in _WRITES:
            return False
        if isinstance(self.matcher, CallStep):
            return self.matcher.n == step
        return self.matcher.matches(route, request)


@dataclass
class _Denial:
    permission: str
    remaining: int | None


class FaultInjector:
    """Thread-safe rules consulted before every API call and on every answer."""

    def __init__(
        self,
        *,
        fail_operation: Callable[[str, ApiError], None],
        interleave: Callable[[Request], None],
    ) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._denials: dict[str, _Denial] = {}
        self._fail_operation = fail_operation
        self._interleave = interleave
        self._losing: dict[int, ApiError | None] = {}
        """Calls whose answer is lost: what is answered instead (None: nothing at all)."""
        self._steps: list[StepRecord] = []
        self._last: tuple[str, str] | None = None

    # ------------------------------------------------------------------ rules

    def fail_next(
        self,
        matcher: Matcher,
        *,
        status: int,
        times: int,
        message: str | None,
        after: Matcher | None = None,
    ) -> None:
        text = message or _TRANSIENT_MESSAGES.get(status, "Injected failure.")
        error = ApiError(status, _status_name(status), text)
        self._add(matcher, times, "refuse", error=error, after=after)

    def lose_answers(self, matcher: Matcher, *, times: int, status: int | None = None) -> None:
        error = None
        if status is not None:
            error = ApiError(status, _status_name(status), _TRANSIENT_MESSAGES.get(status, ""))
        self._add(matcher, times, "lose", error=error)

    def fail_operations(self, matcher: Matcher, *, error: ApiError, times: int) -> None:
        self._add(matcher, times, "fail-operation", error=error)

    def interleave_writes(self, matcher: Matcher, *, times: int) -> None:
        self._add(matcher, times, "interleave")

    def intercept(self, matcher: Matcher, callback: Callable[[Request], None]) -> None:
        self._add(matcher, 1, "intercept", callback=callback)

    def before(self, matcher: Matcher, callback: Callable[[Request], None], *, times: int) -> None:
        self._add(matcher, times, "before", callback=callback)

    def deny(self, permission: str, *, times: int | None) -> None:
        with self._lock:
            self._denials[permission] = _Denial(permission, times)

    def allow(self, permission: str) -> None:
        with self._lock:
            self._denials.pop(permission, None)

    def clear(self) -> None:
        """Forget every rule and denial, and start counting steps again."""
        with self._lock:
            self._rules.clear()
            self._denials.clear()
            self._losing.clear()
            self._steps.clear()
            self._last = None

    def steps(self) -> list[StepRecord]:
        with self._lock:
            return list(self._steps)

    def _add(
        self,
        matcher: Matcher,
        times: int,
        kind: Kind,
        *,
        error: ApiError | None = None,
        callback: Callable[[Request], None] | None = None,
        after: Matcher | None = None,
    ) -> None:
        if times < 1:
            msg = f"times must be at least 1, got {times}"
            raise ValueError(msg)
        if isinstance(after, CallStep):
            msg = "after= takes an RPC name, a regular expression or a Call, not a CallStep"
            raise TypeError(msg)
        waits_for = Call(after) if isinstance(after, str) else after
        rule = _Rule(_call(matcher), times, kind, error, callback, waits_for)
        with self._lock:
            self._rules.append(rule)

    # ------------------------------------------------------------------ policies

    def check(self, route: Route, request: Request) -> None:
        """Before the handler: count the step, run the callbacks due before it, then apply the
        first other matching rule (or a denial)."""
        with self._lock:
            step = self._count(route, request)
            before = self._take_all(route, request, step, "before")
        for earlier in before:
            # outside the lock: a concurrent writer calls the API itself
            assert earlier.callback is not None
            earlier.callback(request)
        permission = route.permission
        with self._lock:
            rule = next(
                (r for r in self._rules if r.kind != "before" and r.matches(route, request, step)),
                None,
            )
            if rule is not None:
                self._count_down(rule)
            denial = self._denials.get(permission) if rule is None else None
            if denial is not None and denial.remaining is not None:
                denial.remaining -= 1
                if denial.remaining == 0:
                    del self._denials[permission]
        if denial is not None:
            raise ApiError.permission_denied(permission, request.resource)
        if rule is None:
            return
        if rule.kind == "refuse":
            assert rule.error is not None
            raise rule.error
        if rule.kind == "intercept":
            assert rule.callback is not None
            rule.callback(request)
            raise NoAnswer
        if rule.kind == "interleave":
            self._interleave(request)
        elif rule.kind == "fail-operation":
            assert rule.error is not None
            self._fail_operation(request.resource, rule.error)
        else:
            with self._lock:
                self._losing[id(request)] = rule.error

    def answer(self, route: Route, request: Request, answer: Answer) -> Answer:
        """After the handler: wake rules waiting for this call; drop an answer to be lost."""
        with self._lock:
            for rule in self._rules:
                if rule.after is not None and rule.after.matches(route, request):
                    rule.after = None
            lost = id(request) in self._losing
            instead = self._losing.pop(id(request), None)
        if instead is not None:
            return Answer.of(instead)
        if lost:
            raise NoAnswer
        return answer

    def _take_all(self, route: Route, request: Request, step: int, kind: Kind) -> list[_Rule]:
        due = [r for r in self._rules if r.kind == kind and r.matches(route, request, step)]
        for rule in due:
            self._count_down(rule)
        return due

    def _count_down(self, rule: _Rule) -> None:
        rule.remaining -= 1
        if rule.remaining == 0:
            self._rules.remove(rule)

    def _count(self, route: Route, request: Request) -> int:
        key = (route.rpc, request.path)
        if key != self._last:
            self._last = key
            self._steps.append(StepRecord(len(self._steps) + 1, route.rpc, request.path))
        return len(self._steps)


def _status_name(status: int) -> str:
    if status not in HTTP_STATUS_NAMES:
        known = ", ".join(str(code) for code in sorted(HTTP_STATUS_NAMES))
        msg = f"status {status} is not one the double renders; use one of {known}"
        raise ValueError(msg)
    return HTTP_STATUS_NAMES[status]


def _call(matcher: Matcher) -> CallStep | Call:
    return matcher if isinstance(matcher, CallStep | Call) else Call(matcher)
