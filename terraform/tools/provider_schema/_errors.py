"""Errors of the provider-schema tool, one tree.

SchemaToolError          (exit 2)
├── FetchError           (exit 3) the package could not be downloaded or failed its hash
├── AssemblyError        (exit 4) the package holds no assembly laid out as expected
└── UnknownPackageError  (exit 5) no pinned package for the provider or version asked for
"""

from __future__ import annotations

__all__ = ["AssemblyError", "FetchError", "SchemaToolError", "UnknownPackageError"]


class SchemaToolError(Exception):
    """Root of the tool's errors; the message says what happened and what to do."""

    exit_code = 2


class FetchError(SchemaToolError):
    """The provider package could not be downloaded, or its bytes are not the pinned ones."""

    exit_code = 3


class AssemblyError(SchemaToolError):
    """The package's jsii assembly is missing or not laid out as the derivation expects."""

    exit_code = 4


class UnknownPackageError(SchemaToolError):
    """No pinned package provides the schema asked for."""

    exit_code = 5
