"""The promotion path: staging's record, cosign's verdict, the copy by digest.

Three steps, each where it can run: ``clarity-deploy staged`` reads the record of the
release on staging's services (the delivery library decides whether it passed and which
digests it ran); cosign verifies each of those digests' signature and SBOM attestation
against the one expected identity; ``clarity-deploy promote`` reads the record again,
refuses unless it still names exactly the verified digests, and copies each by digest into
the target's registry. The result is the plan the library computes from the same record
(:func:`clarity_delivery.promotion.plan_promotion`), checked against what the copy printed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import dagger
from clarity_delivery import ConfigError
from clarity_delivery.promotion import Promotion, StagedRelease, plan_promotion

from clarity._delivery import RESULT, run_delivery
from clarity._errors import InputError, RolloutError
from clarity._inputs import environment_settings
from clarity._provenance import ExpectedSigner
from clarity._publishing import verify_images

__all__ = ["PromotionRun", "copy_release", "render_promotion", "verify_release"]


@dataclass(frozen=True)
class PromotionRun:
    """A promotion as it happened: the plan, who signed, and whether the copy ran."""

    promotion: Promotion
    signer: ExpectedSigner
    copied: bool
    release: tuple[str, ...]
    """``--version V --commit SHA --result FILE``: what both clarity-deploy steps are given."""


async def verify_release(
    source: dagger.Directory,
    *,
    from_env: str,
    to_env: str,
    version: str,
    commit: str,
    credentials: dagger.Secret,
    signer: ExpectedSigner,
    public_key: dagger.File | None,
) -> PromotionRun:
    """The release ``from_env`` passed (its record), its signatures verified; nothing copied."""
    origin = await environment_settings(source, from_env)
    target = await environment_settings(source, to_env)
    release = ("--version", version, "--commit", commit, "--result", RESULT)
    text = await run_delivery(
        source, credentials, ["staged", "--env", from_env, *release], summary=RESULT
    )
    try:
        staged = StagedRelease.from_json(text)
        promotion = plan_promotion(staged, origin.delivery, target.delivery)
    except ConfigError as exc:
        raise InputError(exc.message) from exc
    await verify_images(origin, credentials, list(staged.images.values()), signer, public_key)
    return PromotionRun(promotion, signer, copied=False, release=release)


async def copy_release(
    source: dagger.Directory, run: PromotionRun, credentials: dagger.Secret
) -> PromotionRun:
    """Copy the verified digests into the target's registry (``clarity-deploy promote``,
    which refuses unless the record still names exactly them)."""
    promotion = run.promotion
    staged = promotion.release
    images = [f"--image={service}={ref}" for service, ref in sorted(staged.images.items())]
    argv = [
        "promote",
        "--from",
        staged.environment,
        "--to",
        promotion.environment,
        *run.release,
        *images,
    ]
    printed = await run_delivery(source, credentials, argv, summary=RESULT)
    if json.loads(printed) != json.loads(promotion.to_json()):
        msg = f"clarity-deploy promote copied another release than was verified:\n{printed}"
        raise RolloutError(msg)
    return PromotionRun(promotion, run.signer, copied=True, release=run.release)


def render_promotion(run: PromotionRun) -> str:
    """The promotion as Markdown: version, the staging record, and each digest."""
    promotion = run.promotion
    release = promotion.release
    done = "copied by digest into" if run.copied else "would be copied (dry run) into"
    lines = [
        f"## Promotion of {release.version} to {promotion.environment}",
        "",
        f"{release.environment}'s rollout record `{release.record}` ran {release.version} "
        f"(commit `{release.commit[:12] or 'unknown'}`) and succeeded; each image's signature "
        f"and SBOM attestation verified for {run.signer.describe()}, then {done} "
        f"{promotion.environment}'s registry, unchanged:",
        "",
        "| service | digest | from | to |",
        "|---|---|---|---|",
    ]
    for copy in promotion.copies:
        source = copy.source.rsplit("@", 1)[0]
        target = copy.target.rsplit("@", 1)[0]
        lines.append(f"| {copy.service} | `{copy.digest}` | `{source}` | `{target}` |")
    return "\n".join(lines) + "\n"
