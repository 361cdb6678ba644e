"""Policies checkov has no check for, evaluated over tfparse's expanded module graph.

checkov sees `member = each.value` inside a module; tfparse sees the value each
for_each instance gets from the environment, so these run on the graph instead.
The graph is the whole tree, the stack and the modules it calls included: a policy
selects blocks by resource type, whatever their module path
(module.stack.module.iam...). Each function returns the violations it finds; an
empty list is a pass.

This module holds who may reach what (public members, the ML service's callers,
primitive roles, who may use a key); data_policies.py holds how data is kept
(audit logs, customer-managed keys, Firestore recovery). A control an environment
may relax is relaxed only when its settings.json names it in
`compliance.relaxations`, which the stack's validations forbid in prod.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from tests.terraform import data_policies
from tests.terraform._terraform import Graph, address
from tests.terraform.data_policies import Violation, relaxed

__all__ = [
    "Violation",
    "all_violations",
    "firestore_delete_protection",
    "kms_grants",
    "ml_service_invokers",
    "primitive_roles",
    "public_cloud_run_invokers",
    "public_members",
    "relaxed",
]

PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
CLOUD_RUN_IAM_TYPES = (
    "google_cloud_run_v2_service_iam_member",
    "google_cloud_run_v2_service_iam_binding",
)
_IAM_TYPE = re.compile(r"_iam_(member|binding|policy)$")
# Roles that let a principal use key material; nobody holds them on the project.
KEY_USING_ROLES = frozenset(
    {
        "roles/cloudkms.cryptoKeyDecrypter",
        "roles/cloudkms.cryptoKeyDecrypterViaDelegation",
        "roles/cloudkms.cryptoKeyEncrypter",
        "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        "roles/cloudkms.cryptoKeyEncrypterDecrypterViaDelegation",
        "roles/cloudkms.cryptoKeyEncrypterViaDelegation",
        "roles/cloudkms.cryptoOperator",
    }
)
ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
_SERVICE_AGENT = re.compile(
    r"^serviceAccount:service-\d+@gcp-sa-[a-z-]+\.iam\.gserviceaccount\.com$"
)
_INSTANCE_KEY = re.compile(r'\["([^"]+)"\]$')
# Invokers of the ML service whose email derives from the project number (a Google
# service agent), so tfparse knows it only after apply; stack/main.tf builds it.
_AGENT_INVOKERS = frozenset({"uptime-checks"})


def _members(block: Mapping[str, Any]) -> list[str]:
    members: list[str] = []
    if isinstance(block.get("member"), str):
        members.append(block["member"])
    if isinstance(block.get("members"), list):
        members.extend(m for m in block["members"] if isinstance(m, str))
    bindings = block.get("binding")
    for binding in bindings if isinstance(bindings, list) else [bindings]:
        if isinstance(binding, Mapping) and isinstance(binding.get("members"), list):
            members.extend(m for m in binding["members"] if isinstance(m, str))
    return members


def _gateway_name(settings: Mapping[str, Any]) -> str | None:
    name = settings.get("services", {}).get("api-gateway", {}).get("name")
    return name if isinstance(name, str) else None


def public_cloud_run_invokers(graph: Graph, settings: Mapping[str, Any]) -> list[Violation]:
    """No allUsers/allAuthenticatedUsers on a Cloud Run v2 service, except on the API gateway
    where settings.json relaxes unauthenticated_gateway (and sets allow_unauthenticated, which
    the stack's validations tie to it); the ML service is never public."""
    public_gateway = relaxed(settings, "unauthenticated_gateway")
    return [
        Violation("public-cloud-run-invoker", address(block), f"{member} may invoke the service")
        for resource_type in CLOUD_RUN_IAM_TYPES
        for block in graph.resources(resource_type)
        for member in _members(block)
        if member in PUBLIC_MEMBERS
        and not (public_gateway and block.get("name") == _gateway_name(settings))
    ]


def public_members(graph: Graph) -> list[Violation]:
    """No allUsers/allAuthenticatedUsers on anything but Cloud Run (public_cloud_run_invokers
    judges those): topics, secrets, keys, repositories, the project, policy documents."""
    blocks = [*graph.blocks("resource"), *graph.blocks("data")]
    return [
        Violation("public-member", address(block), f"grants {member} access")
        for block in blocks
        if block["__tfmeta"]["label"] not in CLOUD_RUN_IAM_TYPES
        and (
            _IAM_TYPE.search(block["__tfmeta"]["label"])
            or block["__tfmeta"]["label"] == "google_iam_policy"
        )
        for member in _members(block)
        if member in PUBLIC_MEMBERS
    ]


def _ml_service_identities(settings: Mapping[str, Any]) -> dict[str, str]:
    """Who may call the ML service, by the invoker key the stack uses."""
    project = settings.get("project_id")
    gateway = _gateway_name(settings)
    return {
        # Requests on behalf of users carry the gateway's identity, events the push identity's.
        "api-gateway": f"serviceAccount:{gateway}@{project}.iam.gserviceaccount.com",
        "pubsub-push": f"serviceAccount:clarity-pubsub-push@{project}.iam.gserviceaccount.com",
        # The deployer probes candidates of a service it can already replace (run.developer).
        "deployer": f"serviceAccount:clarity-deployer@{project}.iam.gserviceaccount.com",
    }


def ml_service_invokers(graph: Graph, settings: Mapping[str, Any]) -> list[Violation]:
    """The ML service is reachable only with the gateway's or the push identity's token (and
    the deployer's and the uptime checks', which change nothing): no other invoker, ever."""
    ml_name = settings.get("services", {}).get("ml-service", {}).get("name")
    allowed = set(_ml_service_identities(settings).values())
    violations: list[Violation] = []
    for resource_type in CLOUD_RUN_IAM_TYPES:
        for block in graph.resources(resource_type):
            if block.get("name") != ml_name:
                continue
            match = _INSTANCE_KEY.search(address(block))
            agent = match is not None and match.group(1) in _AGENT_INVOKERS
            members = _members(block)
            if not members and not agent:
                violations.append(
                    Violation(
                        "ml-service-invokers", address(block), "an invoker unknown until apply"
                    )
                )
            violations.extend(
                Violation("ml-service-invokers", address(block), f"{member} may invoke it")
                for member in members
                if member not in allowed and not (agent and _SERVICE_AGENT.match(member))
            )
    return violations


def _roles(block: Mapping[str, Any]) -> Iterable[str]:
    if isinstance(block.get("role"), str):
        yield block["role"]
    bindings = block.get("binding")
    for binding in bindings if isinstance(bindings, list) else [bindings]:
        if isinstance(binding, Mapping) and isinstance(binding.get("role"), str):
            yield binding["role"]


def primitive_roles(graph: Graph) -> list[Violation]:
    """No roles/owner, roles/editor or roles/viewer granted by any resource or policy document."""
    blocks = [*graph.blocks("resource"), *graph.blocks("data")]
    return [
        Violation("primitive-role", address(block), f"grants {role}")
        for block in blocks
        for role in _roles(block)
        if role in PRIMITIVE_ROLES
    ]


def kms_grants(graph: Graph) -> list[Violation]:
    """Key material is used by service agents, one key each: encrypt/decrypt granted on a key
    (never on a key ring or the project), to exactly one member, and that a service agent."""
    violations: list[Violation] = []
    for label in ("google_kms_key_ring_iam_member", "google_kms_key_ring_iam_binding"):
        violations.extend(
            Violation("kms-grants", address(block), "grants on the whole key ring")
            for block in graph.resources(label)
        )
    members_by_key: dict[str, list[str]] = {}
    for label in ("google_kms_crypto_key_iam_member", "google_kms_crypto_key_iam_binding"):
        for block in graph.resources(label):
            violations.extend(
                Violation("kms-grants", address(block), f"grants {role} on a key")
                for role in _roles(block)
                if role != ENCRYPTER_DECRYPTER
            )
            members = _members(block) or [str(block.get("member"))]
            members_by_key.setdefault(str(block.get("crypto_key_id")), []).extend(members)
            violations.extend(
                Violation("kms-grants", address(block), f"{member} is not a service agent")
                for member in _members(block)
                if not _SERVICE_AGENT.match(member)
            )
    keys = {block["id"]: address(block) for block in graph.resources("google_kms_crypto_key")}
    violations.extend(
        Violation("kms-grants", keys.get(key, key), f"{len(members)} members may use this key")
        for key, members in members_by_key.items()
        if len(members) > 1
    )
    for label in ("google_project_iam_member", "google_project_iam_binding"):
        violations.extend(
            Violation("kms-grants", address(block), f"grants {role} on the project")
            for block in graph.resources(label)
            for role in _roles(block)
            if role in KEY_USING_ROLES
        )
    return violations


def firestore_delete_protection(graph: Graph, settings: Mapping[str, Any]) -> list[Violation]:
    """Every Firestore database refuses deletion and is abandoned on destroy, unless
    settings.json relaxes deletion_protection (never in prod)."""
    if relaxed(settings, "deletion_protection"):
        return []
    violations: list[Violation] = []
    for block in graph.resources("google_firestore_database"):
        if block.get("delete_protection_state") != "DELETE_PROTECTION_ENABLED":
            violations.append(
                Violation(
                    "firestore-delete-protection",
                    address(block),
                    "delete_protection_state is not DELETE_PROTECTION_ENABLED",
                )
            )
        if block.get("deletion_policy") != "ABANDON":
            violations.append(
                Violation(
                    "firestore-delete-protection", address(block), "deletion_policy is not ABANDON"
                )
            )
    return violations


def all_violations(graph: Graph, settings: Mapping[str, Any]) -> list[Violation]:
    """Every policy of both modules."""
    return [
        *public_cloud_run_invokers(graph, settings),
        *public_members(graph),
        *ml_service_invokers(graph, settings),
        *primitive_roles(graph),
        *kms_grants(graph),
        *firestore_delete_protection(graph, settings),
        *data_policies.all_violations(graph, settings),
    ]
