"""Revisions: made from a service's template, each run as a real process.

A revision is ``Ready`` once its process accepts TCP on ``PORT`` (Cloud Run's default
startup probe), failed if the process exits first or does not listen in time. A Ready revision
that no traffic and no tag reaches scales to zero (its process stops; it stays Ready), and
gets a process again when traffic or a tag reaches it (a cold start).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from ._errors import ApiError
from ._operations import OperationStore
from ._processes import RevisionProcess, UnknownImageError, revision_environment
from ._routing import resolve_targets
from ._state import (
    CREATOR,
    FAILED,
    PENDING,
    SUCCEEDED,
    RevisionPb,
    RevisionRecord,
    ServiceRecord,
    State,
    TemplatePb,
    condition,
    new_etag,
    random_suffix,
    short_name,
    stamp,
    to_json,
)

__all__ = ["Revisions", "names_existing"]


class Revisions:
    """Creates, starts, settles and deletes the revisions of the double's services."""

    def __init__(self, state: State, operations: OperationStore) -> None:
        self._state = state
        self._operations = operations

    def create(self, svc: ServiceRecord, template: Any) -> str:
        """A new revision of ``svc`` from ``template``, its process started; its short name.

        The caller holds the state lock.
        """
        service_id = short_name(svc.pb.name)
        short = template.revision or f"{service_id}-{svc.pb.generation:05d}-{random_suffix()}"
        pb = RevisionPb(name=f"{svc.pb.name}/revisions/{short}", uid=str(uuid.uuid4()))
        pb.generation = 1
        pb.service = svc.pb.name
        _copy_template_fields(template, pb)
        pb.creator = CREATOR
        stamp(pb, "create_time")
        stamp(pb, "update_time")
        pb.reconciling = True
        pb.conditions.append(condition("Ready", PENDING, "Waiting for the container to listen."))
        pb.etag = new_etag()
        stored_template = TemplatePb()
        stored_template.CopyFrom(template)
        stored_template.revision = short
        revision = RevisionRecord(pb=pb, template=stored_template, process=None)
        svc.revisions[short] = revision
        svc.pb.latest_created_revision = pb.name
        self._launch(svc, revision, template)
        return short

    def list_json(self, service_name: str) -> list[dict[str, Any]]:
        with self._state.lock:
            svc = self._state.services.get(service_name)
            if svc is None:
                raise ApiError.not_found(service_name)
            # Newest first, as the real API lists them.
            return [to_json(rev.pb) for rev in reversed(svc.revisions.values())]

    def get_json(self, name: str) -> dict[str, Any]:
        service_name, short = name.split("/revisions/", 1)
        with self._state.lock:
            rev = self._state.revision_at(service_name, short)
            if rev is None:
                raise ApiError.not_found(name)
            return to_json(rev.pb)

    def delete(self, name: str, *, parent: str) -> dict[str, Any]:
        """Delete a revision nothing routes to and stop its process: a done operation."""
        service_name, short = name.split("/revisions/", 1)
        with self._state.lock:
            rev = self._state.revision_at(service_name, short)
            if rev is None:
                raise ApiError.not_found(name)
            svc = self._state.services[service_name]
            _refuse_if_in_use(svc, short)
            del svc.revisions[short]
            snapshot = RevisionPb()
            snapshot.CopyFrom(rev.pb)
            stamp(snapshot, "delete_time")
            operation = self._operations.start(parent, snapshot)
        if rev.process is not None:
            rev.process.stop(grace=2.0)
        operation.finish(response=snapshot)
        return operation.to_json()

    @staticmethod
    def take_idle(svc: ServiceRecord) -> list[RevisionRecord]:
        """Mark the Ready revisions nothing routes to as scaled to zero; the caller holds the lock
        and stops them (:meth:`scale_to_zero`) after releasing it."""
        reachable = {t.revision for t in svc.routing if t.percent or t.tag}
        idle = [
            rev
            for name, rev in svc.revisions.items()
            if name not in reachable
            and rev.state == "ready"
            and not rev.scaled_to_zero
            and rev.process is not None
        ]
        for rev in idle:
            rev.scaled_to_zero = True
        return idle

    @staticmethod
    def scale_to_zero(revision: RevisionRecord) -> None:
        """Stop the instance of a revision nothing routes to."""
        if revision.process is not None:
            revision.process.stop(grace=2.0)

    def scale_from_zero(self, svc: ServiceRecord, revision: RevisionRecord) -> None:
        """Start an instance of a scaled-to-zero revision and wait until it listens.

        A start that fails leaves the revision Ready (as Cloud Run reports it) with a dead
        instance: the proxies answer 503 for it, as for a crashed one.
        """
        with self._state.lock:
            if not revision.scaled_to_zero:
                return
            revision.scaled_to_zero = False
            template = revision.template
        process = self._start_process(svc, revision, template)
        if process is not None:
            process.wait_ready(
                timeout=self._state.settings.ready_timeout, cancelled=self._state.stopping
            )

    @staticmethod
    def stop_processes(svc: ServiceRecord) -> None:
        for revision in list(svc.revisions.values()):
            if revision.process is not None:
                revision.process.stop(grace=3.0)

    def _launch(self, svc: ServiceRecord, revision: RevisionRecord, template: Any) -> None:
        try:
            process = self._start_process(svc, revision, template)
        except UnknownImageError as error:
            self._settle(revision, failure=str(error))
            return
        if process is None:
            return
        threading.Thread(
            target=self._await_ready,
            args=(revision,),
            name=f"ready-{process.revision}",
            daemon=True,
        ).start()

    def _start_process(
        self, svc: ServiceRecord, revision: RevisionRecord, template: Any
    ) -> RevisionProcess | None:
        """A new process for ``revision`` on a fresh port (None if the image cannot run)."""
        settings = self._state.settings
        short = short_name(revision.pb.name)
        container = template.containers[0]
        port = RevisionProcess.allocate_port()
        try:
            argv = settings.image_command(container.image, port)
        except UnknownImageError:
            if revision.process is None:
                raise
            return None
        env = revision_environment(
            template_env={env.name: env.value for env in container.env},
            platform_env={
                **settings.platform_env,
                **settings.instance_env(template.service_account),
            },
            service=short_name(svc.pb.name),
            revision=short,
            port=port,
        )
        process = RevisionProcess(
            revision=short,
            argv=argv,
            env=env,
            port=port,
            log_path=settings.workdir / f"{short}.log",
        )
        revision.process = process
        process.start()
        return process

    def _await_ready(self, revision: RevisionRecord) -> None:
        assert revision.process is not None
        failure = revision.process.wait_ready(
            timeout=self._state.settings.ready_timeout, cancelled=self._state.stopping
        )
        self._settle(revision, failure=failure)

    def _settle(self, revision: RevisionRecord, *, failure: str | None) -> None:
        with self._state.lock:
            revision.state = "failed" if failure else "ready"
            revision.failure = failure or ""
            del revision.pb.conditions[:]
            if failure:
                revision.pb.conditions.append(condition("Ready", FAILED, failure))
            else:
                revision.pb.conditions.append(condition("Ready", SUCCEEDED))
            revision.pb.reconciling = False
            revision.pb.observed_generation = 1
            revision.pb.etag = new_etag()
        revision.settled.set()


def names_existing(svc: ServiceRecord, template: Any) -> bool:
    """Whether ``template`` names an existing revision; 409 if that one's config differs."""
    existing = svc.revisions.get(template.revision) if template.revision else None
    if existing is None:
        return False
    if existing.template != template:
        msg = f"Revision named '{template.revision}' with different configuration already exists."
        raise ApiError(409, "ALREADY_EXISTS", msg)
    return True


def _refuse_if_in_use(svc: ServiceRecord, short: str) -> None:
    serving = {t.revision for t in svc.routing} | {
        t.revision for t in resolve_targets(svc, svc.pb.traffic)
    }
    if short in serving:
        msg = (
            f"Revision {short} is receiving traffic or named in the service's traffic "
            "targets and cannot be deleted. Move its traffic and tags away first."
        )
        raise ApiError.failed_precondition(msg)
    if short_name(svc.pb.latest_created_revision) == short:
        msg = (
            f"Revision {short} is the latest revision of service "
            f"{short_name(svc.pb.name)} and cannot be deleted."
        )
        raise ApiError.failed_precondition(msg)


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
