"""Plan-like inventories per environment over tfparse's evaluated graph (Fabric style).

Addresses and counts, then the values the delivery system relies on, each compared
with the environment's settings.json. The graph is the whole tree an environment root
evaluates: the root's one module call (the stack) and the leaf modules it calls.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import hcl2
import pytest
from clarity_delivery import _state as st
from google.cloud import run_v2
from google.protobuf import json_format

from tests.terraform._terraform import (
    ENVIRONMENTS,
    MODULES_DIR,
    STACK,
    STACK_DIR,
    Graph,
    address,
    load_settings,
)

pytestmark = pytest.mark.terraform

ISSUE_TOPICS = {"healthkit-data-ingestion", "ml-processing-requests", "insight-generation"}
PUBSUB_AGENT_PREFIX = "serviceAccount:service-"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _expected_counts(settings: dict[str, Any]) -> Counter[str]:
    services = len(settings["services"])
    counts: Counter[str] = Counter(
        {
            "google_artifact_registry_repository": 1,
            "google_artifact_registry_repository_iam_member": 1,
            "google_billing_budget": 1,
            "google_cloud_run_v2_service": services,
            # ml-service: gateway, deployer, push identity, uptime checks (never public);
            # api-gateway: deployer, push identity (the ingestion dead letters), uptime checks,
            # and allUsers where settings allow it.
            "google_cloud_run_v2_service_iam_member": 7
            + (1 if settings["allow_unauthenticated"] else 0),
            "google_firestore_database": 1,
            # expire_at on the synthetic batches' records, samples and insights
            "google_firestore_field": 3,
            "google_firestore_index": 2,
            "google_iam_workload_identity_pool": 1,
            "google_iam_workload_identity_pool_provider": 1,
            "google_logging_metric": 3,
            "google_logging_project_bucket_config": 1,
            "google_logging_project_sink": 1,
            "google_monitoring_dashboard": 1,
            "google_project_iam_member": 33,
            "google_project_service": 13,
            # one per topic and per dead-letter topic, and the push of the ingestion dead letters
            "google_pubsub_subscription": 7,
            # dead-letter subscriber grants (3), the gateway on insights
            "google_pubsub_subscription_iam_member": 4,
            "google_pubsub_topic": 6,
            "google_pubsub_topic_iam_member": 3,
            "google_secret_manager_secret": 1,
            "google_secret_manager_secret_iam_member": 1,
            "google_service_account": 6,
            "google_service_account_iam_member": 10,
        }
    )
    # Each promotion target's deployer reads the services and the repository.
    promotion_targets = len(settings.get("promotion_targets", []))
    counts["google_project_iam_member"] += promotion_targets
    counts["google_artifact_registry_repository_iam_member"] += promotion_targets
    if settings["backup_enabled"]:
        counts["google_firestore_backup_schedule"] = 1
    compliance = settings["compliance"]
    if compliance["audit_logs"]["data_access"]:
        counts["google_project_iam_audit_config"] = 5
    if compliance["cmek"]:
        counts["google_kms_key_ring"] = 1
        # One key per service that stores data, and its service agent on it.
        counts["google_kms_crypto_key"] = 4
        counts["google_kms_crypto_key_iam_member"] = 4
    if settings["monitoring_enabled"]:
        counts["google_monitoring_notification_channel"] = 1
        counts["google_monitoring_uptime_check_config"] = services
        # 5xx ratio and p99 latency per service; failed rollouts and failed rollbacks.
        counts["google_monitoring_alert_policy"] = 2 * services + 2
    return counts


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_resource_counts(graphs: dict[str, Graph], env: str) -> None:
    actual = Counter(block["__tfmeta"]["label"] for block in graphs[env].blocks())
    assert actual == _expected_counts(load_settings(env))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_key_addresses(graphs: dict[str, Graph], env: str) -> None:
    addresses = set(graphs[env].by_address())
    expected = {
        f"{STACK}.{relative}"
        for relative in (
            "module.api_gateway.google_cloud_run_v2_service.service",
            "module.ml_service.google_cloud_run_v2_service.service",
            "module.firestore.google_firestore_database.database",
            'module.firestore.google_firestore_index.index["users-email-created-at"]',
            'module.firestore.google_firestore_index.index["health-data-user-timestamp-type"]',
            "module.github_oidc.google_iam_workload_identity_pool_provider.github",
            "module.budget.google_billing_budget.budget",
            'google_project_service.api["run.googleapis.com"]',
            *(f'module.pubsub.google_pubsub_topic.topic["{t}"]' for t in ISSUE_TOPICS),
            *(f'module.pubsub.google_pubsub_topic.dead_letter["{t}"]' for t in ISSUE_TOPICS),
            *(f'module.pubsub.google_pubsub_subscription.dead_letter["{t}"]' for t in ISSUE_TOPICS),
        )
    }
    assert expected <= addresses
    monitoring = {a for a in addresses if a.startswith(f"{STACK}.module.monitoring[0].")}
    assert bool(monitoring) == load_settings(env)["monitoring_enabled"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cloud_run_matches_settings(graphs: dict[str, Graph], env: str) -> None:
    settings = load_settings(env)
    services = {
        block["name"]: block for block in graphs[env].resources("google_cloud_run_v2_service")
    }
    assert set(services) == {service["name"] for service in settings["services"].values()}
    for service in settings["services"].values():
        block = services[service["name"]]
        template = block["template"]
        container = template["containers"]
        # The minimum is the service's (warm only where traffic goes), the maximum each revision's.
        assert block["scaling"]["min_instance_count"] == service["min_instances"]
        assert template["scaling"] == {"max_instance_count": service["max_instances"]} | {
            k: v for k, v in template["scaling"].items() if k in {"__tfmeta", "id"}
        }
        assert block["custom_audiences"] == [
            f"https://{service['name']}.{settings['project_id']}.clarity.internal"
        ]
        assert template["max_instance_request_concurrency"] == service["concurrency"]
        assert container["resources"]["limits"] == {
            "cpu": service["cpu"],
            "memory": service["memory"],
        }
        assert block["deletion_protection"] is settings["deletion_protection"]
        assert block["project"] == settings["project_id"]
        assert block["location"] == settings["region"]
        for probe in ("startup_probe", "liveness_probe"):
            assert container[probe]["http_get"]["path"] == "/health"
            assert container[probe]["http_get"]["port"] == container["ports"]["container_port"]
        assert template["service_account"].startswith(service["name"] + "@")
        # Every entry of the lifecycle block survives evaluation (its content is checked below).
        assert len(block["lifecycle"]["ignore_changes"]) == 7


def test_deletion_protection_is_off_only_in_dev(graphs: dict[str, Graph]) -> None:
    protection = {
        env: {
            block["deletion_protection"]
            for block in graphs[env].resources("google_cloud_run_v2_service")
        }
        for env in ENVIRONMENTS
    }
    assert protection == {"dev": {False}, "staging": {True}, "prod": {True}}


def test_cloud_run_ignores_what_the_delivery_pipeline_owns() -> None:
    source = hcl2.loads((MODULES_DIR / "cloud-run-service" / "main.tf").read_text())
    (service,) = [r for r in source["resource"] if '"google_cloud_run_v2_service"' in r]
    lifecycle = service['"google_cloud_run_v2_service"']['"service"']["lifecycle"][0]
    ignored = {entry.removeprefix("${").removesuffix("}") for entry in lifecycle["ignore_changes"]}
    # The pipeline's service annotations are the library's own constants.
    owned = {st.ROLLOUT_ANNOTATION, st.HISTORY_ANNOTATION, st.LEDGER_ANNOTATION}
    assert ignored == {
        "client",
        "client_version",
        "template",
        "traffic",
        *(f'annotations["{key}"]' for key in owned),
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_terraform_writes_its_template_where_the_pipeline_reads_it(
    graphs: dict[str, Graph], env: str
) -> None:
    """The annotation is a revision template the library parses, equal to the template block."""
    for block in graphs[env].resources("google_cloud_run_v2_service"):
        raw = block["annotations"][st.TEMPLATE_ANNOTATION]
        if raw is None:  # built from a value known only after apply (the ML service's URL)
            assert block["name"] == load_settings(env)["services"]["api-gateway"]["name"]
            continue
        desired = run_v2.RevisionTemplate.wrap(
            json_format.Parse(raw, run_v2.RevisionTemplate.pb()())  # unknown fields fail here
        )
        template = block["template"]
        container = template["containers"]
        assert desired.service_account == template["service_account"]
        assert (
            desired.max_instance_request_concurrency == template["max_instance_request_concurrency"]
        )
        assert desired.scaling.max_instance_count == template["scaling"]["max_instance_count"]
        assert f"{desired.timeout.total_seconds():.0f}s" == template["timeout"]
        (wanted,) = desired.containers
        assert dict(wanted.resources.limits) == container["resources"]["limits"]
        assert wanted.resources.cpu_idle is container["resources"]["cpu_idle"]
        assert wanted.ports[0].container_port == container["ports"]["container_port"]
        for probe in ("startup_probe", "liveness_probe"):
            declared = container[probe]
            assert getattr(wanted, probe).http_get.path == declared["http_get"]["path"]
            assert getattr(wanted, probe).period_seconds == declared["period_seconds"]
            assert getattr(wanted, probe).failure_threshold == declared["failure_threshold"]
        assert {e.name for e in wanted.env} >= {"ENVIRONMENT", "GOOGLE_CLOUD_PROJECT"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_deployer_mints_only_its_own_id_tokens(graphs: dict[str, Graph], env: str) -> None:
    creators = [
        block
        for block in graphs[env].resources("google_service_account_iam_member")
        if "TokenCreator" in str(block["role"])
    ]
    by_role = {(block["role"], block["__tfmeta"]["path"].rsplit(".", 1)[-1]) for block in creators}
    assert by_role == {
        (
            "roles/iam.serviceAccountOpenIdTokenCreator",
            'id_token_creator["clarity-deployer clarity-deployer"]',
        ),
        ("roles/iam.serviceAccountTokenCreator", "push_token_creator[0]"),
    }
    (grant,) = [b for b in creators if b["role"].endswith("OpenIdTokenCreator")]
    assert grant["for_each"]["clarity-deployer clarity-deployer"] == {
        "account": "clarity-deployer",
        "creator": "clarity-deployer",
    }
    # No project-wide token creator anywhere.
    assert not [
        b
        for b in graphs[env].resources("google_project_iam_member")
        if "TokenCreator" in str(b["role"])
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_dead_lettering_is_complete(graphs: dict[str, Graph], env: str) -> None:
    graph = graphs[env]
    topics = {block["name"]: block for block in graph.resources("google_pubsub_topic")}
    assert set(topics) >= ISSUE_TOPICS
    publishers = {
        block["topic"]
        for block in graph.resources("google_pubsub_topic_iam_member")
        if block["role"] == "roles/pubsub.publisher"
        and block["member"].startswith(PUBSUB_AGENT_PREFIX)
    }
    subscribers = {
        block["subscription"]
        for block in graph.resources("google_pubsub_subscription_iam_member")
        if block["role"] == "roles/pubsub.subscriber"
        and str(block["member"]).startswith(PUBSUB_AGENT_PREFIX)
    }
    subscribed_topics = {
        graph.by_id(block["topic"])["name"]
        for block in graph.resources("google_pubsub_subscription")
    }
    dead_letter_topics = set()
    for block in graph.resources("google_pubsub_subscription"):
        policy = block.get("dead_letter_policy")
        if policy is None:
            continue
        dead_letter_topic = graph.by_id(policy["dead_letter_topic"])["name"]
        dead_letter_topics.add(dead_letter_topic)
        assert policy["max_delivery_attempts"] == 5, address(block)
        assert dead_letter_topic in publishers, (
            f"{address(block)}: agent cannot publish to {dead_letter_topic}"
        )
        assert block["name"] in subscribers, (
            f"{address(block)}: agent cannot acknowledge on {block['name']}"
        )
    # Every issue topic is dead-lettered, and nothing published to a dead-letter topic is lost.
    assert dead_letter_topics == {f"{t}-dead-letter" for t in ISSUE_TOPICS}
    assert dead_letter_topics <= subscribed_topics


# push subscription -> (the service it reaches, the path that service serves for it)
PUSHES = {
    "healthkit-data-ingestion-ml": ("ml_service", "/v1/pubsub/healthkit-data-ingestion"),
    "ml-processing-requests-ml": ("ml_service", "/v1/pubsub/ml-processing-requests"),
    "healthkit-data-ingestion-dead-letter-gateway": (
        "api_gateway",
        "/v1/pubsub/ingestion-dead-letters",
    ),
}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_push_subscriptions_reach_their_service_with_a_token_for_it(
    graphs: dict[str, Graph], env: str
) -> None:
    settings = load_settings(env)
    pusher = f"clarity-pubsub-push@{settings['project_id']}.iam.gserviceaccount.com"
    pushes = {
        block["name"]: block
        for block in graphs[env].resources("google_pubsub_subscription")
        if isinstance(block.get("push_config"), dict)
    }
    assert set(pushes) == set(PUSHES)
    # The paths the services serve (src/): a wrong one would dead-letter everything. The URLs
    # and audiences depend on the services' uri, unknown before apply: read the configuration.
    source = hcl2.loads((STACK_DIR / "pubsub.tf").read_text())
    topics = source["module"][0]['"pubsub"']["topics"]
    configured = {
        name: sub
        for topic in topics.values()
        for group in ("subscriptions", "dead_letter_subscriptions")
        for name, sub in topic.get(group, {}).items()
    }
    for name, (module, path) in PUSHES.items():
        assert configured[name]["push_endpoint"].strip('"') == f"${{module.{module}.uri}}{path}"
        # Cloud Run checks the token's audience against the service's URL.
        assert configured[name]["push_audience"] == f"${{module.{module}.uri}}"
        assert pushes[name]["push_config"]["oidc_token"]["service_account_email"] == pusher
    dead_letters = graphs[env].by_id(
        pushes["healthkit-data-ingestion-dead-letter-gateway"]["topic"]
    )
    assert dead_letters["name"] == "healthkit-data-ingestion-dead-letter"
    for service in ("ml-service", "api-gateway"):
        invokers = {
            block["member"]
            for block in graphs[env].resources("google_cloud_run_v2_service_iam_member")
            if block["name"] == settings["services"][service]["name"]
            and isinstance(block["member"], str)
        }
        assert f"serviceAccount:{pusher}" in invokers, service


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_synthetic_data_expires(graphs: dict[str, Graph], env: str) -> None:
    fields = {
        (block["collection"], block["field"]): block
        for block in graphs[env].resources("google_firestore_field")
    }
    # The collections the gateway and the ML service write a synthetic batch to (src/).
    assert set(fields) == {
        ("ingestion_batches", "expire_at"),
        ("health_data", "expire_at"),
        ("insights", "expire_at"),
    }
    for block in fields.values():
        assert "ttl_config" in block
        assert block["database"] == "(default)"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_firestore_per_environment(graphs: dict[str, Graph], env: str) -> None:
    settings = load_settings(env)
    (database,) = graphs[env].resources("google_firestore_database")
    assert database["type"] == "FIRESTORE_NATIVE"
    protected = (
        "DELETE_PROTECTION_ENABLED"
        if settings["deletion_protection"]
        else "DELETE_PROTECTION_DISABLED"
    )
    assert database["delete_protection_state"] == protected
    pitr = (
        "POINT_IN_TIME_RECOVERY_ENABLED"
        if settings["backup_enabled"]
        else "POINT_IN_TIME_RECOVERY_DISABLED"
    )
    assert database["point_in_time_recovery_enablement"] == pitr
    indexes = {
        block["collection"]: [field["field_path"] for field in _as_list(block["fields"])]
        for block in graphs[env].resources("google_firestore_index")
    }
    assert indexes == {
        "users": ["email", "created_at"],
        "health_data": ["user_id", "timestamp", "data_type"],
    }


def test_prod_is_protected_and_backed_up(graphs: dict[str, Graph]) -> None:
    prod = graphs["prod"]
    (database,) = prod.resources("google_firestore_database")
    assert database["delete_protection_state"] == "DELETE_PROTECTION_ENABLED"
    assert database["deletion_policy"] == "ABANDON"
    (schedule,) = prod.resources("google_firestore_backup_schedule")
    assert schedule["retention"] == f"{98 * 86400}s"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_workload_identity_trusts_only_this_repository(graphs: dict[str, Graph], env: str) -> None:
    github = load_settings(env)["github"]
    (provider,) = graphs[env].resources("google_iam_workload_identity_pool_provider")
    assert provider["attribute_condition"] == (
        f'assertion.repository_id == "{github["repository_id"]}" && '
        f'assertion.repository_owner_id == "{github["owner_id"]}"'
    )
    assert provider["oidc"]["issuer_uri"] == "https://token.actions.githubusercontent.com"
    assert (
        provider["attribute_mapping"]["attribute.repository_ref"]
        == "assertion.repository_id + '@' + assertion.ref"
    )
    bindings = [
        block
        for block in graphs[env].resources("google_service_account_iam_member")
        if block["role"] == "roles/iam.workloadIdentityUser"
    ]
    identities = bindings[0]["for_each"]
    assert {name: identity["ref"] for name, identity in identities.items()} == {
        "deployer": github["apply_ref"],
        "terraform-apply": github["apply_ref"],
        "terraform-plan": None,
    }
    assert len(bindings) == len(identities)


def test_ref_bound_identities_use_the_repository_and_ref_attribute() -> None:
    source = (MODULES_DIR / "github-oidc" / "main.tf").read_text()
    assert "attribute.repository_ref/${var.github.repository_id}@${each.value.ref}" in source
    assert "attribute.repository_id/${var.github.repository_id}" in source


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_deployer_gets_exactly_the_project_roles_a_rollout_needs(
    graphs: dict[str, Graph], env: str
) -> None:
    """Traffic and revisions (run.developer), for canary analysis reading Cloud Run's request
    metrics (monitoring.viewer: monitoring.timeSeries.list), and writing one deployment entry
    per rollout to Cloud Logging (logging.logWriter), nothing wider."""
    # The member is the account's email, known only after apply; the for_each key names it.
    roles = {
        block["role"]
        for block in graphs[env].resources("google_project_iam_member")
        if '["clarity-deployer ' in block["__tfmeta"]["path"]
    }
    assert roles == {"roles/logging.logWriter", "roles/monitoring.viewer", "roles/run.developer"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_keys_and_no_secret_values_anywhere(graphs: dict[str, Graph], env: str) -> None:
    types = {block["__tfmeta"]["label"] for block in graphs[env].blocks()}
    assert "google_service_account_key" not in types
    assert "google_secret_manager_secret_version" not in types


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_artifact_registry_and_budget_match_settings(graphs: dict[str, Graph], env: str) -> None:
    settings = load_settings(env)
    (repository,) = graphs[env].resources("google_artifact_registry_repository")
    assert repository["repository_id"] == settings["artifact_registry"]["repository"]
    policies = {policy["action"]: policy for policy in _as_list(repository["cleanup_policies"])}
    assert set(policies) == {"KEEP", "DELETE"}
    assert (
        policies["KEEP"]["most_recent_versions"]["keep_count"]
        == settings["artifact_registry"]["keep_recent_versions"]
    )
    assert policies["DELETE"]["condition"]["tag_state"] == "UNTAGGED"
    days = settings["artifact_registry"]["delete_untagged_after_days"]
    assert policies["DELETE"]["condition"]["older_than"] == f"{days * 86400}s"
    (budget,) = graphs[env].resources("google_billing_budget")
    assert budget["amount"]["specified_amount"]["units"] == str(settings["budget"]["amount_usd"])
    thresholds = [rule["threshold_percent"] for rule in _as_list(budget["threshold_rules"])]
    assert thresholds == settings["budget"]["thresholds"]
