"""Rollout state kept on the Cloud Run service itself (annotations), and pure views of a service.

Keeping the state on the service, not on the deployer's disk, is what lets the *next* deploy,
rollback or status notice a rollout whose deployer died mid-step and resolve it, and what
turns a second concurrent rollout into a clear refusal instead of a tug of war over traffic.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from google.cloud import run_v2
from google.protobuf import json_format

from ._errors import ConfigError
from .ledger import DeploymentRecord
from .plan import TrafficSplit, TrafficTarget

__all__ = [
    "COMMIT_ANNOTATION",
    "HISTORY_ANNOTATION",
    "HOST_ENV",
    "LEDGER_ANNOTATION",
    "ROLLOUT_ANNOTATION",
    "TEMPLATE_ANNOTATION",
    "TEMPLATE_DIGEST_ANNOTATION",
    "VERSION_ANNOTATION",
    "VERSION_LABEL",
    "HistoryEntry",
    "RolloutState",
    "apply_split",
    "audience_of",
    "current_split",
    "desired_template",
    "history_of",
    "host_id",
    "ledger_of",
    "owner_id",
    "short_name",
    "stable_revision",
    "tag_url",
    "template_digest",
    "with_ledger",
]

ROLLOUT_ANNOTATION = "clarity.dev/rollout"
HISTORY_ANNOTATION = "clarity.dev/history"
LEDGER_ANNOTATION = "clarity.dev/ledger"
VERSION_ANNOTATION = "clarity.dev/version"
COMMIT_ANNOTATION = "clarity.dev/commit"
# Terraform's wishes for the revision template (modules/cloud-run-service), in the API's JSON.
TEMPLATE_ANNOTATION = "clarity.dev/template"
# On a revision a rollout made: the digest of the TEMPLATE_ANNOTATION it was made from.
TEMPLATE_DIGEST_ANNOTATION = "clarity.dev/template-digest"
VERSION_LABEL = "clarity-version"
COMMIT_LABEL = "clarity-commit"
HISTORY_LIMIT = 20
LEDGER_LIMIT = 20

HOST_ENV = "CLARITY_DEPLOYER_HOST"

_REVISION = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION


def host_id() -> str:
    """The name this deployer's host goes by in leases: ``$CLARITY_DEPLOYER_HOST`` (a CI
    runner's name, say), else the hostname."""
    return os.environ.get(HOST_ENV) or socket.gethostname()


def owner_id() -> str:
    """Who is rolling out: ``host:pid:nonce``, so a dead deployer on the same host is recognised."""
    return f"{host_id()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(frozen=True, kw_only=True)
class RolloutState:
    """An unfinished rollout, as written on the service while it runs."""

    id: str
    version: str
    commit: str
    strategy: str
    candidate: str
    stable: str
    percent: int
    owner: str
    heartbeat: float
    lease_seconds: float

    def to_json(self) -> str:
        """Compact JSON for the annotation value."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_service(cls, service: run_v2.Service) -> RolloutState | None:
        """The state on ``service``, or None (also for an unreadable value)."""
        raw = service.annotations.get(ROLLOUT_ANNOTATION)
        if not raw:
            return None
        try:
            return cls(**json.loads(raw))
        except (ValueError, TypeError):
            return None

    @property
    def expires_at(self) -> float:
        """When the lease runs out unless it is renewed (epoch seconds)."""
        return self.heartbeat + self.lease_seconds

    def renewed(self, *, percent: int | None = None, lease_seconds: float) -> RolloutState:
        """The same rollout with a fresh heartbeat (at ``percent`` of traffic, if it moved)."""
        return replace(
            self,
            percent=self.percent if percent is None else percent,
            heartbeat=time.time(),
            lease_seconds=lease_seconds,
        )

    def abandoned(self, now: float, *, host: str | None = None) -> bool:
        """True when the owner is gone: its lease ran out, or it was a process on this host that died."""
        if now > self.expires_at:
            return True
        return self.dead_on(host or host_id())

    def dead_on(self, host: str) -> bool:
        """Whether the owner was a process on ``host`` that is no longer running."""
        owner_host, pid = ([*self.owner.split(":"), "", ""])[:2]
        return owner_host == host and pid.isdigit() and not _pid_alive(int(pid))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True, kw_only=True)
class HistoryEntry:
    """One finished rollout or rollback of a service: which revision, which version, how it ended."""

    version: str
    revision: str
    outcome: str
    at: float


def history_of(service: run_v2.Service) -> list[HistoryEntry]:
    """The service's rollout history, oldest first."""
    raw = service.annotations.get(HISTORY_ANNOTATION)
    if not raw:
        return []
    try:
        items: list[dict[str, Any]] = json.loads(raw)
        return [HistoryEntry(**item) for item in items]
    except (ValueError, TypeError):
        return []


def with_history(service: run_v2.Service, entry: HistoryEntry) -> str:
    """The history annotation value with ``entry`` appended (bounded)."""
    items = [asdict(e) for e in history_of(service)][-(HISTORY_LIMIT - 1) :]
    items.append(asdict(entry))
    return json.dumps(items, separators=(",", ":"))


def ledger_of(service: run_v2.Service) -> list[DeploymentRecord]:
    """The last rollouts and rollbacks recorded on the service, oldest first."""
    raw = service.annotations.get(LEDGER_ANNOTATION)
    if not raw:
        return []
    try:
        return [DeploymentRecord.from_json(json.dumps(item)) for item in json.loads(raw)]
    except (ValueError, TypeError):
        return []


def with_ledger(service: run_v2.Service, record: DeploymentRecord) -> str:
    """The ledger annotation value with ``record`` appended (bounded, one entry per id)."""
    kept = [r for r in ledger_of(service) if r.id != record.id][-(LEDGER_LIMIT - 1) :]
    return "[" + ",".join([*(r.to_json() for r in kept), record.to_json()]) + "]"


def short_name(resource: str) -> str:
    """``projects/.../revisions/name`` → ``name``."""
    return resource.rsplit("/", 1)[-1]


def current_split(service: run_v2.Service) -> TrafficSplit | None:
    """The service's traffic as revision names (``LATEST`` resolved), or None if it has none."""
    targets = []
    latest = short_name(service.latest_ready_revision) if service.latest_ready_revision else ""
    for t in service.traffic:
        revision = t.revision if t.type_ == _REVISION else latest
        if revision:
            targets.append(TrafficTarget(revision, t.percent, t.tag))
    try:
        return TrafficSplit(tuple(targets)) if targets else None
    except ValueError:
        return None


def stable_revision(service: run_v2.Service) -> str | None:
    """The revision tagged ``stable``, else the one serving the most traffic, else the latest ready."""
    split = current_split(service)
    if split is not None:
        tagged = [t.revision for t in split.targets if t.tag == "stable"]
        if tagged:
            return tagged[0]
        busiest = max(split.targets, key=lambda t: t.percent)
        if busiest.percent > 0:
            return busiest.revision
    return short_name(service.latest_ready_revision) or None


def tagged_revisions(service: run_v2.Service) -> dict[str, str]:
    """Tag → revision for every tagged traffic target."""
    split = current_split(service)
    return {t.tag: t.revision for t in split.targets if t.tag} if split else {}


def apply_split(service: run_v2.Service, split: TrafficSplit) -> None:
    """Write ``split`` into ``service.traffic`` as explicit revision targets."""
    service.traffic = [
        run_v2.TrafficTarget(type_=_REVISION, revision=t.revision, percent=t.percent, tag=t.tag)
        for t in split.targets
    ]


def same_split(service: run_v2.Service, split: TrafficSplit) -> bool:
    """Whether ``service`` already routes exactly as ``split`` (order aside)."""
    current = current_split(service)
    return current is not None and sorted(current.targets, key=repr) == sorted(
        split.targets, key=repr
    )


def desired_template(service: run_v2.Service) -> run_v2.RevisionTemplate | None:
    """The template Terraform wants for the service's next revision, if it says.

    Terraform owns the template's configuration but writes it only here, as an annotation:
    the live template is the rollouts' (terraform/README.md, "Who owns what"). A value that is
    not a revision template in the Admin API's JSON is a :class:`ConfigError`.
    """
    raw = service.annotations.get(TEMPLATE_ANNOTATION)
    if not raw:
        return None
    try:
        message = json_format.Parse(raw, run_v2.RevisionTemplate.pb()())
    except json_format.ParseError as exc:
        msg = (
            f"{short_name(service.name)}: the {TEMPLATE_ANNOTATION} annotation Terraform writes is "
            f"not a Cloud Run revision template ({exc}); fix modules/cloud-run-service and apply"
        )
        raise ConfigError(msg) from None
    template: run_v2.RevisionTemplate = run_v2.RevisionTemplate.wrap(message)
    return template


def template_digest(service: run_v2.Service) -> str:
    """A digest of the template Terraform wants now (its annotation), "" when it says none.

    A rollout writes it on the candidate's template, so a revision tells which of Terraform's
    templates it was made from: a redeploy of the release that serves is a no-op only while
    Terraform wants that same template.
    """
    raw = service.annotations.get(TEMPLATE_ANNOTATION, "")
    return hashlib.sha256(raw.encode()).hexdigest()[:32] if raw else ""


def audience_of(service: run_v2.Service) -> str:
    """The audience of the ID tokens the service's URLs accept: its first custom audience.

    Cloud Run accepts a custom audience on every URL of the service, tag URLs included
    (https://cloud.google.com/run/docs/configuring/custom-audiences); Terraform sets one on
    each service. A service without one accepts only its own URL.
    """
    return next(iter(service.custom_audiences), "") or str(service.uri)


def tag_url(service: run_v2.Service, tag: str) -> str | None:
    """The URL Cloud Run gives a tagged target."""
    for status in service.traffic_statuses:
        if status.tag == tag and status.uri:
            return str(status.uri)
    return None
