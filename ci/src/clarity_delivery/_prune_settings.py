"""``rollout.prune`` of settings.json: whether revisions are cleaned up after each release.

::

    "prune": {"enabled": true, "keep": 5}

``enabled`` turns the clean-up after every successful deploy on; ``keep`` is how many of each
service's newest revisions are kept whatever they are (at least 1), and the default of
``clarity-deploy prune --keep``. Unknown keys are refused, so a misspelt key cannot silently
fall back to its default.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._analysis_settings import switched_section
from ._errors import ConfigError

__all__ = ["DEFAULT_KEEP", "PrunePolicy", "parse_prune"]

DEFAULT_KEEP = 5
_KEYS = {"enabled", "keep"}


@dataclass(frozen=True, kw_only=True)
class PrunePolicy:
    """Revision clean-up: after each successful deploy or not, and how many revisions stay."""

    enabled: bool = False
    keep: int = DEFAULT_KEEP


def parse_prune(raw: object, where: str) -> PrunePolicy:
    """``rollout.prune``: off with the default ``keep`` when absent; ConfigError when wrong."""
    if raw is None:
        return PrunePolicy()
    here = f"{where}: rollout.prune"
    data, enabled = switched_section(raw, here, _KEYS)
    return PrunePolicy(enabled=enabled, keep=check_keep(data.get("keep", DEFAULT_KEEP), here))


def check_keep(value: object, where: str) -> int:
    """``value`` if it is a whole number of at least 1, else ConfigError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = (
            f"{where}: keep must be a whole number of at least 1 (the newest revision of a "
            f"service is the one a rollout may be creating), not {value!r}"
        )
        raise ConfigError(msg)
    return value
