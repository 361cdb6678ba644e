"""IAM bindings and the one question the doubles ask them: may these members do this here?

A :class:`Grant` binds a member to a role on a resource, as Terraform's ``*_iam_member``
resources do. Resources are named as IAM names them: ``projects/P`` for the project,
``projects/P/serviceAccounts/EMAIL`` for a service account, ``projects/P/locations/L/services/S``
for a Cloud Run service. A grant on a resource covers everything under it (a project grant
covers every service and service account of the project), as IAM's resource hierarchy does.

What a role allows is :data:`clarity_delivery.permissions.ROLE_PERMISSIONS`, the table taken
from Google's IAM role reference: the doubles enforce exactly the permissions that table says
Terraform's roles grant, no more.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from clarity_delivery.permissions import granted_by

__all__ = [
    "ALL_AUTHENTICATED",
    "ALL_USERS",
    "Grant",
    "IamPolicy",
    "service_account_resource",
]

ALL_USERS = "allUsers"
ALL_AUTHENTICATED = "allAuthenticatedUsers"


def service_account_resource(email: str) -> str:
    """``projects/P/serviceAccounts/EMAIL`` of a user-managed service account's email."""
    domain = email.partition("@")[2]
    project = domain.removesuffix(".iam.gserviceaccount.com") if domain else "-"
    return f"projects/{project}/serviceAccounts/{email}"


@dataclass(frozen=True, order=True)
class Grant:
    """``member`` holds ``role`` on ``resource`` (and on everything under it)."""

    member: str
    role: str
    resource: str

    def covers(self, resource: str) -> bool:
        return resource == self.resource or resource.startswith(self.resource + "/")

    def describe(self) -> str:
        return f"{self.role} to {self.member} on {self.resource}"


class IamPolicy:
    """Every grant of a project; immutable, so a test can derive one without another."""

    def __init__(self, grants: Iterable[Grant]) -> None:
        self.grants: frozenset[Grant] = frozenset(grants)

    def allows(self, members: Iterable[str], permission: str, resource: str) -> bool:
        """Whether any of ``members`` holds a role granting ``permission`` on ``resource``."""
        wanted = permission.lower()
        callers = set(members)
        return any(
            grant.member in callers
            and grant.covers(resource)
            and wanted in {p.lower() for p in granted_by(grant.role)}
            for grant in self.grants
        )

    def of(self, member: str) -> frozenset[Grant]:
        """The grants ``member`` holds."""
        return frozenset(g for g in self.grants if g.member == member)

    def without(self, grant: Grant) -> IamPolicy:
        """This policy minus ``grant``."""
        if grant not in self.grants:
            msg = f"the policy has no grant of {grant.describe()}"
            raise KeyError(msg)
        return IamPolicy(self.grants - {grant})

    def __repr__(self) -> str:
        return f"IamPolicy({len(self.grants)} grants)"
