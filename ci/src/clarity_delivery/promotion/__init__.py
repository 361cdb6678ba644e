"""Promotion: the digests a release ran in staging, verified, copied into prod unchanged.

=====================  =========================================================
``_decisions``         which record and digests passed, where each digest goes
``_registry``          the copy by digest (OCI distribution API over httpx)
``_registry_http``     requests, the registries' token protocol, errors mapped
``_commands``          ``clarity-deploy staged`` and ``promote`` (imported by the CLI only:
                       it needs the Cloud Run client, which the Dagger module does not)
=====================  =========================================================
"""

from ._decisions import (
    PROMOTED_FROM,
    ImageCopy,
    Promotion,
    StagedRelease,
    check_verified,
    digest_of,
    plan_promotion,
    promotion_source,
    repository_of,
    staged_release,
)
from ._registry import ARTIFACT_SUFFIXES, CopyReport, Registry
from ._registry_http import ImageName, RegistryCredentials

__all__ = [
    "ARTIFACT_SUFFIXES",
    "PROMOTED_FROM",
    "CopyReport",
    "ImageCopy",
    "ImageName",
    "Promotion",
    "Registry",
    "RegistryCredentials",
    "StagedRelease",
    "check_verified",
    "digest_of",
    "plan_promotion",
    "promotion_source",
    "repository_of",
    "staged_release",
]
