"""Progressive delivery of the Clarity Loop Backend to Cloud Run.

Plain Python (no Dagger): the Dagger module and the scripts call its CLI, ``clarity-deploy``.
"""

from ._auth import credentials_from_info, load_credentials
from ._errors import (
    ApprovalRequired,
    ConcurrentRollout,
    ConfigError,
    CredentialsError,
    DeployError,
    HealthCheckFailed,
    PermissionDenied,
    RollbackFailed,
    RolloutAborted,
    RolloutFailed,
    ServiceUnreachable,
    VersionNotFound,
)
from .ledger import DeploymentRecord, Ledger, build_report
from .plan import (
    ReleasePlan,
    TrafficSplit,
    build_plan,
    parse_commit,
    parse_version,
    revision_name,
)
from .settings import (
    ENVIRONMENTS,
    EnvironmentSettings,
    check_environment,
    check_region,
    load_settings,
    parse_settings,
    registry_host,
)

__all__ = [
    "ENVIRONMENTS",
    "ApprovalRequired",
    "ConcurrentRollout",
    "ConfigError",
    "CredentialsError",
    "DeployError",
    "DeploymentRecord",
    "EnvironmentSettings",
    "HealthCheckFailed",
    "Ledger",
    "PermissionDenied",
    "ReleasePlan",
    "RollbackFailed",
    "RolloutAborted",
    "RolloutFailed",
    "ServiceUnreachable",
    "TrafficSplit",
    "VersionNotFound",
    "build_plan",
    "build_report",
    "check_environment",
    "check_region",
    "credentials_from_info",
    "load_credentials",
    "load_settings",
    "parse_commit",
    "parse_settings",
    "parse_version",
    "registry_host",
    "revision_name",
]
