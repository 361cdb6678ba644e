"""The RPC table: one handler per route of :data:`._api.ROUTES`.

Handlers parse the request, look the resource up and hand the work to the module that owns
it (:mod:`._services`, :mod:`._revisions`, :mod:`._operations`). Each returns the JSON body
of a 200 answer or raises :class:`~._errors.ApiError`.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from google.protobuf import json_format

from ._api import Request
from ._dispatch import Handler
from ._errors import ApiError
from ._iam import Identity
from ._operations import OperationStore
from ._revisions import Revisions
from ._services import Services
from ._state import ServicePb, State, to_json

__all__ = ["Rpcs"]

_WAIT_LIMIT = 60.0  # seconds WaitOperation blocks at most


class Rpcs:
    """The handlers of the Cloud Run Admin API v2 RPCs the double serves."""

    def __init__(
        self,
        state: State,
        operations: OperationStore,
        services: Services,
        revisions: Revisions,
        identity: Identity | None = None,
    ) -> None:
        self._state = state
        self._operations = operations
        self._services = services
        self._revisions = revisions
        self._identity = identity

    def table(self) -> dict[str, Handler]:
        """RPC name → handler."""
        return {
            "CreateService": self.create_service,
            "ListServices": self.list_services,
            "GetService": self.get_service,
            "UpdateService": self.update_service,
            "DeleteService": self.delete_service,
            "TestIamPermissions": self.test_iam_permissions,
            "ListRevisions": self.list_revisions,
            "GetRevision": self.get_revision,
            "DeleteRevision": self.delete_revision,
            "ListOperations": self.list_operations,
            "GetOperation": self.get_operation,
            "WaitOperation": self.wait_operation,
            "DeleteOperation": self.delete_operation,
        }

    # ------------------------------------------------------------------ services

    def create_service(self, request: Request) -> dict[str, Any]:
        service_id = request.query.get("serviceId", "")
        if not service_id:
            msg = "service_id is required: pass service_id=<name>."
            raise ApiError.invalid(msg)
        body = _parse(request.body, ServicePb(), "service")
        name = f"{request.params['parent']}/services/{service_id}"
        return self._services.create(name, body, validate_only=request.flag("validateOnly"))

    def get_service(self, request: Request) -> dict[str, Any]:
        name = request.resource
        with self._state.lock:
            svc = self._state.services.get(name)
            if svc is None:
                raise ApiError.not_found(name)
            return to_json(svc.pb)

    def list_services(self, request: Request) -> dict[str, Any]:
        prefix = request.params["parent"] + "/services/"
        with self._state.lock:
            found = [
                to_json(s.pb) for key, s in self._state.services.items() if key.startswith(prefix)
            ]
        return {"services": found} if found else {}

    def update_service(self, request: Request) -> dict[str, Any]:
        name = request.resource
        body = _parse(request.body, ServicePb(), "service")
        if body.name and body.name != name:
            msg = f"service.name {body.name!r} does not match the URL ({name})."
            raise ApiError.invalid(msg)
        validate_only = request.flag("validateOnly")
        with self._state.lock:
            svc = self._state.services.get(name)
            if svc is None:
                if request.flag("allowMissing"):
                    return self._services.create(name, body, validate_only=validate_only)
                raise ApiError.not_found(name)
            return self._services.update(
                svc,
                body,
                update_mask=request.query.get("updateMask", ""),
                validate_only=validate_only,
            )

    def delete_service(self, request: Request) -> dict[str, Any]:
        return self._services.delete(request.resource)

    def test_iam_permissions(self, request: Request) -> dict[str, Any]:
        """The asked permissions the caller holds on the service (all of them without IAM)."""
        with self._state.lock:
            if request.resource not in self._state.services:
                raise ApiError.not_found(request.resource)
        try:
            asked = json.loads(request.body or b"{}").get("permissions", [])
        except (ValueError, AttributeError):
            msg = "Invalid JSON payload received for TestIamPermissionsRequest."
            raise ApiError.invalid(msg) from None
        held = [str(p) for p in asked]
        if self._identity is not None:
            members = self._identity.caller(request.headers.get("Authorization", ""))
            held = [p for p in held if self._identity.allows(members, p, request.resource)]
        return {"permissions": held} if held else {}

    # ------------------------------------------------------------------ revisions

    def list_revisions(self, request: Request) -> dict[str, Any]:
        found = self._revisions.list_json(request.resource)
        return {"revisions": found} if found else {}

    def get_revision(self, request: Request) -> dict[str, Any]:
        return self._revisions.get_json(request.resource)

    def delete_revision(self, request: Request) -> dict[str, Any]:
        return self._revisions.delete(request.resource, parent=request.params["parent"])

    # ------------------------------------------------------------------ operations

    def get_operation(self, request: Request) -> dict[str, Any]:
        return self._operations.get(request.resource).to_json()

    def wait_operation(self, request: Request) -> dict[str, Any]:
        operation = self._operations.get(request.resource)
        timeout = _WAIT_LIMIT
        with contextlib.suppress(ValueError, TypeError):
            raw = json.loads(request.body or b"{}").get("timeout", "60s")
            timeout = min(float(str(raw).rstrip("s")), _WAIT_LIMIT)
        operation.finished.wait(timeout)
        return operation.to_json()

    def list_operations(self, request: Request) -> dict[str, Any]:
        found = self._operations.list_json(request.params["parent"])
        return {"operations": found} if found else {}

    def delete_operation(self, request: Request) -> dict[str, Any]:
        operation = self._operations.get(request.resource)
        self._operations.forget(operation.name)
        return {}


def _parse(body: bytes, message: Any, what: str) -> Any:
    """A strictly parsed request body (unknown fields → 400, as the real API)."""
    try:
        json_format.Parse(body or b"{}", message)
    except json_format.ParseError as error:
        msg = f"Invalid JSON payload received for {what}. {error}"
        raise ApiError.invalid(msg) from None
    return message
