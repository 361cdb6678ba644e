"""What the double holds: services and revisions as the client's own protobuf messages.

State lives in messages of ``google.cloud.run.v2`` so the JSON the double writes is the JSON
the real API writes: camelCase fields, enum names, RFC 3339 timestamps. Beside each message
the double keeps what the API does not show: the revision's process and readiness, the
proxies, the routing actually applied, the service's queue of operations.

One re-entrant lock (:attr:`State.lock`) guards all of it; every module that reads or writes
a service takes it.
"""

from __future__ import annotations

import queue
import secrets
import string
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.cloud import run_v2
from google.protobuf import json_format
from google.protobuf.message import Message

from ._processes import ImageCommand, RevisionProcess, RevisionProcessInfo
from ._proxy import TrafficProxy

if TYPE_CHECKING:
    from ._reconcile import Job

__all__ = [
    "CREATOR",
    "FAILED",
    "LATEST",
    "PENDING",
    "RECONCILING",
    "REVISION",
    "SUCCEEDED",
    "ConditionPb",
    "RevisionPb",
    "RevisionRecord",
    "ServicePb",
    "ServiceRecord",
    "Settings",
    "State",
    "Target",
    "TemplatePb",
    "condition",
    "new_etag",
    "parent_of",
    "random_suffix",
    "short_name",
    "stamp",
    "to_json",
]

ServicePb: Any = run_v2.Service.pb()
RevisionPb: Any = run_v2.Revision.pb()
TemplatePb: Any = run_v2.RevisionTemplate.pb()
ConditionPb: Any = run_v2.Condition.pb()

REVISION = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
LATEST = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
SUCCEEDED = run_v2.Condition.State.CONDITION_SUCCEEDED
FAILED = run_v2.Condition.State.CONDITION_FAILED
PENDING = run_v2.Condition.State.CONDITION_PENDING
RECONCILING = run_v2.Condition.State.CONDITION_RECONCILING

CREATOR = "cloud-run-double@localhost"


def stamp(message: Any, field_name: str) -> None:
    """Set a timestamp field of ``message`` to now."""
    getattr(message, field_name).GetCurrentTime()


def new_etag() -> str:
    return '"' + secrets.token_urlsafe(12) + '"'


def random_suffix() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(3))


def short_name(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def parent_of(service_name: str) -> str:
    """``projects/p/locations/l`` of ``projects/p/locations/l/services/s``."""
    return service_name.split("/services/", 1)[0]


def to_json(message: Message) -> dict[str, Any]:
    result: dict[str, Any] = json_format.MessageToDict(message)
    return result


def condition(kind: str, state: Any, message: str = "") -> Any:
    made = ConditionPb(type_=kind, state=state, message=message)
    stamp(made, "last_transition_time")
    return made


@dataclass
class Settings:
    """The double's knobs, shared by its parts and read when each is used."""

    workdir: Path
    operation_delay: float
    ready_timeout: float
    require_auth: bool
    image_command: ImageCommand
    platform_env: Mapping[str, str]
    extra_delay: float = 0.0  # what slow_operations() adds
    restamp_etag: bool = False  # the etag changes again once an operation has finished
    # Environment of an instance running as a service account (its metadata server).
    instance_env: Callable[[str], Mapping[str, str]] = lambda _account: {}


@dataclass
class RevisionRecord:
    pb: Any
    template: Any
    process: RevisionProcess | None
    state: str = "pending"  # pending | ready | failed
    failure: str = ""
    settled: threading.Event = field(default_factory=threading.Event)
    scaled_to_zero: bool = False  # Ready, but no instance: no traffic and no tag routes to it


@dataclass(frozen=True)
class Target:
    kind: int
    revision: str  # resolved short name ("" only if LATEST had nothing to resolve to)
    percent: int
    tag: str


@dataclass
class ServiceRecord:
    pb: Any
    revisions: dict[str, RevisionRecord]
    proxy: TrafficProxy
    tag_proxies: dict[str, TrafficProxy] = field(default_factory=dict)
    routing: tuple[Target, ...] = ()
    history: list[dict[str, int]] = field(default_factory=list)
    jobs: queue.Queue[Job | None] = field(default_factory=queue.Queue)
    worker: threading.Thread | None = None
    failing_operations: list[Any] = field(default_factory=list)  # ApiErrors for the next writes


class State:
    """The services of the double, keyed by full name, and the lookups tests and RPCs use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.services: dict[str, ServiceRecord] = {}

    def find(self, name: str) -> ServiceRecord:
        """The service of a full or (unambiguous) short name; KeyError otherwise."""
        svc = self.services.get(name)
        if svc is None and "/" not in name:
            matches = [s for key, s in self.services.items() if short_name(key) == name]
            svc = matches[0] if len(matches) == 1 else None
        if svc is None:
            msg = f"no service {name!r} in the Cloud Run double"
            raise KeyError(msg)
        return svc

    def revision_at(self, service_name: str, revision: str) -> RevisionRecord | None:
        svc = self.services.get(service_name)
        return None if svc is None else svc.revisions.get(revision)

    def service_copy(self, name: str) -> run_v2.Service:
        with self.lock:
            found: run_v2.Service = run_v2.Service.deserialize(
                self.find(name).pb.SerializeToString()
            )
            return found

    def revision_copy(self, name: str) -> run_v2.Revision:
        with self.lock:
            for svc in self.services.values():
                rev = svc.revisions.get(short_name(name))
                if rev is not None:
                    copy: run_v2.Revision = run_v2.Revision.deserialize(rev.pb.SerializeToString())
                    return copy
        msg = f"no revision {name!r} in the Cloud Run double"
        raise KeyError(msg)

    def process_of(self, name: str) -> RevisionProcess:
        with self.lock:
            for svc in self.services.values():
                rev = svc.revisions.get(short_name(name))
                if rev is not None and rev.process is not None:
                    return rev.process
        msg = f"no revision process {name!r} in the Cloud Run double"
        raise KeyError(msg)

    def process_infos(self) -> dict[str, RevisionProcessInfo]:
        with self.lock:
            return {
                rev_name: rev.process.info()
                for svc in self.services.values()
                for rev_name, rev in svc.revisions.items()
                if rev.process is not None
            }
