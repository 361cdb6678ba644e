"""The double's fault hooks (see README.md, "Test hooks"): what tests make the API do wrong.

:class:`FaultHooks` is the part of :class:`~._double.CloudRunDouble` that arms the
:class:`~._faults.FaultInjector` and the reconciler's failing operations; the double wires the
parts, this class only names what a test can ask for.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator

from ._api import Request
from ._errors import GRPC_CODES, ApiError
from ._faults import FaultInjector, Matcher, StepRecord
from ._operations import OperationStore
from ._services import Services
from ._state import ServicePb, Settings, State

__all__ = ["FaultHooks"]

# The HTTP status a gRPC code renders as (only matters if the error is ever sent directly).
_HTTP_FOR_CODE = {"INTERNAL": 500, "UNAVAILABLE": 503, "FAILED_PRECONDITION": 400, "ABORTED": 409}


class FaultHooks:
    """Fault hooks over the double's parts, which the double sets before any call."""

    _faults: FaultInjector
    _state: State
    _settings: Settings
    _services: Services
    _operations: OperationStore
    _writer_count: itertools.count[int]

    def fail_next(
        self,
        method: Matcher,
        *,
        status: int = 503,
        times: int = 1,
        message: str | None = None,
        after: Matcher | None = None,
    ) -> None:
        """Answer the next ``times`` matching calls with ``status``; nothing is written.

        ``method`` is an RPC name (``UpdateService``, ``GetOperation``...), a regular
        expression searched in ``"<HTTP method> <path>"``, a :class:`Call` (which can also
        match the request body) or a :class:`CallStep`. With ``after``, the rule waits until a
        call matching ``after`` has been answered (e.g. the polls of one write's operation).
        """
        self._faults.fail_next(method, status=status, times=times, message=message, after=after)

    def lose_answer(self, method: Matcher, *, times: int = 1, status: int | None = None) -> None:
        """Let the next ``times`` matching calls run (a write lands), then lose the answer:
        the connection closes without one, as when a caller's network drops the reply, or,
        with ``status`` (503, 504...), that error is answered instead of the result, as a
        front end does when the backend applied the call but its reply never came back."""
        self._faults.lose_answers(method, times=times, status=status)

    def fail_operation(
        self,
        method: Matcher = "UpdateService",
        *,
        code: str = "INTERNAL",
        message: str = "Internal error encountered.",
        times: int = 1,
    ) -> None:
        """Accept the next ``times`` matching writes, but fail the operation each one starts
        with ``code`` (a ``google.rpc.Code`` name): the service keeps what was asked for, the
        effective traffic stays as it was, ``terminalCondition`` says why."""
        error = ApiError(_HTTP_FOR_CODE.get(code, 500), code, message)
        if code not in GRPC_CODES:
            msg = f"fail_operation: unknown code {code!r}; use one of {', '.join(GRPC_CODES)}"
            raise ValueError(msg)
        self._faults.fail_operations(method, error=error, times=times)

    def interleave_write(self, method: Matcher, *, times: int = 1) -> None:
        """Just before the next ``times`` matching calls, another client writes the service
        they concern (a label, as a Terraform apply would): its etag and generation change."""
        self._faults.interleave_writes(method, times=times)

    def before_next(self, method: Matcher, action: Callable[[], None], *, times: int = 1) -> None:
        """Run ``action`` just before each of the next ``times`` matching calls, which then
        run as usual (another client that gets in first between a read and a write, or a grant
        revoked at that moment: ``action`` may call the API or :meth:`deny`)."""
        self._faults.before(method, lambda _request: action(), times=times)

    def intercept(self, method: Matcher, callback: Callable[[Request], None]) -> None:
        """Run ``callback`` when the next matching call arrives; the call is not handled and
        gets no answer (e.g. the caller is killed at that moment)."""
        self._faults.intercept(method, callback)

    def clear_faults(self) -> None:
        """Forget every fault rule, denial and failing operation; count steps from 1 again."""
        self._faults.clear()
        with self._state.lock:
            for svc in self._state.services.values():
                svc.failing_operations.clear()

    @property
    def call_steps(self) -> list[StepRecord]:
        """The steps of the calls since the double started or :meth:`clear_faults` (see
        :class:`CallStep`): what a fault aimed at a step will meet."""
        return self._faults.steps()

    def deny(self, permission: str, *, times: int | None = None) -> None:
        """Answer calls that need ``permission`` (``run.services.update``...) with 403."""
        self._faults.deny(permission, times=times)

    def allow(self, permission: str) -> None:
        """Lift a :meth:`deny`."""
        self._faults.allow(permission)

    @contextlib.contextmanager
    def slow_operations(self, seconds: float) -> Iterator[None]:
        """Add ``seconds`` to every operation started inside the block."""
        self._settings.extra_delay += seconds
        try:
            yield
        finally:
            self._settings.extra_delay -= seconds

    def _interleave(self, request: Request) -> None:
        """Another client's write of the service ``request`` concerns (a label change)."""
        name = self._service_of(request)
        with self._state.lock:
            svc = self._state.services.get(name or "")
            if svc is None:
                return
            body = ServicePb()
            body.labels.update(svc.pb.labels)
            body.labels["concurrent-write"] = str(next(self._writer_count))
            self._services.update(svc, body, update_mask="labels", validate_only=False)

    def _service_of(self, request: Request) -> str | None:
        if "service" in request.params:
            return f"{request.params['parent']}/services/{request.params['service']}"
        if "operation" in request.params:
            with contextlib.suppress(ApiError):
                target = str(self._operations.get(request.resource).metadata.name)
                return target.split("/revisions/", 1)[0]
        return None
