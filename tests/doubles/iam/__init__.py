"""IAM for the local doubles: bindings, the tokens Google issues, and its token endpoints.

:mod:`tests.doubles.oauth` serves the endpoints; the Cloud Run double enforces the same
:class:`IamPolicy` on every API call and verifies the same authority's ID tokens at its
service and tag URLs.
"""

from ._endpoints import Answer, IdentityEndpoints, WorkloadIdentityProvider, parse_json
from ._policy import ALL_AUTHENTICATED, ALL_USERS, Grant, IamPolicy, service_account_resource
from ._tokens import GITHUB_ISSUER, GOOGLE_ISSUER, InvalidToken, KeyPair, TokenAuthority

__all__ = [
    "ALL_AUTHENTICATED",
    "ALL_USERS",
    "GITHUB_ISSUER",
    "GOOGLE_ISSUER",
    "Answer",
    "Grant",
    "IamPolicy",
    "IdentityEndpoints",
    "InvalidToken",
    "KeyPair",
    "TokenAuthority",
    "WorkloadIdentityProvider",
    "parse_json",
    "service_account_resource",
]
