"""Custom policies: every environment passes them, and each one catches a bad fixture."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.terraform import policies
from tests.terraform._terraform import (
    ENVIRONMENTS,
    FIXTURES,
    MODULES_DIR,
    STACK,
    Graph,
    load_settings,
    parse_graph,
)

pytestmark = pytest.mark.terraform

POLICY_FIXTURES = FIXTURES / "policies"


def _fixture(name: str) -> tuple[Graph, dict[str, Any]]:
    root = POLICY_FIXTURES / name
    settings: dict[str, Any] = json.loads((root / "settings.json").read_text())
    return parse_graph(root, tfvars=None), settings


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_passes_every_policy(graphs: dict[str, Graph], env: str) -> None:
    assert policies.all_violations(graphs[env], load_settings(env)) == []


def test_public_invoker_is_caught_unless_settings_allow_it() -> None:
    graph, settings = _fixture("public-invoker")
    found = policies.public_cloud_run_invokers(graph, settings)
    assert {(v.address, v.detail) for v in found} == {
        (
            'module.service.google_cloud_run_v2_service_iam_member.invoker["public"]',
            "allUsers may invoke the service",
        ),
        (
            "google_cloud_run_v2_service_iam_binding.everyone",
            "allAuthenticatedUsers may invoke the service",
        ),
    }
    assert (
        policies.public_cloud_run_invokers(graph, {**settings, "allow_unauthenticated": True}) == []
    )


def test_primitive_roles_are_caught_in_module_expansions_and_policy_documents() -> None:
    graph, _ = _fixture("primitive-role")
    found = policies.primitive_roles(graph)
    assert {(v.address, v.detail) for v in found} == {
        (
            'module.iam.google_project_iam_member.project["too-powerful roles/editor"]',
            "grants roles/editor",
        ),
        ("data.google_iam_policy.owner", "grants roles/owner"),
        (
            'module.wrapper.module.iam.google_project_iam_member.project["nested-viewer roles/viewer"]',
            "grants roles/viewer",
        ),
    }


def test_unprotected_prod_firestore_is_caught() -> None:
    graph, settings = _fixture("unprotected-firestore")
    found = policies.firestore_delete_protection(graph, settings)
    assert [v.detail for v in found] == [
        "delete_protection_state is not DELETE_PROTECTION_ENABLED",
        "deletion_policy is not ABANDON",
    ]
    assert policies.firestore_delete_protection(graph, {**settings, "environment": "dev"}) == []


def test_policies_find_violations_inside_the_stack() -> None:
    """The real stack made public and unprotected by its settings: found two modules down."""
    graph, settings = _fixture("through-the-stack")
    assert policies.public_cloud_run_invokers(graph, settings) == []
    private = {**settings, "allow_unauthenticated": False}
    found = policies.public_cloud_run_invokers(graph, private)
    assert {v.address for v in found} == {
        f'{STACK}.module.{name}.google_cloud_run_v2_service_iam_member.invoker["public"]'
        for name in ("api_gateway", "ml_service")
    }
    found = policies.firestore_delete_protection(graph, settings)
    assert {(v.address, v.detail) for v in found} == {
        (f"{STACK}.module.firestore.google_firestore_database.database", detail)
        for detail in (
            "delete_protection_state is not DELETE_PROTECTION_ENABLED",
            "deletion_policy is not ABANDON",
        )
    }
    assert policies.primitive_roles(graph) == []


def test_protected_prod_firestore_passes(tmp_path: Path) -> None:
    """The same fixture with protection on passes: the policy keys on the value, not the fixture."""
    root = tmp_path / "protected"
    root.mkdir()
    source = (POLICY_FIXTURES / "unprotected-firestore" / "main.tf").read_text()
    # tfparse resolves relative module sources only.
    modules = os.path.relpath(MODULES_DIR, root)
    source = source.replace("../../../../../terraform/modules", modules)
    (root / "main.tf").write_text(
        source.replace("delete_protection = false", "delete_protection = true")
    )
    (root / "settings.json").write_text(
        (POLICY_FIXTURES / "unprotected-firestore" / "settings.json").read_text()
    )
    graph = parse_graph(root, tfvars=None)
    (database,) = graph.resources("google_firestore_database")
    assert database["delete_protection_state"] == "DELETE_PROTECTION_ENABLED"
    assert policies.firestore_delete_protection(graph, load_settings("prod")) == []
