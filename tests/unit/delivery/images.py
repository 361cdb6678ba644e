"""Image references as a release passes them: what ``dagger call publish`` returns."""

from __future__ import annotations

from clarity_delivery import EnvironmentSettings

__all__ = ["DIGEST", "pinned"]

DIGEST = "sha256:" + "ab" * 32


def pinned(settings: EnvironmentSettings) -> dict[str, str]:
    """Each service's image in the environment's repository, pinned by digest (the only
    references a release outside dev may run)."""
    return {key: f"{settings.image_repository(key)}@{DIGEST}" for key in settings.services}
