"""Release plans: what a rollout will do, computed before anything is changed.

Pure data and pure functions, so the dry run prints exactly what a real run executes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

from ._errors import ConfigError
from .settings import EnvironmentSettings, HealthCheck, RolloutPolicy, TransactionCheck

__all__ = [
    "ReleasePlan",
    "ServicePlan",
    "TrafficSplit",
    "TrafficTarget",
    "Version",
    "build_plan",
    "check_image",
    "label_value",
    "parse_commit",
    "parse_version",
    "revision_name",
]

_SEMVER = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_MAX_REVISION = 63


@dataclass(frozen=True)
class Version:
    """A semantic version (``1.2.3``, ``1.2.3-rc.1``); a leading ``v`` is accepted and dropped."""

    text: str

    def __str__(self) -> str:
        return self.text


def parse_version(text: str) -> Version:
    """Validate a release version; a malformed one is a :class:`ConfigError`."""
    match = _SEMVER.match(text.strip())
    if match is None:
        msg = f"malformed version {text!r}: use semantic versioning such as 1.4.0 or 1.4.0-rc.1"
        raise ConfigError(msg)
    return Version(text.strip().removeprefix("v"))


def parse_commit(text: str) -> str:
    """Validate a git commit SHA (7 to 40 hexadecimal digits); returns it stripped, lower-case."""
    commit = text.strip().lower()
    if not _COMMIT.match(commit):
        msg = f"malformed commit {commit!r}: give a hexadecimal git SHA (7 to 40 characters)"
        raise ConfigError(msg)
    return commit


def label_value(text: str) -> str:
    """A Google Cloud label value for ``text`` (lowercase letters, digits, ``_`` and ``-``; ≤ 63)."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def check_image(
    settings: EnvironmentSettings, key: str, ref: str, *, override: bool = False
) -> str | None:
    """None when ``ref`` may run as ``key`` in the environment; else why not.

    An environment runs only images of its own Artifact Registry repository, pinned by digest
    (``{region}-docker.pkg.dev/{project}/{repository}/{service}[:tag]@sha256:…``, what
    ``dagger call publish`` returns): a tag can be moved, another registry is not ours. Where
    the settings allow it (dev) ``override`` accepts any other reference, and the returned
    note says so (it is logged). Otherwise a :class:`ConfigError` says what to pass instead.
    """
    repository = settings.image_repository(key)
    name, _, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    if name != repository:
        problem = f"is not from this environment's repository {repository}"
    elif not _DIGEST.match(digest):
        problem = "is not pinned by digest (a tag can be moved)"
    else:
        return None
    allowed = settings.rollout.allow_image_override
    if override and allowed:
        return (
            f"image override: {key} runs {ref}, which {problem}; accepted because "
            f"--allow-image-override was given and {settings.environment} allows it"
        )
    hint = " (or, in dev only, add --allow-image-override)" if allowed else ""
    msg = (
        f"image {ref!r} for {key} {problem}. {settings.environment} only runs images from "
        f"{repository} pinned by digest: pass --image {key}={repository}@sha256:<digest> as "
        f"`dagger call publish` printed it{hint}. Nothing was changed"
    )
    raise ConfigError(msg)


def revision_name(service_name: str, version: Version, commit: str, attempt: int = 1) -> str:
    """A revision name unique per version, commit and attempt, valid for Cloud Run.

    Cloud Run requires ``<service>-<suffix>``, lowercase letters, digits and hyphens, at most 63
    characters, not ending in a hyphen. Naming revisions ourselves (rather than letting Cloud Run
    number them) is what lets ``rollback --to VERSION`` and a human find them, and a retried
    deploy of the same commit gets ``-r2``, ``-r3``... instead of the "revision already exists
    with a different configuration" conflict.
    """
    version_part = re.sub(r"[^a-z0-9]+", "-", str(version).lower()).strip("-")
    parts = [service_name, version_part]
    if commit:
        parts.append(commit[:7])
    if attempt > 1:
        parts.append(f"r{attempt}")
    name = "-".join(parts)
    if len(name) > _MAX_REVISION:
        keep = _MAX_REVISION - len(name)
        version_part = version_part[: len(version_part) + keep].strip("-")
        parts[1] = version_part
        name = "-".join(parts)
    return name


@dataclass(frozen=True)
class TrafficTarget:
    """One traffic entry: ``percent`` of requests to ``revision``, reachable by ``tag``'s URL."""

    revision: str
    percent: int
    tag: str = ""


@dataclass(frozen=True)
class TrafficSplit:
    """A whole traffic assignment; percentages add up to 100."""

    targets: tuple[TrafficTarget, ...]

    def __post_init__(self) -> None:
        total = sum(t.percent for t in self.targets)
        if total != 100:
            msg = f"traffic must add up to 100 %, not {total} % ({self.describe()})"
            raise ValueError(msg)

    @classmethod
    def single(
        cls, revision: str, *, tag: str = "stable", keep: dict[str, str] | None = None
    ) -> TrafficSplit:
        """All traffic to ``revision``; ``keep`` maps extra tags to revisions held at 0 %."""
        extra = tuple(
            TrafficTarget(rev, 0, t) for t, rev in (keep or {}).items() if rev != revision
        )
        return cls((TrafficTarget(revision, 100, tag), *extra))

    @classmethod
    def canary(
        cls, stable: str, candidate: str, percent: int, *, candidate_tag: str = "candidate"
    ) -> TrafficSplit:
        """``percent`` to ``candidate``, the rest to ``stable``; both keep their tags."""
        return cls(
            (
                TrafficTarget(stable, 100 - percent, "stable"),
                TrafficTarget(candidate, percent, candidate_tag),
            )
        )

    def percent_of(self, revision: str) -> int:
        """The share of traffic ``revision`` gets."""
        return sum(t.percent for t in self.targets if t.revision == revision)

    def describe(self) -> str:
        """``rev-a=95% (stable), rev-b=5% (candidate)``."""
        return ", ".join(
            f"{t.revision}={t.percent}%" + (f" ({t.tag})" if t.tag else "") for t in self.targets
        )


@dataclass(frozen=True, kw_only=True)
class ServicePlan:
    """What a rollout does to one service."""

    key: str
    name: str
    image: str
    revision: str
    checks: tuple[HealthCheck, ...]
    transactions: tuple[TransactionCheck, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ReleasePlan:
    """A release of ``version`` to ``environment``: services in order, traffic steps, checks."""

    environment: str
    project_id: str
    region: str
    version: Version
    commit: str
    policy: RolloutPolicy
    services: tuple[ServicePlan, ...]
    notes: tuple[str, ...] = field(default=())
    overrides: tuple[str, ...] = field(default=())
    """Image policy overrides accepted for this release; each is logged when it runs."""

    @property
    def candidate_tag(self) -> str:
        """The tag the candidate carries while it is verified (``green`` for blue-green)."""
        return "green" if self.policy.strategy == "blue-green" else "candidate"

    def describe(self) -> str:
        """A readable plan for ``--dry-run`` and the start of a real run."""
        lines = [
            f"Release {self.version} ({self.commit or 'no commit'}) to {self.environment} "
            f"[{self.project_id}/{self.region}], strategy {self.policy.strategy}",
        ]
        p = self.policy
        if p.strategy == "canary":
            steps = " → ".join(f"{s}%" for s in p.steps)
            lines.append(f"  traffic steps: {steps}, then the candidate is tagged 'stable'")
        else:
            lines.append(
                "  candidate at 0% tagged 'green', verified, then one switch to 100%; previous kept as 'blue'"
            )
        lines.append(
            f"  analysis per step: {p.probes_per_step} probe rounds every {p.analysis_interval_seconds:g}s, "
            f"fail at {p.failure_threshold} failed rounds; Ready timeout {p.ready_timeout_seconds:g}s"
        )
        if p.metrics is not None:
            m = p.metrics
            lines.append(
                f"  metric analysis per step with traffic: {m.window_seconds:g}s windows read "
                f"{m.delay_seconds:g}s late, at least {m.min_requests} requests (else up to "
                f"{m.max_extensions} more windows, then probes decide); 5xx ≤ {m.max_error_ratio:.2%}, "
                f"p95 ≤ {m.max_latency_ms.p95:g} ms, p99 ≤ {m.max_latency_ms.p99:g} ms, and no worse "
                f"than stable by {m.relative_tolerance:.0%}"
            )
        if p.performance is not None:
            g = p.performance
            lines.append(
                f"  performance gate before traffic: {g.duration_seconds:g}s of the checks and "
                f"transactions at {g.rate_per_second:g} req/s, candidate and stable alternately; "
                f"fail when its p95 or error ratio is worse than stable's by {g.relative_tolerance:.0%} "
                f"(+{g.noise_latency_ms:g} ms, +{g.noise_error_ratio:.1%})"
            )
        if p.bake_seconds:
            lines.append(f"  bake: {p.bake_seconds:g}s of traffic at 100% analysed before 'stable'")
        lines.append(
            f"  worst case from a fault's onset to the rollback decision: "
            f"{p.worst_case_detection_seconds:g}s"
        )
        for n, svc in enumerate(self.services, 1):
            lines.append(f"  {n}. {svc.key} ({svc.name}): revision {svc.revision}")
            lines.append(f"     image {svc.image}")
            checks = (
                ", ".join(f"{c.path}→{c.expected_status}" for c in svc.checks) or "none configured"
            )
            lines.append(f"     checks: {checks}")
            if svc.transactions:
                done = ", ".join(f"{c.method} {c.path} ({c.kind})" for c in svc.transactions)
                lines.append(f"     transactions: {done}")
        lines.extend(f"  note: {note}" for note in (*self.overrides, *self.notes))
        return "\n".join(lines)


def build_plan(
    settings: EnvironmentSettings,
    *,
    version: str,
    commit: str = "",
    images: dict[str, str] | None = None,
    only: tuple[str, ...] = (),
    strategy: Literal["canary", "blue-green"] | None = None,
    image_override: bool = False,
    dry_run: bool = False,
) -> ReleasePlan:
    """Validate the inputs and compute the plan; raises :class:`ConfigError` on bad input.

    Every image must pass :func:`check_image`. A dry run does not refuse an image (the Dagger
    module previews a release before it has published, i.e. before any digest exists): the
    plan notes that a real run would refuse it.
    """
    parsed = parse_version(version)
    commit = parse_commit(commit) if commit.strip() else ""
    images = dict(images or {})
    for key in (*images, *only):
        settings.service(key)  # unknown service → ConfigError naming the known ones
    for key, ref in images.items():
        if (
            not ref
            or any(ch.isspace() for ch in ref)
            or (":" not in ref.rsplit("/", 1)[-1] and "@" not in ref)
        ):
            msg = f"image for {key} must be a reference with a tag or digest, not {ref!r}"
            raise ConfigError(msg)
    policy = settings.rollout
    if strategy is not None and strategy != policy.strategy:
        policy = replace(
            policy, strategy=strategy, steps=policy.steps if strategy == "canary" else (100,)
        )
    order = [k for k in settings.rollout_order() if not only or k in only]
    services = tuple(
        ServicePlan(
            key=key,
            name=settings.services[key].name,
            image=images.get(key) or settings.image_for(key, str(parsed)),
            revision=revision_name(settings.services[key].name, parsed, commit),
            checks=settings.checks_for(key),
            transactions=settings.transactions_for(key),
        )
        for key in order
    )
    overrides: list[str] = []
    notes: list[str] = []
    for svc in services:
        try:
            override = check_image(settings, svc.key, svc.image, override=image_override)
        except ConfigError as exc:
            if not dry_run:
                raise
            notes.append(f"a real run refuses this: {exc.message}")
            continue
        if override is not None:
            overrides.append(override)
    return ReleasePlan(
        environment=settings.environment,
        project_id=settings.project_id,
        region=settings.region,
        version=parsed,
        commit=commit,
        policy=policy,
        services=services,
        notes=tuple(notes),
        overrides=tuple(overrides),
    )
