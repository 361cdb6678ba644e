"""Terraform configuration checked against the real provider schema, offline.

``terraform validate`` needs the provider binary; its schema also ships in the Python
registry as the jsii assembly of a ``cdktf-cdktf-provider-<name>`` wheel. This package
pins those wheels (packages.py), derives and caches a compact schema from one
(fetch.py, _archive.py, _assembly.py) and checks .tf files against it (check.py,
_rules.py). Command line: ``python -m terraform.tools.provider_schema fetch|check``.

Errors (one tree, see _errors.py): SchemaToolError → FetchError, AssemblyError,
UnknownPackageError.
"""

from __future__ import annotations

from terraform.tools.provider_schema._errors import (
    AssemblyError,
    FetchError,
    SchemaToolError,
    UnknownPackageError,
)
from terraform.tools.provider_schema._rules import Finding, Kind
from terraform.tools.provider_schema.check import CheckReport, check_tree
from terraform.tools.provider_schema.fetch import default_cache_dir, load_schema, schema_path
from terraform.tools.provider_schema.model import Attribute, Block, NestedBlock, ProviderSchema
from terraform.tools.provider_schema.packages import (
    GITHUB,
    GOOGLE,
    GOOGLE_FLOOR,
    PACKAGES,
    ProviderPackage,
    default_packages,
    find_package,
)

__all__ = [
    "GITHUB",
    "GOOGLE",
    "GOOGLE_FLOOR",
    "PACKAGES",
    "AssemblyError",
    "Attribute",
    "Block",
    "CheckReport",
    "FetchError",
    "Finding",
    "Kind",
    "NestedBlock",
    "ProviderPackage",
    "ProviderSchema",
    "SchemaToolError",
    "UnknownPackageError",
    "check_tree",
    "default_cache_dir",
    "default_packages",
    "find_package",
    "load_schema",
    "schema_path",
]
