"""Policies checkov has no check for, evaluated over tfparse's expanded module graph.

checkov sees `member = each.value` inside a module; tfparse sees the value each
for_each instance gets from the environment, so these run on the graph instead.
The graph is the whole tree, the stack and the modules it calls included: a policy
selects blocks by resource type, whatever their module path
(module.stack.module.iam...). Each function returns the violations it finds; an
empty list is a pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tests.terraform._terraform import Graph, address

PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
CLOUD_RUN_IAM_TYPES = (
    "google_cloud_run_v2_service_iam_member",
    "google_cloud_run_v2_service_iam_binding",
)


@dataclass(frozen=True)
class Violation:
    """One policy breach at one resource address."""

    policy: str
    address: str
    detail: str


def _members(block: Mapping[str, Any]) -> list[str]:
    members: list[str] = []
    if isinstance(block.get("member"), str):
        members.append(block["member"])
    if isinstance(block.get("members"), list):
        members.extend(m for m in block["members"] if isinstance(m, str))
    return members


def public_cloud_run_invokers(graph: Graph, settings: Mapping[str, Any]) -> list[Violation]:
    """No allUsers/allAuthenticatedUsers on a Cloud Run v2 service unless settings allow it."""
    if settings.get("allow_unauthenticated") is True:
        return []
    return [
        Violation("public-cloud-run-invoker", address(block), f"{member} may invoke the service")
        for resource_type in CLOUD_RUN_IAM_TYPES
        for block in graph.resources(resource_type)
        for member in _members(block)
        if member in PUBLIC_MEMBERS
    ]


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


def firestore_delete_protection(graph: Graph, settings: Mapping[str, Any]) -> list[Violation]:
    """In prod every Firestore database refuses deletion and is abandoned on destroy."""
    if settings.get("environment") != "prod":
        return []
    violations = []
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
    """Every policy above."""
    return [
        *public_cloud_run_invokers(graph, settings),
        *primitive_roles(graph),
        *firestore_delete_protection(graph, settings),
    ]
