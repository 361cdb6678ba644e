"""Policies on how health data is kept, over tfparse's evaluated module graph.

Audit trails (Data Access logs of every service that holds or moves the data, kept in
a bucket of their own for six years, locked), encryption with customer-managed keys
(one key per service, rotated at least every 90 days, never destroyable by a plan),
and Firestore's point-in-time recovery. Each returns the violations it finds; an
empty list is a pass. A control is skipped only where settings.json names it in
`compliance.relaxations` (which prod may not: see the stack's `settings` validations).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.terraform._terraform import Graph, address

__all__ = [
    "AUDITED_SERVICES",
    "AUDIT_RETENTION_DAYS",
    "Violation",
    "all_violations",
    "audit_log_bucket",
    "customer_managed_keys",
    "data_access_logs",
    "firestore_point_in_time_recovery",
    "kms_keys",
    "relaxed",
]

# Firestore's Data Access logs are configured as datastore.googleapis.com.
AUDITED_SERVICES = frozenset(
    {
        "cloudkms.googleapis.com",
        "datastore.googleapis.com",
        "pubsub.googleapis.com",
        "run.googleapis.com",
        "secretmanager.googleapis.com",
    }
)
DATA_ACCESS_LOG_TYPES = frozenset({"ADMIN_READ", "DATA_READ", "DATA_WRITE"})
AUDIT_LOG_IDS = tuple(
    f"cloudaudit.googleapis.com/{kind}"
    for kind in ("activity", "data_access", "system_event", "policy")
)
# Six years: what HIPAA asks of the documentation of required activities.
AUDIT_RETENTION_DAYS = 2190
MAX_ROTATION_SECONDS = 90 * 86400
_KEY_ID = re.compile(r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/([^/]+)$")


@dataclass(frozen=True)
class Violation:
    """One policy breach at one resource address."""

    policy: str
    address: str
    detail: str


def relaxed(settings: Mapping[str, Any], control: str) -> bool:
    """Whether settings.json relaxes ``control`` (it names it in compliance.relaxations)."""
    relaxations = settings.get("compliance", {}).get("relaxations", {})
    return isinstance(relaxations, Mapping) and control in relaxations


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def data_access_logs(graph: Graph, settings: Mapping[str, Any]) -> list[Violation]:
    """Every service that holds or moves health data or its keys writes all three kinds of
    Data Access logs, for every caller, unless settings relax data_access_logs."""
    if relaxed(settings, "data_access_logs"):
        return []
    violations: list[Violation] = []
    configured = set()
    for block in graph.resources("google_project_iam_audit_config"):
        configs = [c for c in _as_list(block.get("audit_log_config")) if isinstance(c, Mapping)]
        types = {c.get("log_type") for c in configs}
        configured.add(block.get("service"))
        violations.extend(
            Violation("data-access-logs", address(block), f"{missing} is not logged")
            for missing in sorted(DATA_ACCESS_LOG_TYPES - types)
        )
        violations.extend(
            Violation("data-access-logs", address(block), f"{member} is exempted")
            for config in configs
            for member in _as_list(config.get("exempted_members"))
        )
    violations.extend(
        Violation("data-access-logs", service, "no Data Access audit logs")
        for service in sorted(AUDITED_SERVICES - configured)
    )
    return violations


def audit_log_bucket(graph: Graph, settings: Mapping[str, Any]) -> list[Violation]:
    """A sink routes every kind of audit log into a log bucket that keeps it six years
    (unless settings relax audit_log_retention) and is locked (unless they relax
    audit_log_lock)."""
    buckets = {
        block["id"]: block
        for block in graph.resources("google_logging_project_bucket_config")
        if not str(block.get("bucket_id", "")).startswith("_")
    }
    audited = set()
    violations: list[Violation] = []
    for sink in graph.resources("google_logging_project_sink"):
        target = str(sink.get("destination", "")).removeprefix("logging.googleapis.com/")
        if target not in buckets:
            continue
        audit_filter = str(sink.get("filter", ""))
        missing = [log_id for log_id in AUDIT_LOG_IDS if f'"{log_id}"' not in audit_filter]
        if missing:
            violations.append(
                Violation("audit-log-bucket", address(sink), f"does not route {', '.join(missing)}")
            )
        elif sink.get("disabled") is not True:
            audited.add(target)
    if not audited:
        violations.append(
            Violation("audit-log-bucket", "(project)", "no sink routes the audit logs to a bucket")
        )
    for bucket_id in sorted(audited):
        bucket = buckets[bucket_id]
        retention = bucket.get("retention_days")
        if not relaxed(settings, "audit_log_retention") and not (
            isinstance(retention, int) and retention >= AUDIT_RETENTION_DAYS
        ):
            violations.append(
                Violation(
                    "audit-log-bucket",
                    address(bucket),
                    f"keeps audit logs {retention} days, fewer than {AUDIT_RETENTION_DAYS}",
                )
            )
        if not relaxed(settings, "audit_log_lock") and bucket.get("locked") is not True:
            violations.append(Violation("audit-log-bucket", address(bucket), "is not locked"))
    return violations


def _module_input(graph: Graph, block: Mapping[str, Any], name: str) -> Any:
    """An input of the module call that declares ``block`` (None at the root)."""
    path = address(block)
    module = path[: path.rfind(".google_")] if path.startswith("module.") else None
    return graph.module_calls().get(module, {}).get(name) if module else None


def _secret_keys(graph: Graph, block: Mapping[str, Any]) -> list[Any]:
    """The key of each place a secret's payload is kept (None where Google's key is used).

    tfparse expands the dynamic blocks of a resource but not those nested in a static
    block, so a secret whose `replication` it left empty is read through the module call's
    inputs (modules/secrets: `kms_key_name` for every replica of `replica_location`).
    """
    replication = block.get("replication")
    replication = replication if isinstance(replication, Mapping) else {}
    automatic = replication.get("auto")
    if isinstance(automatic, Mapping):
        cmek = automatic.get("customer_managed_encryption")
        return [cmek.get("kms_key_name") if isinstance(cmek, Mapping) else None]
    managed = replication.get("user_managed")
    if isinstance(managed, Mapping):
        return [
            replica.get("customer_managed_encryption", {}).get("kms_key_name")
            for replica in _as_list(managed.get("replicas"))
            if isinstance(replica, Mapping)
        ] or [None]
    if _module_input(graph, block, "replica_location") is None:
        return [None]
    return [_module_input(graph, block, "kms_key_name")]


def customer_managed_keys(graph: Graph, settings: Mapping[str, Any]) -> list[Violation]:
    """Firestore, Pub/Sub topics, Artifact Registry and secrets are encrypted with a key this
    configuration declares, each service with its own, unless settings relax cmek."""
    if relaxed(settings, "cmek"):
        return []
    declared = {block.get("name") for block in graph.resources("google_kms_crypto_key")}
    protected: list[tuple[str, Mapping[str, Any], list[Any]]] = [
        *(
            ("firestore", block, [(block.get("cmek_config") or {}).get("kms_key_name")])
            for block in graph.resources("google_firestore_database")
        ),
        *(
            ("pubsub", block, [block.get("kms_key_name")])
            for block in graph.resources("google_pubsub_topic")
        ),
        *(
            ("artifact-registry", block, [block.get("kms_key_name")])
            for block in graph.resources("google_artifact_registry_repository")
        ),
        *(
            ("secret-manager", block, _secret_keys(graph, block))
            for block in graph.resources("google_secret_manager_secret")
        ),
    ]
    violations: list[Violation] = []
    users: dict[str, set[str]] = {}
    for service, block, keys in protected:
        for key in keys:
            match = _KEY_ID.match(key) if isinstance(key, str) else None
            if match is None:
                violations.append(
                    Violation("cmek", address(block), "encrypted with a Google-managed key")
                )
            elif match.group(1) not in declared:
                violations.append(Violation("cmek", address(block), f"{key} is not declared here"))
            else:
                users.setdefault(key, set()).add(service)
    violations.extend(
        Violation("cmek", key, f"one key shared by {', '.join(sorted(services))}")
        for key, services in sorted(users.items())
        if len(services) > 1
    )
    return violations


def kms_keys(graph: Graph) -> list[Violation]:
    """Every key encrypts and decrypts, rotates at least every 90 days, and cannot be
    destroyed by a plan (destroying a key destroys the data it protects)."""
    violations: list[Violation] = []
    for block in graph.resources("google_kms_crypto_key"):
        if block.get("purpose", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT":
            violations.append(Violation("kms-keys", address(block), "is not ENCRYPT_DECRYPT"))
        period = str(block.get("rotation_period", ""))
        seconds = int(period[:-1]) if re.fullmatch(r"\d+s", period) else None
        if seconds is None or seconds > MAX_ROTATION_SECONDS:
            violations.append(
                Violation("kms-keys", address(block), f"rotation_period {period or 'unset'}")
            )
        lifecycle = block.get("lifecycle")
        if not (isinstance(lifecycle, Mapping) and lifecycle.get("prevent_destroy") is True):
            violations.append(Violation("kms-keys", address(block), "prevent_destroy is not set"))
    return violations


def firestore_point_in_time_recovery(graph: Graph, settings: Mapping[str, Any]) -> list[Violation]:
    """Every Firestore database keeps seven days of versions for point-in-time recovery,
    unless settings relax point_in_time_recovery (never in prod)."""
    if relaxed(settings, "point_in_time_recovery"):
        return []
    return [
        Violation(
            "firestore-point-in-time-recovery",
            address(block),
            "point_in_time_recovery_enablement is not POINT_IN_TIME_RECOVERY_ENABLED",
        )
        for block in graph.resources("google_firestore_database")
        if block.get("point_in_time_recovery_enablement") != "POINT_IN_TIME_RECOVERY_ENABLED"
    ]


def all_violations(graph: Graph, settings: Mapping[str, Any]) -> list[Violation]:
    """Every policy above."""
    return [
        *data_access_logs(graph, settings),
        *audit_log_bucket(graph, settings),
        *customer_managed_keys(graph, settings),
        *kms_keys(graph),
        *firestore_point_in_time_recovery(graph, settings),
    ]
