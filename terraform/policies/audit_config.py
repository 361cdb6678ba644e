"""CKV_CLARITY_1: an audit configuration logs every kind of data access, for everyone.

checkov loads this file with `--external-checks-dir terraform/policies` (the `security`
gate and tests/terraform/test_checkov.py). Which services must have one depends on the
environment, so that is a tfparse policy (tests/terraform/data_policies.py); what every
audit configuration must contain holds everywhere, so it is checked here, on the source.
"""

from __future__ import annotations

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck

REQUIRED_LOG_TYPES = frozenset({"ADMIN_READ", "DATA_READ", "DATA_WRITE"})


def _first(value: Any) -> Any:  # noqa: ANN401 - checkov's parsed HCL is untyped
    """checkov wraps every attribute value in a list."""
    return value[0] if isinstance(value, list) and value else value


class AuditConfigLogsAllDataAccess(BaseResourceCheck):
    """ADMIN_READ, DATA_READ and DATA_WRITE are all on, and no member is exempted."""

    def __init__(self) -> None:
        super().__init__(
            name="Ensure audit configs log ADMIN_READ, DATA_READ and DATA_WRITE and exempt no one",
            id="CKV_CLARITY_1",
            categories=(CheckCategories.LOGGING,),
            supported_resources=(
                "google_project_iam_audit_config",
                "google_folder_iam_audit_config",
                "google_organization_iam_audit_config",
            ),
        )

    def scan_resource_conf(self, conf: dict[str, list[Any]]) -> CheckResult:
        """Fail unless the three log types are literally configured without exemptions."""
        configs = [c for c in conf.get("audit_log_config", []) if isinstance(c, dict)]
        self.evaluated_keys = ["audit_log_config"]
        log_types = {_first(config.get("log_type")) for config in configs}
        exempted = [
            member
            for config in configs
            for member in (_first(config.get("exempted_members")) or [])
        ]
        if log_types >= REQUIRED_LOG_TYPES and not exempted:
            return CheckResult.PASSED
        return CheckResult.FAILED


check = AuditConfigLogsAllDataAccess()
