"""Service writes: create, update (update masks, etags) and delete, each answering an operation.

An accepted write changes the stored service at once (``generation``, ``etag``,
``reconciling``), creates a revision if the template changed, and queues an operation for the
service's worker (:mod:`._reconcile`), which makes the change effective.
"""

from __future__ import annotations

import uuid
from typing import Any

from google.protobuf import field_mask_pb2

from ._errors import ApiError
from ._operations import OperationStore
from ._reconcile import Reconciler
from ._revisions import Revisions, names_existing
from ._routing import Router
from ._state import (
    CREATOR,
    LATEST,
    RECONCILING,
    ServicePb,
    ServiceRecord,
    State,
    condition,
    new_etag,
    parent_of,
    short_name,
    stamp,
)
from ._validation import validate_service_id, validate_spec

__all__ = ["Services", "merge_update"]

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


class Services:
    """The write side of services. Methods answer the operation as JSON."""

    def __init__(
        self,
        state: State,
        operations: OperationStore,
        revisions: Revisions,
        router: Router,
        reconciler: Reconciler,
    ) -> None:
        self._state = state
        self._operations = operations
        self._revisions = revisions
        self._router = router
        self._reconciler = reconciler

    def create(self, name: str, body: Any, *, validate_only: bool) -> dict[str, Any]:
        service_id = short_name(name)
        validate_service_id(service_id)
        with self._state.lock:
            if name in self._state.services:
                msg = f"Resource '{name}' already exists."
                raise ApiError(409, "ALREADY_EXISTS", msg)
            for field_name in _SERVICE_OUTPUT_ONLY:
                body.ClearField(field_name)
            body.name = name
            if not body.traffic:
                body.traffic.add(type_=LATEST, percent=100)
            validate_spec(body)
            body.uid = str(uuid.uuid4())
            body.generation = 1
            body.creator = body.last_modifier = CREATOR
            stamp(body, "create_time")
            stamp(body, "update_time")
            body.reconciling = True
            body.terminal_condition.CopyFrom(condition("Ready", RECONCILING))
            body.etag = new_etag()
            if validate_only:
                return self._operations.already_done(parent_of(name), body).to_json()
            proxy = self._router.new_proxy(service_id, None)
            svc = ServiceRecord(pb=body, revisions={}, proxy=proxy)
            new_revision = self._revisions.create(svc, body.template)
            self._state.services[name] = svc
            operation = self._reconciler.enqueue(svc, new_revision)
            self._reconciler.start(svc)
            # Rendered under the lock: a fast worker must not finish it before it is answered.
            return operation.to_json()

    def update(
        self, svc: ServiceRecord, body: Any, *, update_mask: str, validate_only: bool
    ) -> dict[str, Any]:
        """Apply an update to ``svc``; the caller holds the state lock."""
        current = svc.pb
        if body.etag and body.etag != current.etag:
            msg = (
                f"The service {short_name(current.name)} has been modified (etag {body.etag} "
                f"does not match the current {current.etag}): read it again and retry."
            )
            raise ApiError(409, "ABORTED", msg)
        for field_name in _SERVICE_OUTPUT_ONLY:
            body.ClearField(field_name)
        desired = merge_update(current, body, update_mask)
        if not desired.traffic:
            desired.traffic.add(type_=LATEST, percent=100)
        validate_spec(desired)
        new_revision_needed = desired.template != current.template and not names_existing(
            svc, desired.template
        )
        if validate_only:
            return self._operations.already_done(parent_of(current.name), desired).to_json()
        desired.generation = current.generation + 1
        desired.last_modifier = CREATOR
        stamp(desired, "update_time")
        desired.reconciling = True
        desired.terminal_condition.CopyFrom(condition("Ready", RECONCILING))
        desired.etag = new_etag()
        svc.pb = desired
        new_revision = (
            self._revisions.create(svc, desired.template) if new_revision_needed else None
        )
        return self._reconciler.enqueue(svc, new_revision).to_json()

    def delete(self, name: str) -> dict[str, Any]:
        """Remove the service and stop its processes and proxies: a done operation."""
        with self._state.lock:
            svc = self._state.services.pop(name, None)
            if svc is None:
                raise ApiError.not_found(name)
            snapshot = ServicePb()
            snapshot.CopyFrom(svc.pb)
            stamp(snapshot, "delete_time")
            operation = self._operations.start(parent_of(name), snapshot)
        self.shut_down(svc)
        operation.finish(response=snapshot)
        return operation.to_json()

    def shut_down(self, svc: ServiceRecord) -> None:
        """Stop the service's worker, then its revision processes, then its proxies."""
        self._reconciler.stop(svc)
        self._revisions.stop_processes(svc)
        self._router.stop_proxies(svc)


def merge_update(current: Any, body: Any, mask_text: str) -> Any:
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
