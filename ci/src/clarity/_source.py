"""What of the repository the engine receives as the module's source.

Patterns follow the engine's ignore syntax (``.dockerignore``-like, relative to the
repository root): ``.git`` is the root's only, ``**/.venv`` any depth.
"""

from __future__ import annotations

from typing import Final

__all__ = ["PLAN_EXPORT", "RELEASE_IGNORE", "SOURCE_IGNORE"]

PLAN_EXPORT: Final = "plan"
"""Where the documented ``dagger call plan ... -o plan`` puts a plan: it holds a snapshot
of the environment's state, so it is never uploaded again nor scanned as source."""

SOURCE_IGNORE: Final = [
    ".git",
    "**/.venv",
    ".tools",
    "**/__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".coverage*",
    "**/.terraform",
    "**/*.tfstate*",
    "**/*.egg-info",
    "ci/sdk",
    "reports",
    "build",
    "dist",
    ".ledger",
    PLAN_EXPORT,
]
"""Never uploaded to the engine: VCS data, environments, caches, local artefacts, plans."""

RELEASE_IGNORE: Final = [pattern for pattern in SOURCE_IGNORE if pattern != ".git"]
"""Release management needs the git history and tags."""
