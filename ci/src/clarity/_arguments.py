"""The argument types the functions share: the ``Environment`` enum and documented aliases.

Every argument stays ``Annotated[T, Doc(...)]``; an alias only keeps one wording for an
argument that several functions take.
"""

from __future__ import annotations

import enum
from typing import Annotated, Final

import dagger
from dagger import Doc, enum_type

__all__ = [
    "AlertEmail",
    "BillingAccount",
    "Credentials",
    "Environment",
    "OidcRequestToken",
    "OidcRequestUrl",
    "PublicKey",
    "SignerRepository",
    "SigningKey",
    "SigningKeyPassword",
    "TerraformCredentials",
]

_BILLING_ACCOUNT_DOC: Final = (
    "Billing account id for Terraform's billing_account (012345-6789AB-CDEF01); required."
)
_ALERT_EMAIL_DOC: Final = (
    "Alert address for Terraform's alert_notification_email; required where monitoring is on."
)


@enum_type
class Environment(enum.Enum):
    """A deployment environment: one directory under terraform/environments."""

    # Member names equal their values, so `--env prod` means the same whether the CLI
    # matches enum member names or values.
    dev = "dev"
    """Development: every merge to main."""

    staging = "staging"
    """Staging: release candidates on production-like settings."""

    prod = "prod"
    """Production: refuses changes without --approve."""


BillingAccount = Annotated[str, Doc(_BILLING_ACCOUNT_DOC)]
AlertEmail = Annotated[str, Doc(_ALERT_EMAIL_DOC)]
TerraformCredentials = Annotated[
    dagger.Secret, Doc("Google credentials JSON for the GCS state backend and APIs.")
]
Credentials = Annotated[
    dagger.Secret | None, Doc("Google credentials JSON (required; e.g. env:GOOGLE_CREDENTIALS).")
]

SigningKey = Annotated[
    dagger.Secret | None, Doc("Cosign private key to sign with (outside GitHub Actions).")
]
SigningKeyPassword = Annotated[dagger.Secret | None, Doc("Password of the cosign private key.")]
OidcRequestToken = Annotated[
    dagger.Secret | None,
    Doc("Keyless in GitHub Actions: the job's env://ACTIONS_ID_TOKEN_REQUEST_TOKEN."),
]
OidcRequestUrl = Annotated[
    dagger.Secret | None,
    Doc("Keyless in GitHub Actions: the job's env://ACTIONS_ID_TOKEN_REQUEST_URL."),
]
SignerRepository = Annotated[
    str | None,
    Doc("GitHub OWNER/NAME whose cd.yml on main signed staging's images keyless."),
]
PublicKey = Annotated[
    dagger.File | None, Doc("Cosign public key staging's images were signed with, if not keyless.")
]
