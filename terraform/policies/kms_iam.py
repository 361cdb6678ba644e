"""CKV_CLARITY_2: Cloud KMS access is encrypt/decrypt on one key, for service accounts only.

checkov loads this file with `--external-checks-dir terraform/policies`. A grant on a
key ring reaches every key in it, and any other role on a key (admin, viewer, signer...)
is not what a service that stores data needs: both fail. Members written as expressions
checkov cannot resolve (it reports `each.value.member` as written) are left to the
module's validation and to the tfparse policy `kms_grants`, which see evaluated values.
"""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
KEY_RING_TYPES = (
    "google_kms_key_ring_iam_binding",
    "google_kms_key_ring_iam_member",
    "google_kms_key_ring_iam_policy",
)
KEY_TYPES = ("google_kms_crypto_key_iam_binding", "google_kms_crypto_key_iam_member")
# What a literal role or member looks like; anything else is an expression checkov kept.
_ROLE = re.compile(r"^(roles|projects/[^/]+/roles|organizations/[^/]+/roles)/.+$")
_MEMBER = re.compile(r"^(allUsers|allAuthenticatedUsers|[a-zA-Z]+:.+)$")


def _first(value: Any) -> Any:  # noqa: ANN401 - checkov's parsed HCL is untyped
    """checkov wraps every attribute value in a list."""
    return value[0] if isinstance(value, list) and value else value


def _literal(value: Any, pattern: re.Pattern[str]) -> bool:  # noqa: ANN401
    return isinstance(value, str) and "${" not in value and bool(pattern.match(value))


class KmsAccessIsEncryptDecryptOnOneKey(BaseResourceCheck):
    """Only roles/cloudkms.cryptoKeyEncrypterDecrypter, only on a key, only to service accounts."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure Cloud KMS grants are encrypt/decrypt on a single key to service accounts",
            id="CKV_CLARITY_2",
            categories=(CheckCategories.ENCRYPTION,),
            supported_resources=(*KEY_RING_TYPES, *KEY_TYPES, "google_kms_crypto_key_iam_policy"),
        )

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        """Fail key ring grants, authoritative key policies, other roles and non-service members."""
        if self.entity_type not in KEY_TYPES:
            return CheckResult.FAILED
        self.evaluated_keys = ["role", "member", "members"]
        role = _first(conf.get("role"))
        if _literal(role, _ROLE) and role != ENCRYPTER_DECRYPTER:
            return CheckResult.FAILED
        members = [_first(conf.get("member"))] if "member" in conf else _first(conf.get("members"))
        for member in members if isinstance(members, list) else [members]:
            if _literal(member, _MEMBER) and not member.startswith("serviceAccount:"):
                return CheckResult.FAILED
        return CheckResult.PASSED


check = KmsAccessIsEncryptDecryptOnOneKey()
