"""IAM on the Admin API: who calls, and whether IAM lets them (a request policy).

With an :class:`Identity` (the local token endpoint, whose bindings the delivery tests derive
from Terraform) every call must carry an access token that endpoint issued, and:

* the caller needs the RPC's permission (the route's ``permission``: ``run.services.get``,
  ``run.services.update``, ``run.revisions.list``, ``run.operations.get``...) on the resource
  the call names, granted on it or on its project (``TestIamPermissions`` needs none: any
  caller may ask which permissions it holds);
* a write of a template (``CreateService``, or ``UpdateService`` whose update mask names
  ``template`` or that has no mask) also needs ``iam.serviceAccounts.actAs`` on the template's
  service account, as Cloud Run requires of whoever attaches a runtime identity
  (https://cloud.google.com/run/docs/configuring/services/service-identity).

A call without a valid token answers 401 ``UNAUTHENTICATED``; a missing permission 403
``PERMISSION_DENIED`` with an ``ErrorInfo``, in Cloud Run's words.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

from ._api import Request, Route
from ._errors import ApiError

__all__ = ["IamEnforcer", "Identity"]

_ACT_AS = "iam.serviceaccounts.actAs"  # the spelling Cloud Run's error message uses


class Identity(Protocol):
    """Who a token stands for, what IAM allows, which ID tokens are genuine."""

    def caller(self, authorization: str) -> frozenset[str]:
        """The IAM members of an ``Authorization: Bearer`` access token; ValueError if none."""
        ...

    def allows(self, members: Iterable[str], permission: str, resource: str) -> bool:
        """Whether IAM lets ``members`` use ``permission`` on ``resource``."""
        ...

    def verify_id_token(self, token: str) -> dict[str, Any]:
        """The claims of a genuine, unexpired ID token; ValueError otherwise."""
        ...

    def mint_id_token(self, email: str, audience: str) -> str:
        """An ID token of ``email`` for ``audience`` (what an instance's metadata server hands out)."""
        ...


class IamEnforcer:
    """The request policy that makes every Admin API call pass IAM first."""

    def __init__(self, identity: Identity) -> None:
        self._identity = identity

    def check(self, route: Route, request: Request) -> None:
        try:
            members = self._identity.caller(request.headers.get("Authorization", ""))
        except ValueError:
            msg = (
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential."
            )
            raise ApiError(401, "UNAUTHENTICATED", msg) from None
        if route.permission and not self._identity.allows(
            members, route.permission, request.resource
        ):
            raise ApiError.permission_denied(route.permission, request.resource)
        account = _template_account(route, request)
        if account and not self._identity.allows(
            members, _ACT_AS, f"projects/{_project_of(account)}/serviceAccounts/{account}"
        ):
            raise ApiError(
                403,
                "PERMISSION_DENIED",
                f"Permission '{_ACT_AS}' denied on service account {account} (or it may not exist).",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "IAM_PERMISSION_DENIED",
                        "domain": "iam.googleapis.com",
                        "metadata": {"permission": _ACT_AS, "resource": account},
                    }
                ],
            )


def _template_account(route: Route, request: Request) -> str:
    """The runtime service account of a template this call writes, or ''."""
    if route.rpc not in {"CreateService", "UpdateService"}:
        return ""
    mask = request.query.get("updateMask", "")
    if route.rpc == "UpdateService" and mask:
        paths = {p.strip() for p in mask.split(",")}
        if not any(p == "template" or p.startswith("template.") for p in paths):
            return ""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return ""  # the handler answers the malformed body with its own 400
    template = body.get("template") if isinstance(body, dict) else None
    account = template.get("serviceAccount") if isinstance(template, dict) else None
    return account if isinstance(account, str) else ""


def _project_of(account: str) -> str:
    domain = account.partition("@")[2]
    return domain.removesuffix(".iam.gserviceaccount.com") if domain else "-"
