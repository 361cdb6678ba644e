"""Custom policies: every environment passes them, and each one catches a bad fixture."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.terraform import data_policies, policies
from tests.terraform._terraform import (
    ENVIRONMENTS,
    FIXTURES,
    MODULES_DIR,
    STACK,
    STACK_DIR,
    Graph,
    load_settings,
    parse_graph,
)

pytestmark = pytest.mark.terraform

POLICY_FIXTURES = FIXTURES / "policies"
# The policy that holds each control settings.json may relax, and the violation it reports.
RELAXABLE = {
    "audit_log_lock": ("audit-log-bucket", "is not locked"),
    "audit_log_retention": ("audit-log-bucket", "keeps audit logs"),
    "cmek": ("cmek", "Google-managed key"),
    "data_access_logs": ("data-access-logs", "no Data Access audit logs"),
    "deletion_protection": ("firestore-delete-protection", "is not"),
    "point_in_time_recovery": ("firestore-point-in-time-recovery", "is not"),
    "unauthenticated_gateway": ("public-cloud-run-invoker", "may invoke"),
}


def _fixture(name: str) -> tuple[Graph, dict[str, Any]]:
    root = POLICY_FIXTURES / name
    settings: dict[str, Any] = json.loads((root / "settings.json").read_text())
    return parse_graph(root, tfvars=None), settings


def _found(violations: list[policies.Violation]) -> set[tuple[str, str]]:
    return {(v.address, v.detail) for v in violations}


def _relaxing(settings: dict[str, Any], *controls: str) -> dict[str, Any]:
    reasons = dict.fromkeys(controls, "the fixture relaxes it on purpose")
    return {**settings, "compliance": {"relaxations": reasons}}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_passes_every_policy(graphs: dict[str, Graph], env: str) -> None:
    assert policies.all_violations(graphs[env], load_settings(env)) == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_relaxation_is_what_lets_the_environment_pass(
    graphs: dict[str, Graph], env: str
) -> None:
    """Take one relaxation away and exactly its policy fails on the environment's own graph."""
    settings = load_settings(env)
    relaxations = settings["compliance"]["relaxations"]
    assert set(relaxations) <= set(RELAXABLE)
    for control in relaxations:
        kept = {name: reason for name, reason in relaxations.items() if name != control}
        strict = {**settings, "compliance": {**settings["compliance"], "relaxations": kept}}
        found = policies.all_violations(graphs[env], strict)
        policy, detail = RELAXABLE[control]
        assert found, f"{env}: {control} is relaxed but nothing depends on it"
        assert all(v.policy == policy and detail in v.detail for v in found), (control, found)


def test_prod_relaxes_nothing() -> None:
    assert load_settings("prod")["compliance"]["relaxations"] == {}


def test_public_invoker_is_caught_and_only_the_gateway_may_be_relaxed() -> None:
    graph, settings = _fixture("public-invoker")
    expected = {
        (
            'module.service.google_cloud_run_v2_service_iam_member.invoker["public"]',
            "allUsers may invoke the service",
        ),
        (
            "google_cloud_run_v2_service_iam_binding.everyone",
            "allAuthenticatedUsers may invoke the service",
        ),
        ("google_cloud_run_v2_service_iam_member.ml_public", "allUsers may invoke the service"),
    }
    assert _found(policies.public_cloud_run_invokers(graph, settings)) == expected
    # The fixture's public-service is its gateway: relaxed, it may be public; the ML service never.
    relaxed = _relaxing(settings, "unauthenticated_gateway")
    assert _found(policies.public_cloud_run_invokers(graph, relaxed)) == {
        ("google_cloud_run_v2_service_iam_member.ml_public", "allUsers may invoke the service")
    }


def test_public_members_are_caught_on_everything_but_cloud_run() -> None:
    graph, _ = _fixture("public-member")
    assert _found(policies.public_members(graph)) == {
        ("google_pubsub_topic_iam_member.open_topic", "grants allUsers access"),
        (
            "google_secret_manager_secret_iam_binding.open_secret",
            "grants allAuthenticatedUsers access",
        ),
        ("data.google_iam_policy.open_repository", "grants allUsers access"),
    }


def test_the_ml_service_takes_only_its_callers() -> None:
    graph, settings = _fixture("ml-service-invoker")
    invoker = 'module.ml_service.google_cloud_run_v2_service_iam_member.invoker["{}"]'
    project = settings["project_id"]
    assert _found(policies.ml_service_invokers(graph, settings)) == {
        (invoker.format("analyst"), "user:analyst@example.com may invoke it"),
        (
            invoker.format("batch-job"),
            f"serviceAccount:batch-job@{project}.iam.gserviceaccount.com may invoke it",
        ),
        (
            "google_cloud_run_v2_service_iam_binding.also",
            "group:data-science@example.com may invoke it",
        ),
    }


def test_primitive_roles_are_caught_in_module_expansions_and_policy_documents() -> None:
    graph, _ = _fixture("primitive-role")
    found = policies.primitive_roles(graph)
    assert _found(found) == {
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


def test_key_material_beyond_one_service_agent_per_key_is_caught() -> None:
    graph, _ = _fixture("kms-grants")
    assert _found(policies.kms_grants(graph)) == {
        ("google_kms_key_ring_iam_member.ring_wide", "grants on the whole key ring"),
        ("google_kms_crypto_key_iam_member.admin", "grants roles/cloudkms.admin on a key"),
        (
            "google_kms_crypto_key_iam_member.second",
            "serviceAccount:batch-job@fixture-project.iam.gserviceaccount.com is not a service agent",
        ),
        ("google_kms_crypto_key.shared", "2 members may use this key"),
        (
            "google_project_iam_member.project_wide",
            "grants roles/cloudkms.cryptoKeyEncrypterDecrypter on the project",
        ),
    }


def test_keys_that_rotate_slowly_sign_or_can_be_destroyed_are_caught() -> None:
    graph, _ = _fixture("kms-keys")
    assert _found(data_policies.kms_keys(graph)) == {
        ("google_kms_crypto_key.yearly", "is not ENCRYPT_DECRYPT"),
        ("google_kms_crypto_key.yearly", "rotation_period 31536000s"),
        ("google_kms_crypto_key.yearly", "prevent_destroy is not set"),
    }


def test_missing_data_access_logs_are_caught_unless_relaxed() -> None:
    graph, settings = _fixture("audit-logs")
    assert _found(data_policies.data_access_logs(graph, settings)) == {
        ("google_project_iam_audit_config.run", "DATA_READ is not logged"),
        ("google_project_iam_audit_config.run", "user:auditor@example.com is exempted"),
        *(
            (service, "no Data Access audit logs")
            for service in ("cloudkms.googleapis.com", "datastore.googleapis.com")
        ),
        ("secretmanager.googleapis.com", "no Data Access audit logs"),
    }
    assert data_policies.data_access_logs(graph, _relaxing(settings, "data_access_logs")) == []


def test_short_unlocked_or_partial_audit_log_buckets_are_caught() -> None:
    graph, settings = _fixture("audit-logs")
    bucket = "module.audit_logs.google_logging_project_bucket_config.audit"
    partial = "cloudaudit.googleapis.com/{}"
    assert _found(data_policies.audit_log_bucket(graph, settings)) == {
        (
            "google_logging_project_sink.admin_only",
            "does not route "
            + ", ".join(partial.format(k) for k in ("data_access", "system_event", "policy")),
        ),
        (bucket, "keeps audit logs 400 days, fewer than 2190"),
        (bucket, "is not locked"),
    }
    relaxed = _relaxing(settings, "audit_log_retention", "audit_log_lock")
    assert [v.address for v in data_policies.audit_log_bucket(graph, relaxed)] == [
        "google_logging_project_sink.admin_only"
    ]
    graph, settings = _fixture("kms-keys")
    assert _found(data_policies.audit_log_bucket(graph, settings)) == {
        ("(project)", "no sink routes the audit logs to a bucket")
    }


def test_data_without_its_own_customer_managed_key_is_caught_unless_relaxed() -> None:
    graph, settings = _fixture("cmek")
    shared = (
        "projects/fixture-project/locations/us-central1/keyRings/clarity-prod/cryptoKeys/shared"
    )
    google_managed = "encrypted with a Google-managed key"
    assert _found(data_policies.customer_managed_keys(graph, settings)) == {
        ("module.firestore.google_firestore_database.database", google_managed),
        (
            "google_pubsub_topic.elsewhere",
            "projects/other-project/locations/us-central1/keyRings/theirs/cryptoKeys/theirs "
            "is not declared here",
        ),
        ("google_secret_manager_secret.automatic", google_managed),
        ('module.secrets.google_secret_manager_secret.secret["api-key"]', google_managed),
        (shared, "one key shared by artifact-registry, secret-manager"),
    }
    assert data_policies.customer_managed_keys(graph, _relaxing(settings, "cmek")) == []


def test_unprotected_firestore_is_caught_unless_relaxed() -> None:
    graph, settings = _fixture("unprotected-firestore")
    found = policies.firestore_delete_protection(graph, settings)
    assert [v.detail for v in found] == [
        "delete_protection_state is not DELETE_PROTECTION_ENABLED",
        "deletion_policy is not ABANDON",
    ]
    relaxed = _relaxing(settings, "deletion_protection")
    assert policies.firestore_delete_protection(graph, relaxed) == []


def test_firestore_without_point_in_time_recovery_is_caught_unless_relaxed() -> None:
    graph, settings = _fixture("unprotected-firestore")
    assert _found(data_policies.firestore_point_in_time_recovery(graph, settings)) == {
        (
            "module.firestore.google_firestore_database.database",
            "point_in_time_recovery_enablement is not POINT_IN_TIME_RECOVERY_ENABLED",
        )
    }
    relaxed = _relaxing(settings, "point_in_time_recovery")
    assert data_policies.firestore_point_in_time_recovery(graph, relaxed) == []


def test_policies_find_violations_inside_the_stack() -> None:
    """The real stack, weakened by a prod settings.json that relaxes nothing: found two modules
    down, each by its own policy."""
    graph, settings = _fixture("through-the-stack")
    found = policies.all_violations(graph, settings)
    by_policy: dict[str, set[str]] = {}
    for violation in found:
        by_policy.setdefault(violation.policy, set()).add(violation.address)
    database = f"{STACK}.module.firestore.google_firestore_database.database"
    assert by_policy.pop("public-cloud-run-invoker") == {
        f'{STACK}.module.api_gateway.google_cloud_run_v2_service_iam_member.invoker["public"]'
    }
    assert by_policy.pop("firestore-delete-protection") == {database}
    assert by_policy.pop("data-access-logs") == set(data_policies.AUDITED_SERVICES)
    assert by_policy.pop("audit-log-bucket") == {
        f"{STACK}.module.audit_logs.google_logging_project_bucket_config.audit"
    }
    encrypted = by_policy.pop("cmek")
    assert database in encrypted
    assert len(encrypted) == 9  # the database, six topics, the repository, the secret
    # allow_unauthenticated never makes the ML service public, and nothing else is weakened.
    assert by_policy == {}


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


# Google's service agents, by the key each encrypts with (Google's CMEK guides for Firestore,
# Pub/Sub, Artifact Registry and Secret Manager); the Cloud Monitoring agent calls the services.
SERVICE_AGENT_DOMAINS = {
    "artifact-registry": "gcp-sa-artifactregistry",
    "firestore": "gcp-sa-firestore",
    "pubsub": "gcp-sa-pubsub",
    "secret-manager": "gcp-sa-secretmanager",
}


def _stack_locals() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path in sorted(STACK_DIR.glob("*.tf")):
        for block in hcl2.loads(path.read_text()).get("locals", []):
            found.update(block)
    return found


def test_each_key_is_granted_to_its_own_service_agent_only() -> None:
    """The agents' emails derive from the project number, known to tfparse only after apply,
    so the stack's source is read: the documented format per key, and each key's only
    encrypter is that agent."""
    agents = _stack_locals()["_service_agents"]
    agent = (
        "serviceAccount:service-${{data.google_project.project.number}}@{}.iam.gserviceaccount.com"
    )
    assert {p: v.strip('"') for p, v in agents.items() if p != "__is_block__"} == {
        purpose: agent.format(domain) for purpose, domain in SERVICE_AGENT_DOMAINS.items()
    }
    source = (STACK_DIR / "kms.tf").read_text()
    keys = re.search(r"keys = \{\n(.*?)\n  \}\n", source, re.DOTALL)
    assert keys is not None
    assert " ".join(keys.group(1).split()) == (
        "for purpose, agent in local._service_agents : purpose => "
        "{ encrypters = { service-agent = agent } }"
    )
    assert (
        _stack_locals()["_uptime_check_agent"]
        .strip('"')
        .endswith("@gcp-sa-monitoring-notification.iam.gserviceaccount.com")
    )
