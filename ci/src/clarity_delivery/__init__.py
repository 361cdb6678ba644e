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
from .plan import ReleasePlan, TrafficSplit, build_plan, parse_version, revision_name
from .settings import ENVIRONMENTS, EnvironmentSettings, load_settings

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
    "credentials_from_info",
    "load_credentials",
    "load_settings",
    "parse_version",
    "revision_name",
]
