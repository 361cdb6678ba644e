"""The Cloud Run Admin API double: services, revisions, operations, and real revision processes.

State lives in protobuf messages of ``google.cloud.run.v2`` (the client's own types), so the
JSON the double writes is the JSON the real API writes: camelCase fields, enum names,
RFC 3339 timestamps, operations whose ``response`` is an ``Any``.

Every service has one worker thread that reconciles its operations in order, like the
real control plane: wait the operation delay, wait for the new revision's process to be
Ready, check the traffic targets, then switch the proxies and finish the operation.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from google.cloud import run_v2
from google.longrunning import operations_pb2
from google.protobuf import field_mask_pb2, json_format
from google.protobuf.message import Message

from ._api import ApiRecord, ApiServer, Request, Route
from ._errors import ApiError
from ._faults import FaultInjector
from ._processes import (
    ImageCommand,
    RevisionProcess,
    RevisionProcessInfo,
    UnknownImageError,
    default_image_command,
    revision_environment,
)
from ._proxy import Backend, ProxyRecord, TrafficProxy, WeightedRoundRobin

__all__ = ["CloudRunDouble"]

ServicePb: Any = run_v2.Service.pb()
RevisionPb: Any = run_v2.Revision.pb()
TemplatePb: Any = run_v2.RevisionTemplate.pb()
TrafficTargetPb: Any = run_v2.TrafficTarget.pb()
ConditionPb: Any = run_v2.Condition.pb()

_REVISION = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
_LATEST = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
_SUCCEEDED = run_v2.Condition.State.CONDITION_SUCCEEDED
_FAILED = run_v2.Condition.State.CONDITION_FAILED
_PENDING = run_v2.Condition.State.CONDITION_PENDING
_RECONCILING = run_v2.Condition.State.CONDITION_RECONCILING

# Fields the caller cannot set; on writes they are taken from the stored service.
_SERVICE_OUTPUT_ONLY = (
    "uid",
    "generation",
    "create_time",
    "update_time",
    "delete_time",
    "expire_time",
    "creator",
    "last_modifier",
    "observed_generation",
    "terminal_condition",
    "conditions",
    "latest_ready_revision",
    "latest_created_revision",
    "traffic_statuses",
    "uri",
    "urls",
    "satisfies_pzs",
    "reconciling",
    "etag",
)
_RESERVED_ENV = ("PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION")
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_CREATOR = "cloud-run-double@localhost"


def _now_pb(message: Any, field_name: str) -> None:
    getattr(message, field_name).GetCurrentTime()


def _new_etag() -> str:
    return '"' + secrets.token_urlsafe(12) + '"'


def _suffix() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(3))


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _to_json(message: Message) -> dict[str, Any]:
    result: dict[str, Any] = json_format.MessageToDict(message)
    return result


def _condition(kind: str, state: Any, message: str = "") -> Any:
    condition = ConditionPb(type_=kind, state=state, message=message)
    _now_pb(condition, "last_transition_time")
    return condition


@dataclass
class _Revision:
    pb: Any
    template: Any
    process: RevisionProcess | None
    state: str = "pending"  # pending | ready | failed
    failure: str = ""
    settled: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class _Target:
    kind: int
    revision: str  # resolved short name ("" only if LATEST had nothing to resolve to)
    percent: int
    tag: str


@dataclass
class _Operation:
    name: str
    metadata: Any
    done: bool = False
    response: Any = None
    error: ApiError | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    def finish(self, *, response: Any = None, error: ApiError | None = None) -> None:
        self.response, self.error, self.done = response, error, True
        self.finished.set()

    def to_json(self) -> dict[str, Any]:
        pb = operations_pb2.Operation(name=self.name, done=self.done)
        pb.metadata.Pack(self.metadata)
        if self.error is not None:
            pb.error.code = self.error.rpc_status()["code"]
            pb.error.message = self.error.message
        elif self.response is not None:
            pb.response.Pack(self.response)
        return _to_json(pb)


@dataclass(frozen=True)
class _Job:
    operation: _Operation
    generation: int
    targets: tuple[_Target, ...]
    new_revision: str | None
    delay: float


@dataclass
class _Service:
    pb: Any
    revisions: dict[str, _Revision]
    proxy: TrafficProxy
    tag_proxies: dict[str, TrafficProxy] = field(default_factory=dict)
    routing: tuple[_Target, ...] = ()
    history: list[dict[str, int]] = field(default_factory=list)
    jobs: queue.Queue[_Job | None] = field(default_factory=queue.Queue)
    worker: threading.Thread | None = None


class CloudRunDouble:
    """A local Cloud Run Admin API v2 that runs each revision as a real process.

    Point the real client at :attr:`endpoint`::

        run_v2.ServicesClient(transport="rest", credentials=AnonymousCredentials(),
                              client_options={"api_endpoint": double.endpoint})

    Args:
        workdir: where revision logs go (one ``<revision>.log`` each).
        operation_delay: the least time an operation takes, in seconds.
        ready_timeout: how long a revision may take to listen on ``PORT``.
        image_command: maps ``(image, port)`` to the argv that runs the image locally;
            defaults to uvicorn with the backend app the image's name says.
        platform_env: environment every revision gets (below the template's own env).
        require_auth: service and tag URLs answer 403/401 without a bearer token.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        operation_delay: float = 0.2,
        ready_timeout: float = 30,
        image_command: ImageCommand | None = None,
        platform_env: Mapping[str, str] | None = None,
        require_auth: bool = True,
    ) -> None:
        self.workdir = Path(workdir)
        self.operation_delay = operation_delay
        self.ready_timeout = ready_timeout
        self.require_auth = require_auth
        self._image_command = image_command or default_image_command
        self._platform_env = dict(platform_env or {})
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._services: dict[str, _Service] = {}
        self._operations: dict[str, _Operation] = {}
        self._faults = FaultInjector()
        self._api_log: list[ApiRecord] = []
        self._proxy_log: list[ProxyRecord] = []
        self._server: ApiServer | None = None
        self._extra_delay = 0.0

    # ------------------------------------------------------------------ lifecycle

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``, for ``client_options={"api_endpoint": ...}``."""
        if self._server is None:
            msg = "CloudRunDouble is not started: call start() or use it as a context manager"
            raise RuntimeError(msg)
        return f"http://127.0.0.1:{self._server.port}"

    def start(self) -> CloudRunDouble:
        """Start the API server (revisions start as services are created)."""
        if self._server is not None:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._stopping.clear()
        # Port 0: the kernel picks a free port at bind time, no race with parallel runs.
        server = ApiServer(port=0, dispatch=self._dispatch, record=self._record_api)
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        """Stop every revision process (by process group), every proxy and the API server."""
        self._stopping.set()
        with self._lock:
            services = list(self._services.values())
            self._services.clear()
            server, self._server = self._server, None
        errors: list[BaseException] = []
        for svc in services:
            try:
                self._shut_down_service(svc)
            except Exception as error:  # keep stopping the rest, report after
                errors.append(error)
        if server is not None:
            server.stop()
        if errors:
            raise errors[0]

    def __enter__(self) -> CloudRunDouble:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ test hooks

    def fail_next(
        self, method: str, *, status: int = 503, times: int = 1, message: str | None = None
    ) -> None:
        """Answer the next ``times`` matching calls with ``status``.

        ``method`` is an RPC name (``UpdateService``, ``GetOperation``...) or a regular
        expression searched in ``"<HTTP method> <path>"``.
        """
        self._faults.fail_next(method, status=status, times=times, message=message)

    def lose_answer(self, method: str, *, times: int = 1) -> None:
        """Carry out the next ``times`` matching calls, then answer 503 instead of their result
        (a write that landed while its answer was lost on the way back)."""
        self._faults.lose_next(method, times=times)

    def before_next(self, method: str, action: Callable[[], None], *, times: int = 1) -> None:
        """Run ``action`` just before the next ``times`` matching calls are handled (another
        client that gets in first: a concurrent writer between a read and a write)."""
        self._faults.before_next(method, action, times=times)

    def deny(self, permission: str, *, times: int | None = None) -> None:
        """Answer calls that need ``permission`` (``run.services.update``...) with 403."""
        self._faults.deny(permission, times=times)

    def allow(self, permission: str) -> None:
        """Lift a :meth:`deny`."""
        self._faults.allow(permission)

    @contextlib.contextmanager
    def slow_operations(self, seconds: float) -> Iterator[None]:
        """Add ``seconds`` to every operation started inside the block."""
        self._extra_delay += seconds
        try:
            yield
        finally:
            self._extra_delay -= seconds

    def service(self, name: str) -> run_v2.Service:
        """A copy of a service as the API would return it (short or full name)."""
        with self._lock:
            found: run_v2.Service = run_v2.Service.deserialize(
                self._find(name).pb.SerializeToString()
            )
            return found

    def revision(self, name: str) -> run_v2.Revision:
        """A copy of a revision (short or full name)."""
        with self._lock:
            for svc in self._services.values():
                rev = svc.revisions.get(_short(name))
                if rev is not None:
                    copy: run_v2.Revision = run_v2.Revision.deserialize(rev.pb.SerializeToString())
                    return copy
        msg = f"no revision {name!r} in the Cloud Run double"
        raise KeyError(msg)

    def traffic(self, name: str) -> dict[str, int]:
        """The traffic the service URL really splits: revision short name → percent."""
        with self._lock:
            split: dict[str, int] = {}
            for target in self._find(name).routing:
                if target.percent:
                    split[target.revision] = split.get(target.revision, 0) + target.percent
            return split

    def routing_history(self, name: str) -> list[dict[str, int]]:
        """Every split the service URL really went through, oldest first.

        One entry per change of the revision → percent map (0 % revisions left out), so
        an update that only moves tags adds nothing.
        """
        with self._lock:
            return [dict(split) for split in self._find(name).history]

    def tag_urls(self, name: str) -> dict[str, str]:
        """Tag → URL for the tags currently routed on the service."""
        with self._lock:
            svc = self._find(name)
            return {t.tag: svc.tag_proxies[t.tag].url for t in svc.routing if t.tag}

    def revision_processes(self) -> dict[str, RevisionProcessInfo]:
        """Every revision that has a process (running or not): name → pid, port, liveness."""
        with self._lock:
            return {
                rev_name: rev.process.info()
                for svc in self._services.values()
                for rev_name, rev in svc.revisions.items()
                if rev.process is not None
            }

    def stop_revision(self, name: str) -> None:
        """Stop a revision's process (SIGTERM to its group) as if its instance went away."""
        self._process_of(name).stop(grace=2.0)

    def kill_revision(self, name: str) -> None:
        """SIGKILL a revision's process group, as a crash would."""
        self._process_of(name).kill()

    @property
    def api_log(self) -> list[ApiRecord]:
        """Every API call answered so far (a copy)."""
        with self._lock:
            return list(self._api_log)

    @property
    def proxy_log(self) -> list[ProxyRecord]:
        """Every request through a service or tag URL so far (a copy)."""
        with self._lock:
            return list(self._proxy_log)

    @property
    def last_token_audience(self) -> str | None:
        """The ``aud`` of the last bearer JWT the proxies saw, if any."""
        with self._lock:
            for record in reversed(self._proxy_log):
                if record.audience is not None:
                    return record.audience
            return None

    # ------------------------------------------------------------------ internals: lookups

    def _find(self, name: str) -> _Service:
        svc = self._services.get(name)
        if svc is None and "/" not in name:
            matches = [s for key, s in self._services.items() if _short(key) == name]
            svc = matches[0] if len(matches) == 1 else None
        if svc is None:
            msg = f"no service {name!r} in the Cloud Run double"
            raise KeyError(msg)
        return svc

    def _process_of(self, name: str) -> RevisionProcess:
        with self._lock:
            for svc in self._services.values():
                rev = svc.revisions.get(_short(name))
                if rev is not None and rev.process is not None:
                    return rev.process
        msg = f"no revision process {name!r} in the Cloud Run double"
        raise KeyError(msg)

    def _record_api(self, record: ApiRecord) -> None:
        with self._lock:
            self._api_log.append(record)

    def _record_proxy(self, record: ProxyRecord) -> None:
        with self._lock:
            self._proxy_log.append(record)

    # ------------------------------------------------------------------ internals: dispatch

    def _dispatch(self, route: Route, request: Request) -> tuple[int, dict[str, Any]]:
        resource = self._resource_of(request)
        request_line = f"{request.http_method} {request.path}"
        self._faults.run_hooks(rpc=route.rpc, request_line=request_line)
        self._faults.check(
            rpc=route.rpc,
            request_line=request_line,
            permission=route.permission,
            resource=resource,
        )
        handler: Callable[[Request], dict[str, Any]] = getattr(self, "_rpc_" + route.rpc)
        answer = handler(request)
        self._faults.check_answer(rpc=route.rpc, request_line=request_line)
        return 200, answer

    @staticmethod
    def _resource_of(request: Request) -> str:
        parent = request.params["parent"]
        if "service" in request.params:
            name = f"{parent}/services/{request.params['service']}"
            if "revision" in request.params:
                name += f"/revisions/{request.params['revision']}"
            return name
        if "operation" in request.params:
            return f"{parent}/operations/{request.params['operation']}"
        return parent

    @staticmethod
    def _parse(body: bytes, message: Any, what: str) -> Any:
        try:
            json_format.Parse(body or b"{}", message)
        except json_format.ParseError as error:
            msg = f"Invalid JSON payload received for {what}. {error}"
            raise ApiError.invalid(msg) from None
        return message

    # ------------------------------------------------------------------ RPCs: services

    def _rpc_CreateService(self, request: Request) -> dict[str, Any]:  # noqa: N802
        service_id = request.query.get("serviceId", "")
        if not service_id:
            msg = "service_id is required: pass service_id=<name>."
            raise ApiError.invalid(msg)
        body = self._parse(request.body, ServicePb(), "service")
        name = f"{request.params['parent']}/services/{service_id}"
        return self._create(name, body, validate_only=request.flag("validateOnly"))

    def _rpc_GetService(self, request: Request) -> dict[str, Any]:  # noqa: N802
        name = self._resource_of(request)
        with self._lock:
            svc = self._services.get(name)
            if svc is None:
                raise ApiError.not_found(name)
            return _to_json(svc.pb)

    def _rpc_ListServices(self, request: Request) -> dict[str, Any]:  # noqa: N802
        prefix = request.params["parent"] + "/services/"
        with self._lock:
            found = [_to_json(s.pb) for key, s in self._services.items() if key.startswith(prefix)]
        return {"services": found} if found else {}

    def _rpc_UpdateService(self, request: Request) -> dict[str, Any]:  # noqa: N802
        name = self._resource_of(request)
        body = self._parse(request.body, ServicePb(), "service")
        if body.name and body.name != name:
            msg = f"service.name {body.name!r} does not match the URL ({name})."
            raise ApiError.invalid(msg)
        with self._lock:
            svc = self._services.get(name)
            if svc is None:
                if request.flag("allowMissing"):
                    return self._create(name, body, validate_only=request.flag("validateOnly"))
                raise ApiError.not_found(name)
            return self._update(svc, body, request)

    def _rpc_DeleteService(self, request: Request) -> dict[str, Any]:  # noqa: N802
        name = self._resource_of(request)
        with self._lock:
            svc = self._services.pop(name, None)
            if svc is None:
                raise ApiError.not_found(name)
            snapshot = ServicePb()
            snapshot.CopyFrom(svc.pb)
            _now_pb(snapshot, "delete_time")
            operation = self._new_operation(request.params["parent"], snapshot)
        self._shut_down_service(svc)
        operation.finish(response=snapshot)
        return operation.to_json()

    # ------------------------------------------------------------------ RPCs: revisions

    def _rpc_ListRevisions(self, request: Request) -> dict[str, Any]:  # noqa: N802
        name = self._resource_of(request)
        with self._lock:
            svc = self._services.get(name)
            if svc is None:
                raise ApiError.not_found(name)
            # Newest first, as the real API lists them.
            found = [_to_json(rev.pb) for rev in reversed(svc.revisions.values())]
        return {"revisions": found} if found else {}

    def _rpc_GetRevision(self, request: Request) -> dict[str, Any]:  # noqa: N802
        name = self._resource_of(request)
        with self._lock:
            rev = self._revision_at(request)
            if rev is None:
                raise ApiError.not_found(name)
            return _to_json(rev.pb)

    def _rpc_DeleteRevision(self, request: Request) -> dict[str, Any]:  # noqa: N802
        name = self._resource_of(request)
        short = request.params["revision"]
        with self._lock:
            rev = self._revision_at(request)
            if rev is None:
                raise ApiError.not_found(name)
            svc = self._services[name.split("/revisions/", 1)[0]]
            serving = {t.revision for t in svc.routing} | {
                t.revision for t in self._targets(svc, svc.pb.traffic)
            }
            if short in serving:
                msg = (
                    f"Revision {short} is receiving traffic or named in the service's traffic "
                    "targets and cannot be deleted. Move its traffic and tags away first."
                )
                raise ApiError.failed_precondition(msg)
            if _short(svc.pb.latest_created_revision) == short:
                msg = (
                    f"Revision {short} is the latest revision of service "
                    f"{_short(svc.pb.name)} and cannot be deleted."
                )
                raise ApiError.failed_precondition(msg)
            del svc.revisions[short]
            snapshot = RevisionPb()
            snapshot.CopyFrom(rev.pb)
            _now_pb(snapshot, "delete_time")
            operation = self._new_operation(request.params["parent"], snapshot)
        if rev.process is not None:
            rev.process.stop(grace=2.0)
        operation.finish(response=snapshot)
        return operation.to_json()

    def _revision_at(self, request: Request) -> _Revision | None:
        svc = self._services.get(f"{request.params['parent']}/services/{request.params['service']}")
        return None if svc is None else svc.revisions.get(request.params["revision"])

    # ------------------------------------------------------------------ RPCs: operations

    def _rpc_GetOperation(self, request: Request) -> dict[str, Any]:  # noqa: N802
        return self._operation_at(request).to_json()

    def _rpc_WaitOperation(self, request: Request) -> dict[str, Any]:  # noqa: N802
        operation = self._operation_at(request)
        timeout = 60.0
        with contextlib.suppress(ValueError, TypeError):
            raw = json.loads(request.body or b"{}").get("timeout", "60s")
            timeout = min(float(str(raw).rstrip("s")), 60.0)
        operation.finished.wait(timeout)
        return operation.to_json()

    def _rpc_ListOperations(self, request: Request) -> dict[str, Any]:  # noqa: N802
        prefix = request.params["parent"] + "/operations/"
        with self._lock:
            found = [op.to_json() for key, op in self._operations.items() if key.startswith(prefix)]
        return {"operations": found} if found else {}

    def _rpc_DeleteOperation(self, request: Request) -> dict[str, Any]:  # noqa: N802
        operation = self._operation_at(request)
        with self._lock:
            self._operations.pop(operation.name, None)
        return {}

    def _operation_at(self, request: Request) -> _Operation:
        name = self._resource_of(request)
        with self._lock:
            operation = self._operations.get(name)
        if operation is None:
            raise ApiError.not_found(name)
        return operation

    def _new_operation(self, parent: str, metadata: Any) -> _Operation:
        operation = _Operation(name=f"{parent}/operations/{uuid.uuid4()}", metadata=metadata)
        self._operations[operation.name] = operation
        return operation

    # ------------------------------------------------------------------ writes

    def _create(self, name: str, body: Any, *, validate_only: bool) -> dict[str, Any]:
        service_id = _short(name)
        if not _DNS_LABEL.match(service_id) or len(service_id) > 49:
            msg = (
                f"service_id {service_id!r} must be 1-49 lowercase letters, digits or hyphens, "
                "start with a letter and not end with a hyphen."
            )
            raise ApiError.invalid(msg)
        parent = name.split("/services/", 1)[0]
        with self._lock:
            if name in self._services:
                msg = f"Resource '{name}' already exists."
                raise ApiError(409, "ALREADY_EXISTS", msg)
            for field_name in _SERVICE_OUTPUT_ONLY:
                body.ClearField(field_name)
            body.name = name
            if not body.traffic:
                body.traffic.add(type_=_LATEST, percent=100)
            self._validate_spec(body)
            body.uid = str(uuid.uuid4())
            body.generation = 1
            body.creator = body.last_modifier = _CREATOR
            _now_pb(body, "create_time")
            _now_pb(body, "update_time")
            body.reconciling = True
            body.terminal_condition.CopyFrom(_condition("Ready", _RECONCILING))
            body.etag = _new_etag()
            if validate_only:
                operation = _Operation(name=f"{parent}/operations/{uuid.uuid4()}", metadata=body)
                operation.finish(response=body)
                return operation.to_json()
            proxy = self._new_proxy(service_id, None)
            svc = _Service(pb=body, revisions={}, proxy=proxy)
            new_revision = self._new_revision(svc, body.template)
            self._services[name] = svc
            operation = self._enqueue(svc, new_revision)
            self._start_worker(svc)
            return operation.to_json()

    def _update(self, svc: _Service, body: Any, request: Request) -> dict[str, Any]:
        current = svc.pb
        if body.etag and body.etag != current.etag:
            msg = (
                f"The service {_short(current.name)} has been modified (etag {body.etag} does "
                f"not match the current {current.etag}): read it again and retry."
            )
            raise ApiError(409, "ABORTED", msg)
        for field_name in _SERVICE_OUTPUT_ONLY:
            body.ClearField(field_name)
        desired = _merge_update(current, body, request.query.get("updateMask", ""))
        if not desired.traffic:
            desired.traffic.add(type_=_LATEST, percent=100)
        self._validate_spec(desired)
        new_revision_needed = desired.template != current.template and not _names_existing(
            svc, desired.template
        )
        if request.flag("validateOnly"):
            operation = _Operation(
                name=f"{_parent(current.name)}/operations/{uuid.uuid4()}", metadata=desired
            )
            operation.finish(response=desired)
            return operation.to_json()
        desired.generation = current.generation + 1
        desired.last_modifier = _CREATOR
        _now_pb(desired, "update_time")
        desired.reconciling = True
        desired.terminal_condition.CopyFrom(_condition("Ready", _RECONCILING))
        desired.etag = _new_etag()
        svc.pb = desired
        new_revision = self._new_revision(svc, desired.template) if new_revision_needed else None
        return self._enqueue(svc, new_revision).to_json()

    def _validate_spec(self, service: Any) -> None:
        service_id = _short(service.name)
        template = service.template
        if not template.containers or not template.containers[0].image:
            msg = "template.containers[0].image is required."
            raise ApiError.invalid(msg)
        for index, container in enumerate(template.containers):
            reserved = sorted({env.name for env in container.env} & set(_RESERVED_ENV))
            if reserved:
                msg = (
                    f"template.containers[{index}].env: the following reserved env names were "
                    f"provided: {', '.join(reserved)}. These values are automatically set by "
                    "the system."
                )
                raise ApiError.invalid(msg)
        if template.revision and (
            not template.revision.startswith(service_id + "-")
            or not _DNS_LABEL.match(template.revision)
            or len(template.revision) > 63
        ):
            msg = (
                f"template.revision {template.revision!r}: revision name must be prefixed by "
                f"the name of the enclosing Service with a trailing -, as in '{service_id}-...', "
                "use lowercase letters, digits and hyphens, and be at most 63 characters."
            )
            raise ApiError.invalid(msg)
        _validate_traffic(service.traffic)

    def _new_revision(self, svc: _Service, template: Any) -> str:
        service_id = _short(svc.pb.name)
        short = template.revision or f"{service_id}-{svc.pb.generation:05d}-{_suffix()}"
        pb = RevisionPb(name=f"{svc.pb.name}/revisions/{short}", uid=str(uuid.uuid4()))
        pb.generation = 1
        pb.service = svc.pb.name
        _copy_template_fields(template, pb)
        pb.creator = _CREATOR
        _now_pb(pb, "create_time")
        _now_pb(pb, "update_time")
        pb.reconciling = True
        pb.conditions.append(_condition("Ready", _PENDING, "Waiting for the container to listen."))
        pb.etag = _new_etag()
        stored_template = TemplatePb()
        stored_template.CopyFrom(template)
        stored_template.revision = short
        revision = _Revision(pb=pb, template=stored_template, process=None)
        svc.revisions[short] = revision
        svc.pb.latest_created_revision = pb.name
        self._launch(svc, revision, template)
        return short

    def _launch(self, svc: _Service, revision: _Revision, template: Any) -> None:
        short = _short(revision.pb.name)
        container = template.containers[0]
        port = RevisionProcess.allocate_port()
        try:
            argv = self._image_command(container.image, port)
        except UnknownImageError as error:
            self._settle(revision, failure=str(error))
            return
        env = revision_environment(
            template_env={env.name: env.value for env in container.env},
            platform_env=self._platform_env,
            service=_short(svc.pb.name),
            revision=short,
            port=port,
        )
        process = RevisionProcess(
            revision=short, argv=argv, env=env, port=port, log_path=self.workdir / f"{short}.log"
        )
        revision.process = process
        process.start()
        threading.Thread(
            target=self._await_ready, args=(revision,), name=f"ready-{short}", daemon=True
        ).start()

    def _await_ready(self, revision: _Revision) -> None:
        assert revision.process is not None
        failure = revision.process.wait_ready(timeout=self.ready_timeout, cancelled=self._stopping)
        self._settle(revision, failure=failure)

    def _settle(self, revision: _Revision, *, failure: str | None) -> None:
        with self._lock:
            revision.state = "failed" if failure else "ready"
            revision.failure = failure or ""
            del revision.pb.conditions[:]
            if failure:
                revision.pb.conditions.append(_condition("Ready", _FAILED, failure))
            else:
                revision.pb.conditions.append(_condition("Ready", _SUCCEEDED))
            revision.pb.reconciling = False
            revision.pb.observed_generation = 1
            revision.pb.etag = _new_etag()
        revision.settled.set()

    def _targets(self, svc: _Service, traffic: Any) -> tuple[_Target, ...]:
        latest = _short(svc.pb.latest_created_revision)
        return tuple(
            _Target(
                kind=t.type_,
                revision=latest if t.type_ == _LATEST else t.revision,
                percent=t.percent,
                tag=t.tag,
            )
            for t in traffic
        )

    def _enqueue(self, svc: _Service, new_revision: str | None) -> _Operation:
        parent = _parent(svc.pb.name)
        snapshot = ServicePb()
        snapshot.CopyFrom(svc.pb)
        operation = self._new_operation(parent, snapshot)
        svc.jobs.put(
            _Job(
                operation=operation,
                generation=svc.pb.generation,
                targets=self._targets(svc, svc.pb.traffic),
                new_revision=new_revision,
                delay=self.operation_delay + self._extra_delay,
            )
        )
        return operation

    def _new_proxy(self, service_id: str, tag: str | None) -> TrafficProxy:
        proxy = TrafficProxy(
            service=service_id,
            tag=tag,
            port=0,
            require_auth=self.require_auth,
            record=self._record_proxy,
        )
        proxy.start()
        return proxy

    # ------------------------------------------------------------------ reconciliation

    def _start_worker(self, svc: _Service) -> None:
        svc.worker = threading.Thread(
            target=self._work, args=(svc,), name=f"reconcile-{_short(svc.pb.name)}", daemon=True
        )
        svc.worker.start()

    def _work(self, svc: _Service) -> None:
        while True:
            job = svc.jobs.get()
            if job is None or self._stopping.is_set():
                if job is not None:
                    job.operation.finish(
                        error=ApiError(503, "UNAVAILABLE", "The Cloud Run double is stopping.")
                    )
                return
            try:
                self._reconcile(svc, job)
            except Exception as error:  # an operation must always finish
                job.operation.finish(error=ApiError(500, "INTERNAL", f"double bug: {error!r}"))

    def _reconcile(self, svc: _Service, job: _Job) -> None:
        if self._stopping.wait(job.delay):
            job.operation.finish(
                error=ApiError(503, "UNAVAILABLE", "The Cloud Run double stopped.")
            )
            return
        with self._lock:
            waiting = [
                svc.revisions[t.revision] for t in job.targets if t.revision in svc.revisions
            ]
            if job.new_revision and job.new_revision in svc.revisions:
                waiting.append(svc.revisions[job.new_revision])
        deadline = time.monotonic() + self.ready_timeout + 5
        for revision in waiting:
            while not revision.settled.wait(0.1):
                if self._stopping.is_set() or time.monotonic() > deadline:
                    break
        with self._lock:
            error = self._route_error(svc, job)
            pb = svc.pb
            latest = job.generation >= pb.generation
            if error is None:
                self._apply_routing(svc, job.targets)
            ready = [r for r in svc.revisions.values() if r.state == "ready"]
            if ready:
                pb.latest_ready_revision = ready[-1].pb.name
            if latest:
                pb.observed_generation = job.generation
                pb.reconciling = False
                del pb.conditions[:]
                if error is None:
                    pb.terminal_condition.CopyFrom(_condition("Ready", _SUCCEEDED))
                    pb.conditions.append(_condition("RoutesReady", _SUCCEEDED))
                    pb.conditions.append(_condition("ConfigurationsReady", _SUCCEEDED))
                else:
                    pb.terminal_condition.CopyFrom(_condition("Ready", _FAILED, error.message))
                    pb.conditions.append(_condition("RoutesReady", _FAILED, error.message))
            pb.etag = _new_etag()
            result = ServicePb()
            result.CopyFrom(pb)
        if error is None:
            job.operation.finish(response=result)
        else:
            job.operation.finish(error=error)

    def _route_error(self, svc: _Service, job: _Job) -> ApiError | None:
        checks = [t.revision for t in job.targets]
        if job.new_revision:
            checks.append(job.new_revision)
        for name in checks:
            revision = svc.revisions.get(name)
            if revision is None:
                return ApiError(
                    500,
                    "INTERNAL",
                    f"Revision '{name}' does not exist or is deleted. Update all traffic to "
                    "route to currently available revisions.",
                )
            if revision.state != "ready":
                reason = revision.failure or "It did not become ready in time."
                return ApiError(
                    400,
                    "FAILED_PRECONDITION",
                    f"Revision '{name}' is not ready and cannot serve traffic. {reason}",
                )
        return None

    def _apply_routing(self, svc: _Service, targets: tuple[_Target, ...]) -> None:
        service_id = _short(svc.pb.name)
        ports = {name: rev.process.port for name, rev in svc.revisions.items() if rev.process}
        weights: dict[str, int] = {}
        for target in targets:
            weights[target.revision] = weights.get(target.revision, 0) + target.percent
        balancer = WeightedRoundRobin(
            [(Backend(name, ports[name]), percent) for name, percent in weights.items()]
        )
        svc.proxy.route_to(balancer.pick)
        svc.routing = targets
        split = {name: percent for name, percent in weights.items() if percent}
        if not svc.history or svc.history[-1] != split:
            svc.history.append(split)
        tagged = {t.tag: t.revision for t in targets if t.tag}
        for tag, stale in svc.tag_proxies.items():
            if tag not in tagged:
                stale.route_to(_fixed(None))
        del svc.pb.traffic_statuses[:]
        for target in targets:
            status = svc.pb.traffic_statuses.add(type_=target.kind, percent=target.percent)
            if target.kind == _REVISION:
                status.revision = target.revision
            if target.tag:
                if target.tag not in svc.tag_proxies:
                    svc.tag_proxies[target.tag] = self._new_proxy(service_id, target.tag)
                tag_proxy = svc.tag_proxies[target.tag]
                tag_proxy.route_to(_fixed(Backend(target.revision, ports[target.revision])))
                status.tag = target.tag
                status.uri = tag_proxy.url
        svc.pb.uri = svc.proxy.url
        del svc.pb.urls[:]
        svc.pb.urls.append(svc.proxy.url)

    def _shut_down_service(self, svc: _Service) -> None:
        svc.jobs.put(None)
        if svc.worker is not None:
            svc.worker.join(timeout=10)
        for revision in list(svc.revisions.values()):
            if revision.process is not None:
                revision.process.stop(grace=3.0)
        for proxy in [svc.proxy, *svc.tag_proxies.values()]:
            proxy.stop()


def _copy_template_fields(template: Any, revision: Any) -> None:
    """Copy what a revision inherits from its template (fields both messages share)."""
    targets = {f.name: f for f in RevisionPb.DESCRIPTOR.fields}
    for descriptor, value in template.ListFields():
        target = targets.get(descriptor.name)
        if descriptor.name == "revision" or target is None or target.type != descriptor.type:
            continue
        if descriptor.message_type is not None and descriptor.message_type.GetOptions().map_entry:
            getattr(revision, descriptor.name).update(value)
        elif descriptor.is_repeated or descriptor.message_type is not None:
            getattr(revision, descriptor.name).MergeFrom(value)
        else:
            setattr(revision, descriptor.name, value)


def _validate_traffic(traffic: Any) -> None:
    """Synchronous checks of traffic targets (400 INVALID_ARGUMENT)."""
    total = 0
    tags: set[str] = set()
    for index, target in enumerate(traffic):
        where = f"traffic[{index}]"
        if target.type_ == _REVISION and not target.revision:
            msg = f"{where}: a REVISION target needs a revision name."
            raise ApiError.invalid(msg)
        if target.type_ == _LATEST and target.revision:
            msg = f"{where}: a LATEST target must not name a revision."
            raise ApiError.invalid(msg)
        if target.type_ not in (_REVISION, _LATEST):
            msg = (
                f"{where}.type must be TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION or "
                "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST."
            )
            raise ApiError.invalid(msg)
        if not 0 <= target.percent <= 100:
            msg = f"{where}.percent must be between 0 and 100."
            raise ApiError.invalid(msg)
        if target.tag:
            if not _DNS_LABEL.match(target.tag) or len(target.tag) > 46:
                msg = f"{where}.tag {target.tag!r} must be lowercase letters, digits or hyphens."
                raise ApiError.invalid(msg)
            if target.tag in tags:
                msg = f"{where}.tag {target.tag!r} is used more than once."
                raise ApiError.invalid(msg)
            tags.add(target.tag)
        total += target.percent
    if total != 100:
        msg = f"The traffic percentages must add up to 100, they add up to {total}."
        raise ApiError.invalid(msg)


def _merge_update(current: Any, body: Any, mask_text: str) -> Any:
    """The service an update asks for: masked fields from ``body``, or all writable ones."""
    desired = ServicePb()
    desired.CopyFrom(current)
    if mask_text:
        mask = field_mask_pb2.FieldMask()
        try:
            mask.FromJsonString(mask_text)
        except ValueError as error:
            msg = f"Invalid update_mask {mask_text!r}: {error}"
            raise ApiError.invalid(msg) from None
        if not mask.IsValidForDescriptor(ServicePb.DESCRIPTOR):
            msg = f"update_mask {mask_text!r} names fields that a Service does not have."
            raise ApiError.invalid(msg)
        mask.MergeMessage(body, desired, replace_message_field=True, replace_repeated_field=True)
    else:
        for descriptor in ServicePb.DESCRIPTOR.fields:
            if descriptor.name not in _SERVICE_OUTPUT_ONLY and descriptor.name != "name":
                desired.ClearField(descriptor.name)
        desired.MergeFrom(body)
        desired.name = current.name
    return desired


def _names_existing(svc: _Service, template: Any) -> bool:
    """Whether ``template`` names an existing revision; 409 if that one's config differs."""
    existing = svc.revisions.get(template.revision) if template.revision else None
    if existing is None:
        return False
    if existing.template != template:
        msg = f"Revision named '{template.revision}' with different configuration already exists."
        raise ApiError(409, "ALREADY_EXISTS", msg)
    return True


def _fixed(backend: Backend | None) -> Callable[[], Backend | None]:
    return lambda: backend


def _parent(name: str) -> str:
    return name.split("/services/", 1)[0]
