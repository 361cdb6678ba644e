"""The Cloud Run Admin API double: its lifecycle, test hooks and what tests may inspect.

This module only assembles the parts (see README.md, "Layout"): the API server routes each
call through the request policies to the RPC table; writes go to the services and revisions,
operations to each service's worker, which switches the proxies.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from google.cloud import run_v2

from ._api import ApiRecord, ApiServer
from ._dispatch import RequestPolicy, RpcDispatcher
from ._fault_hooks import FaultHooks
from ._faults import FaultInjector
from ._iam import IamEnforcer, Identity
from ._journal import ApiLog, ProxyLog
from ._logging import LoggingServer
from ._metadata import MetadataServers
from ._metrics import RequestMetrics
from ._monitoring import MonitoringServer
from ._operations import OperationStore
from ._processes import ImageCommand, RevisionProcessInfo, default_image_command
from ._proxy_auth import VerifiedIdToken
from ._proxy_hooks import ProxyRecord
from ._reconcile import Reconciler
from ._revisions import Revisions
from ._routing import ProxyHooks, Router
from ._rpcs import Rpcs
from ._scaling import warm_instances
from ._services import Services
from ._state import Settings, State

__all__ = ["CloudRunDouble"]


class CloudRunDouble(FaultHooks):
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
        metrics_delay: seconds before a served request shows in the Monitoring double
            (Cloud Monitoring's ingestion delay).
        identity: who callers are and what IAM lets them do (the local token endpoint).
            With it, every API call needs a valid access token and the IAM permission of
            its RPC, service and tag URLs verify ID tokens (signature, expiry, audience)
            and ``run.routes.invoke``, and each revision gets a metadata server that mints
            its runtime account's ID tokens; without it, the API is open and the URLs only
            want a bearer token.
        restamp_etag: the etag changes once more after each operation finished, so the
            etag in the service an operation returned is stale (see README, "Etags").
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
        metrics_delay: float = 0.0,
        identity: Identity | None = None,
        restamp_etag: bool = False,
    ) -> None:
        self._settings = Settings(
            workdir=Path(workdir),
            operation_delay=operation_delay,
            ready_timeout=ready_timeout,
            require_auth=require_auth,
            image_command=image_command or default_image_command,
            platform_env=dict(platform_env or {}),
            restamp_etag=restamp_etag,
        )
        self._state = State(self._settings)
        self._api_log = ApiLog()
        self._proxy_log = ProxyLog()
        self._metrics = RequestMetrics()
        self.metrics_delay = metrics_delay
        self._operations = OperationStore()
        hooks = ProxyHooks(observers=[self._proxy_log, self._metrics])
        self._metadata: MetadataServers | None = None
        if identity is not None:
            hooks.auth = VerifiedIdToken(identity, self._service_facts)
            self._metadata = MetadataServers(identity.mint_id_token)
            self._settings.instance_env = self._metadata.env_for
        self._router = Router(self._settings, hooks)
        revisions = Revisions(self._state, self._operations)
        self._reconciler = Reconciler(self._state, self._operations, self._router, revisions)
        self._services = Services(
            self._state, self._operations, revisions, self._router, self._reconciler
        )
        self._faults = FaultInjector(
            fail_operation=self._reconciler.fail_next_operation, interleave=self._interleave
        )
        self._writer_count = itertools.count(1)
        rpcs = Rpcs(self._state, self._operations, self._services, revisions, identity)
        policies: list[RequestPolicy] = [self._faults]
        if identity is not None:
            policies.append(IamEnforcer(identity))
        self._dispatcher = RpcDispatcher(
            rpcs.table(), policies=policies, answer_policies=[self._faults]
        )
        self._server: ApiServer | None = None
        self._monitoring: MonitoringServer | None = None
        self._logging: LoggingServer | None = None

    # Settings stay plain attributes to callers; the parts read them when they act.
    @property
    def workdir(self) -> Path:
        return self._settings.workdir

    @workdir.setter
    def workdir(self, value: Path) -> None:
        self._settings.workdir = value

    @property
    def operation_delay(self) -> float:
        return self._settings.operation_delay

    @operation_delay.setter
    def operation_delay(self, value: float) -> None:
        self._settings.operation_delay = value

    @property
    def ready_timeout(self) -> float:
        return self._settings.ready_timeout

    @ready_timeout.setter
    def ready_timeout(self, value: float) -> None:
        self._settings.ready_timeout = value

    @property
    def require_auth(self) -> bool:
        return self._settings.require_auth

    @require_auth.setter
    def require_auth(self, value: bool) -> None:
        self._settings.require_auth = value

    @property
    def restamp_etag(self) -> bool:
        return self._settings.restamp_etag

    @restamp_etag.setter
    def restamp_etag(self, value: bool) -> None:
        self._settings.restamp_etag = value

    # ------------------------------------------------------------------ lifecycle

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``, for ``client_options={"api_endpoint": ...}``."""
        if self._server is None:
            msg = "CloudRunDouble is not started: call start() or use it as a context manager"
            raise RuntimeError(msg)
        return f"http://127.0.0.1:{self._server.port}"

    @property
    def monitoring_endpoint(self) -> str:
        """``127.0.0.1:PORT`` of the Cloud Monitoring double (gRPC with local credentials)."""
        if self._monitoring is None:
            msg = "CloudRunDouble is not started: call start() or use it as a context manager"
            raise RuntimeError(msg)
        return f"127.0.0.1:{self._monitoring.port}"

    @property
    def logging_endpoint(self) -> str:
        """``127.0.0.1:PORT`` of the Cloud Logging double (gRPC with local credentials)."""
        if self._logging is None:
            msg = "CloudRunDouble is not started: call start() or use it as a context manager"
            raise RuntimeError(msg)
        return f"127.0.0.1:{self._logging.port}"

    def start(self) -> CloudRunDouble:
        """Start the API server, the Monitoring and the Logging servers (revisions start with
        services)."""
        if self._server is not None:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._state.stopping.clear()
        # Port 0: the kernel picks a free port at bind time, no race with parallel runs.
        server = ApiServer(port=0, dispatch=self._dispatcher, record=self._api_log.append)
        server.start()
        self._server = server
        # The dispatcher's own policy list: whatever guards the Admin API guards Monitoring.
        monitoring = MonitoringServer(
            metrics=self._metrics,
            locate=self._locate,
            delay=lambda: self.metrics_delay,
            policies=self._dispatcher.policies,
            record=self._api_log.append,
        )
        monitoring.start()
        self._monitoring = monitoring
        log_server = LoggingServer(policies=self._dispatcher.policies, record=self._api_log.append)
        log_server.start()
        self._logging = log_server
        return self

    def _locate(self, service_id: str) -> tuple[str, str] | None:
        """The project and location of a service the proxies served, for metric labels."""
        with self._state.lock:
            try:
                name = self._state.find(service_id).pb.name
            except KeyError:
                return None
        parts = name.split("/")
        return parts[1], parts[3]

    def stop(self) -> None:
        """Stop every revision process (by process group), every proxy and the API server."""
        self._state.stopping.set()
        with self._state.lock:
            services = list(self._state.services.values())
            self._state.services.clear()
            server, self._server = self._server, None
            monitoring, self._monitoring = self._monitoring, None
            log_server, self._logging = self._logging, None
        errors: list[BaseException] = []
        for svc in services:
            try:
                self._services.shut_down(svc)
            except Exception as error:  # keep stopping the rest, report after
                errors.append(error)
        if server is not None:
            server.stop()
        if monitoring is not None:
            monitoring.stop()
        if log_server is not None:
            log_server.stop()
        if self._metadata is not None:
            self._metadata.stop()
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

    # ------------------------------------------------------------------ revision hooks

    def stop_revision(self, name: str) -> None:
        """Stop a revision's process (SIGTERM to its group) as if its instance went away."""
        self._state.process_of(name).stop(grace=2.0)

    def kill_revision(self, name: str) -> None:
        """SIGKILL a revision's process group, as a crash would."""
        self._state.process_of(name).kill()

    # ------------------------------------------------------------------ inspection

    def service(self, name: str) -> run_v2.Service:
        """A copy of a service as the API would return it (short or full name)."""
        return self._state.service_copy(name)

    def revision(self, name: str) -> run_v2.Revision:
        """A copy of a revision (short or full name)."""
        return self._state.revision_copy(name)

    def traffic(self, name: str) -> dict[str, int]:
        """The traffic the service URL really splits: revision short name → percent."""
        with self._state.lock:
            return self._router.split(self._state.find(name))

    def routing_history(self, name: str) -> list[dict[str, int]]:
        """Every split the service URL really went through, oldest first.

        One entry per change of the revision → percent map (0 % revisions left out), so
        an update that only moves tags adds nothing.
        """
        with self._state.lock:
            return [dict(split) for split in self._state.find(name).history]

    def tag_urls(self, name: str) -> dict[str, str]:
        """Tag → URL for the tags currently routed on the service."""
        with self._state.lock:
            return self._router.tag_urls(self._state.find(name))

    def revision_processes(self) -> dict[str, RevisionProcessInfo]:
        """Every revision that has a process (running or not): name → pid, port, liveness."""
        return self._state.process_infos()

    @property
    def api_log(self) -> list[ApiRecord]:
        """Every API call answered so far (a copy)."""
        return self._api_log.records()

    @property
    def proxy_log(self) -> list[ProxyRecord]:
        """Every request through a service or tag URL so far (a copy)."""
        return self._proxy_log.records()

    def log_entries(self) -> list[dict[str, Any]]:
        """Every entry written to the Logging double, as ``entries.list`` renders it."""
        if self._logging is None:
            return []
        return self._logging.entries()

    @property
    def last_token_audience(self) -> str | None:
        """The ``aud`` of the last bearer JWT the proxies saw, if any."""
        return self._proxy_log.last_audience()

    def warm_instances(self, name: str) -> dict[str, int]:
        """Revision → instances Cloud Run keeps warm for it under the routing in effect."""
        with self._state.lock:
            svc = self._state.find(name)
            return warm_instances(svc, svc.routing)

    def _service_facts(self, service_id: str) -> tuple[str, frozenset[str]]:
        """A service's full name and the audiences its ID tokens may carry."""
        with self._state.lock:
            try:
                pb = self._state.find(service_id).pb
            except KeyError:  # deleted while a request was on its way: nothing is accepted
                return "", frozenset()
            return pb.name, frozenset({pb.uri, *pb.urls, *pb.custom_audiences})
