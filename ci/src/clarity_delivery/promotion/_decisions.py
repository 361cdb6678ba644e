"""Which digests a release may take into an environment, decided from the records alone.

Prod runs only the bytes staging verified: a release is promoted, never rebuilt. The
evidence is the record each rollout leaves on the services it touched (the last 20 per
service, :mod:`clarity_delivery.rollout._records`), which survives the CI job that made it.
Pure functions over those records and the two environments' settings; nothing here talks
to Cloud Run or a registry.

A release *passed* the source environment when its newest rollout there (for that version
and, when given, that commit) succeeded, recorded a digest-pinned image of every service
from the source environment's own repository, and nothing afterwards says otherwise: no
later rollout of that version with any of the same digests failed, and the environment was
not rolled back from it to another version.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import ConfigError, PromotionRefused
from ..ledger import DeploymentRecord
from ..plan import parse_commit, parse_version
from ..settings import EnvironmentSettings, registry_host

__all__ = [
    "PROMOTED_FROM",
    "ImageCopy",
    "Promotion",
    "StagedRelease",
    "check_verified",
    "digest_of",
    "plan_promotion",
    "promotion_source",
    "repository_of",
    "staged_release",
]

PROMOTED_FROM: Mapping[str, str] = {"prod": "staging"}
"""Environment -> the environment whose verified digests it runs (the others build)."""

_PINNED = re.compile(r"^(?P<name>[^@\s]+)@(?P<digest>sha256:[0-9a-f]{64})$")
_SHORTEST_COMMIT = 7


def promotion_source(target: str, source: str | None = None) -> str:
    """The environment ``target`` promotes from; ``source``, if given, must be that one."""
    expected = PROMOTED_FROM.get(target)
    if expected is None:
        promoted = ", ".join(f"{t} (from {s})" for t, s in PROMOTED_FROM.items())
        msg = (
            f"{target} is not deployed by promotion: it builds and publishes its own images. "
            f"Only {promoted} is promoted"
        )
        raise ConfigError(msg)
    if source is not None and source != expected:
        msg = f"{target} promotes only from {expected}, not from {source}: pass --from {expected}"
        raise ConfigError(msg)
    return expected


def repository_of(settings: EnvironmentSettings, service: str) -> str:
    """``{region}-docker.pkg.dev/{project}/{repository}/{service}``: where its images live."""
    settings.service(service)
    return (
        f"{registry_host(settings.region)}/{settings.project_id}/"
        f"{settings.artifact_repository}/{service}"
    )


def digest_of(reference: str) -> tuple[str, str] | None:
    """(``name``, ``sha256:…``) of a digest reference (a tag before ``@`` is dropped), else None."""
    match = _PINNED.match(reference)
    if match is None:
        return None
    name = match["name"]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name, match["digest"]


@dataclass(frozen=True, kw_only=True)
class StagedRelease:
    """A release as it passed the source environment: its record and the digests it ran."""

    record: str
    environment: str
    version: str
    commit: str
    images: Mapping[str, str]
    """Service -> ``repository@sha256:…`` in the source environment's registry."""
    ended_at: float

    def to_json(self) -> str:
        """The release as one JSON object (what ``clarity-deploy staged`` prints)."""
        return json.dumps(
            {
                "record": self.record,
                "environment": self.environment,
                "version": self.version,
                "commit": self.commit,
                "images": dict(sorted(self.images.items())),
                "ended_at": self.ended_at,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> StagedRelease:
        """Parse :meth:`to_json`'s output; anything else is a :class:`ConfigError`."""
        try:
            data: dict[str, Any] = json.loads(text)
            images: dict[str, Any] = dict(data["images"])
            return cls(
                record=str(data["record"]),
                environment=str(data["environment"]),
                version=str(data["version"]),
                commit=str(data["commit"]),
                images={str(k): str(v) for k, v in images.items()},
                ended_at=float(data["ended_at"]),
            )
        except (ValueError, TypeError, KeyError) as exc:
            msg = f"not a staged release (what clarity-deploy staged prints): {exc!r}"
            raise ConfigError(msg) from None


@dataclass(frozen=True, kw_only=True)
class ImageCopy:
    """One image of a promotion: the verified source digest and where it goes."""

    service: str
    source: str
    """``repository@sha256:…`` in the source environment's registry."""
    target: str
    """The same digest in the target environment's repository."""
    tag: str
    """The version, tagged in the target so the registry's cleanup keeps the image."""

    @property
    def digest(self) -> str:
        """The digest both references name."""
        return self.source.rsplit("@", 1)[1]


@dataclass(frozen=True, kw_only=True)
class Promotion:
    """What promoting a staged release into an environment copies."""

    release: StagedRelease
    environment: str
    copies: tuple[ImageCopy, ...]

    @property
    def images(self) -> dict[str, str]:
        """Service -> the digest reference in the target environment (what its rollout runs)."""
        return {copy.service: copy.target for copy in self.copies}

    def to_json(self) -> str:
        """What ``clarity-deploy promote`` prints."""
        return json.dumps(
            {
                "record": self.release.record,
                "from": self.release.environment,
                "to": self.environment,
                "version": self.release.version,
                "commit": self.release.commit,
                "images": dict(sorted(self.images.items())),
                "sources": {copy.service: copy.source for copy in self.copies},
            },
            sort_keys=True,
        )


def _same_commit(recorded: str, wanted: str) -> bool:
    if len(recorded) < _SHORTEST_COMMIT or len(wanted) < _SHORTEST_COMMIT:
        return False
    return recorded.startswith(wanted) or wanted.startswith(recorded)


def _describe(records: Iterable[DeploymentRecord]) -> str:
    seen = [f"{r.version} ({r.commit[:7] or 'no commit'}, {r.outcome})" for r in records]
    return ", ".join(seen[-5:]) or "none"


def _pinned_images(
    record: DeploymentRecord, settings: EnvironmentSettings, version: str
) -> dict[str, str]:
    env = settings.environment
    images: dict[str, str] = {}
    for service in settings.rollout_order():
        reference = record.images.get(service)
        if reference is None:
            msg = (
                f"the rollout of {version} to {env} (record {record.id}) names no image for "
                f"{service} (a rollout of only some services, or one recorded before images "
                f"were): deploy {version} to {env} again, then promote"
            )
            raise PromotionRefused(msg)
        pinned = digest_of(reference)
        repository = repository_of(settings, service)
        if pinned is None or pinned[0] != repository:
            msg = (
                f"the rollout of {version} to {env} (record {record.id}) ran {service} as "
                f"{reference!r}, not an image pinned by digest in {repository}: only what "
                f"{env} published and verified is promoted"
            )
            raise PromotionRefused(msg)
        images[service] = f"{pinned[0]}@{pinned[1]}"
    return images


def staged_release(
    records: Iterable[DeploymentRecord],
    settings: EnvironmentSettings,
    *,
    version: str,
    commit: str = "",
) -> StagedRelease:
    """The rollout of ``version`` (at ``commit``) that passed ``settings``' environment.

    ``records`` are those kept on the environment's services, oldest first; anything short
    of a pass is a :class:`PromotionRefused` that says what the records show and what to do.
    """
    env = settings.environment
    wanted = str(parse_version(version))
    sha = parse_commit(commit) if commit.strip() else ""
    history = sorted(
        (r for r in records if r.environment == env), key=lambda record: record.started_at
    )
    rollouts = [
        r
        for r in history
        if r.kind == "rollout" and r.version == wanted and (not sha or _same_commit(r.commit, sha))
    ]
    at = f" at {sha[:12]}" if sha else ""
    passed = [r for r in rollouts if r.outcome == "succeeded"]
    if not passed:
        outcome = f"its rollouts there ended {_describe(rollouts)}" if rollouts else "never"
        msg = (
            f"{wanted}{at} did not pass {env}: {outcome}. The records on {env}'s services "
            f"show {_describe(history)}. Deploy it to {env} and let it succeed first"
        )
        raise PromotionRefused(msg)
    chosen = passed[-1]
    images = _pinned_images(chosen, settings, wanted)
    digests = set(images.values())
    for later in history[history.index(chosen) + 1 :]:
        ran = {digest_of(ref) for ref in later.images.values()}
        same = {f"{p[0]}@{p[1]}" for p in ran if p is not None} & digests
        failed = later.kind == "rollout" and later.outcome != "succeeded"
        if failed and later.version == wanted and same:
            msg = (
                f"a later rollout of the same images to {env} ended {later.outcome} "
                f"(record {later.id}{': ' + later.error if later.error else ''}): {wanted} is "
                f"not promoted while its last run in {env} failed"
            )
            raise PromotionRefused(msg)
        if later.kind == "rollback" and later.version != wanted:
            msg = (
                f"{env} was rolled back from {wanted} to {later.version} after it was released "
                f"(record {later.id}): a release {env} rejected is not promoted"
            )
            raise PromotionRefused(msg)
    return StagedRelease(
        record=chosen.id,
        environment=env,
        version=wanted,
        commit=chosen.commit,
        images=images,
        ended_at=chosen.ended_at,
    )


def check_verified(staged: StagedRelease, verified: Mapping[str, str]) -> None:
    """Refuse unless ``verified`` (what the signatures were checked on) is exactly ``staged``."""
    given = {service: digest_of(ref) for service, ref in verified.items()}
    normalised = {s: f"{p[0]}@{p[1]}" for s, p in given.items() if p is not None}
    if normalised != dict(staged.images) or len(normalised) != len(given):
        msg = (
            f"the images given ({', '.join(f'{s}={r}' for s, r in sorted(verified.items()))}) "
            f"are not those {staged.environment}'s record {staged.record} holds for "
            f"{staged.version} ({', '.join(f'{s}={r}' for s, r in sorted(staged.images.items()))}): "
            "verify the signatures of exactly those, then promote them"
        )
        raise PromotionRefused(msg)


def plan_promotion(
    staged: StagedRelease, source: EnvironmentSettings, target: EnvironmentSettings
) -> Promotion:
    """Where each of ``staged``'s digests goes in ``target``'s registry (same digest)."""
    promotion_source(target.environment, source.environment)
    if staged.environment != source.environment:
        msg = f"the staged release comes from {staged.environment}, not {source.environment}"
        raise ConfigError(msg)
    if set(target.services) != set(source.services):
        msg = (
            f"{target.environment} and {source.environment} define different services "
            f"({', '.join(sorted(target.services))} vs {', '.join(sorted(source.services))}): "
            "a promotion copies every service the release ran"
        )
        raise ConfigError(msg)
    copies = []
    for service in target.rollout_order():
        reference = staged.images[service]
        digest = reference.rsplit("@", 1)[1]
        copies.append(
            ImageCopy(
                service=service,
                source=reference,
                target=f"{repository_of(target, service)}@{digest}",
                tag=staged.version,
            )
        )
    return Promotion(release=staged, environment=target.environment, copies=tuple(copies))
