"""The IAM permissions the delivery library needs, and which predefined roles grant them.

One checked-in table, taken from Google's IAM role reference and kept to the permissions this
library uses and the Admin API calls Terraform makes (a role grants many more; only these
matter here):

- Cloud Run roles: https://cloud.google.com/iam/docs/roles-permissions/run
- Service account roles: https://cloud.google.com/iam/docs/roles-permissions/iam and
  https://cloud.google.com/iam/docs/service-account-permissions
- Cloud Monitoring roles: https://cloud.google.com/iam/docs/roles-permissions/monitoring
- Cloud Logging roles: https://cloud.google.com/iam/docs/roles-permissions/logging (and, for
  which permission ``entries.write`` needs on the project that receives the entries,
  https://cloud.google.com/logging/docs/reference/v2/rest/v2/entries/write)
- Which call needs which permission: the "IAM Permissions" section of each REST method
  (https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services,
  https://cloud.google.com/iam/docs/reference/credentials/rest) and, for attaching a runtime
  service account, https://cloud.google.com/run/docs/configuring/services/service-identity.

The library's error messages name the role from here; the end-to-end tests derive the
deployer's permissions from what Terraform grants it through the same table, so a role that
stopped granting a permission would fail both in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

__all__ = ["NEEDED", "ROLE_PERMISSIONS", "Need", "granted_by", "role_for"]

Scope = Literal["project", "service", "service account"]


@dataclass(frozen=True, kw_only=True)
class Need:
    """One permission the library needs: on which kind of resource, for what, granted by whom."""

    permission: str
    scope: Scope
    purpose: str
    role: str  # the narrowest predefined role that grants it, as Terraform grants it
    where: str  # where that role must be granted


NEEDED: Mapping[str, Need] = MappingProxyType(
    {
        need.permission: need
        for need in (
            Need(
                permission="run.services.get",
                scope="service",
                purpose="read a service (every command)",
                role="roles/run.developer",
                where="on the project",
            ),
            Need(
                permission="run.services.update",
                scope="service",
                purpose="create the candidate, move traffic, keep records on the service",
                role="roles/run.developer",
                where="on the project",
            ),
            Need(
                permission="run.revisions.list",
                scope="service",
                purpose="name the candidate, find rollback targets, show warm instances",
                role="roles/run.developer",
                where="on the project",
            ),
            Need(
                permission="run.revisions.get",
                scope="service",
                purpose="wait for the candidate's Ready condition, read versions",
                role="roles/run.developer",
                where="on the project",
            ),
            Need(
                permission="run.revisions.delete",
                scope="service",
                purpose="delete revisions no tag or traffic keeps",
                role="roles/run.developer",
                where="on the project",
            ),
            Need(
                permission="run.operations.get",
                scope="project",
                purpose="wait for the operation of every write",
                role="roles/run.developer",
                where="on the project",
            ),
            Need(
                permission="iam.serviceAccounts.actAs",
                scope="service account",
                purpose="create a revision that runs as the service's runtime account",
                role="roles/iam.serviceAccountUser",
                where="on each runtime service account",
            ),
            Need(
                permission="iam.serviceAccounts.getOpenIdToken",
                scope="service account",
                purpose="mint the probes' ID tokens as the deployer (generateIdToken)",
                role="roles/iam.serviceAccountOpenIdTokenCreator",
                where="on the deployer service account, granted to itself",
            ),
            Need(
                permission="iam.serviceAccounts.getAccessToken",
                scope="service account",
                purpose="become the deployer from GitHub Actions (workload identity federation)",
                role="roles/iam.workloadIdentityUser",
                where=(
                    "on the deployer service account, to the GitHub principal set; a person "
                    "impersonating the deployer needs roles/iam.serviceAccountTokenCreator on it"
                ),
            ),
            Need(
                permission="run.routes.invoke",
                scope="service",
                purpose="probe the service and tag URLs",
                role="roles/run.invoker",
                where="on each service",
            ),
            Need(
                permission="monitoring.timeSeries.list",
                scope="project",
                purpose="read request metrics for analysis",
                role="roles/monitoring.viewer",
                where="on the project",
            ),
            Need(
                permission="logging.logEntries.create",
                scope="project",
                purpose="write one deployment entry per rollout and rollback to Cloud Logging",
                role="roles/logging.logWriter",
                where="on the project",
            ),
        )
    }
)
"""Every permission the library (and its credential path) needs, by name."""

# Beside what the library needs, the Admin API permissions of the calls Terraform makes
# (create, list, delete), so the tests can act as Terraform with the roles it holds.
_RUN_READ = frozenset(
    {
        "run.services.get",
        "run.services.list",
        "run.revisions.get",
        "run.revisions.list",
        "run.operations.get",
        "run.operations.list",
    }
)
_RUN_WRITE = _RUN_READ | {
    "run.services.create",
    "run.services.update",
    "run.services.delete",
    "run.revisions.delete",
    "run.operations.delete",
}

ROLE_PERMISSIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        # run.admin is run.*; run.developer everything but IAM policy writes and invoking
        # services; run.viewer only reads.
        "roles/run.admin": _RUN_WRITE | {"run.routes.invoke"},
        "roles/run.developer": _RUN_WRITE,
        "roles/run.viewer": _RUN_READ,
        "roles/run.invoker": frozenset({"run.routes.invoke"}),
        "roles/run.servicesInvoker": frozenset({"run.routes.invoke"}),
        "roles/iam.serviceAccountUser": frozenset({"iam.serviceAccounts.actAs"}),
        "roles/iam.serviceAccountOpenIdTokenCreator": frozenset(
            {"iam.serviceAccounts.getOpenIdToken"}
        ),
        "roles/iam.serviceAccountTokenCreator": frozenset(
            {"iam.serviceAccounts.getAccessToken", "iam.serviceAccounts.getOpenIdToken"}
        ),
        "roles/iam.workloadIdentityUser": frozenset(
            {"iam.serviceAccounts.getAccessToken", "iam.serviceAccounts.getOpenIdToken"}
        ),
        "roles/monitoring.viewer": frozenset({"monitoring.timeSeries.list"}),
        "roles/monitoring.editor": frozenset({"monitoring.timeSeries.list"}),
        "roles/monitoring.admin": frozenset({"monitoring.timeSeries.list"}),
        "roles/logging.logWriter": frozenset({"logging.logEntries.create"}),
        "roles/logging.admin": frozenset({"logging.logEntries.create"}),
    }
)
"""Predefined role → the Cloud Run, service account, monitoring and logging permissions it includes
that matter here (those of :data:`NEEDED`, and the Admin API calls Terraform makes)."""


def granted_by(role: str) -> frozenset[str]:
    """The needed permissions ``role`` grants (none for a role this table does not know)."""
    return ROLE_PERMISSIONS.get(role, frozenset())


def role_for(permission: str) -> str:
    """What to grant for ``permission``: role and where, for an error message.

    Case-insensitive: Cloud Run spells ``iam.serviceaccounts.actAs`` in lower case.
    """
    need = next((n for p, n in NEEDED.items() if p.lower() == permission.lower()), None)
    if need is None:
        return "the role that grants it"
    return f"{need.role} ({need.where})"
