"""The quality gates: one definition of every command, run on the host or in Dagger.

A :class:`Gate` is a named list of :class:`Step` s. A step is an argv list (never a
shell string), optionally followed by the files it checks. The host runner
(``python -m clarity.gates``) and the Dagger functions (``lint``, ``security``...) both
build their commands from these definitions, so the two cannot drift apart. The only
differences are explicit fields: ``host``/``pipeline`` say where a step runs (with the
reason it does not run elsewhere) and ``pipeline_args`` adds arguments in the pipeline.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from clarity._images import TOOL_VERSIONS

__all__ = [
    "GATES",
    "GATE_NAMES",
    "FileSet",
    "Gate",
    "Step",
    "select_gates",
]

# Never scanned: dependencies, caches, generated SDK and build output.
_EXCLUDED: Final = (
    ".git/*",
    ".venv/*",
    "*/.venv/*",
    ".tools/*",
    "*/node_modules/*",
    "*/__pycache__/*",
    ".mypy_cache/*",
    ".ruff_cache/*",
    ".pytest_cache/*",
    "*/.terraform/*",
    "ci/sdk/*",
    "reports/*",
    "build/*",
    "dist/*",
)


@dataclass(frozen=True, kw_only=True)
class FileSet:
    """Files a step checks: glob patterns relative to the repository root."""

    include: tuple[str, ...]
    exclude: tuple[str, ...] = _EXCLUDED

    def select(self, paths: Iterable[str]) -> tuple[str, ...]:
        """Keep the paths matching ``include`` and not ``exclude``, sorted, unique."""
        kept = set()
        for raw in paths:
            path = raw.removeprefix("./")
            if path.endswith("/"):
                continue
            if not any(_matches(path, pattern) for pattern in self.include):
                continue
            if any(_matches(path, pattern) for pattern in self.exclude):
                continue
            kept.add(path)
        return tuple(sorted(kept))

    def describe(self) -> str:
        """The include patterns, for messages."""
        return ", ".join(self.include)


def _matches(path: str, pattern: str) -> bool:
    # fnmatch's '*' crosses '/', so '**/' is the optional-directories prefix of a glob.
    if fnmatch.fnmatchcase(path, pattern):
        return True
    return pattern.startswith("**/") and fnmatch.fnmatchcase(path, pattern[3:])


@dataclass(frozen=True, kw_only=True)
class Step:
    """One command of a gate."""

    name: str
    argv: tuple[str, ...]
    files: FileSet | None = None
    """Files appended to ``argv``; if none exist the step has nothing to check."""
    requires: tuple[str, ...] = ()
    """Paths that must exist for the step to have anything to check."""
    pipeline_args: tuple[str, ...] = ()
    """Extra arguments in the Dagger pipeline (appended before the files)."""
    host: bool = True
    pipeline: bool = True
    not_on_host: str = ""
    """Why the step does not run on the host (printed as the skip reason)."""

    def __post_init__(self) -> None:
        if not self.argv:
            msg = f"step {self.name!r} has an empty argv"
            raise ValueError(msg)
        if not self.host and not self.not_on_host:
            msg = f"step {self.name!r} skips the host without saying why"
            raise ValueError(msg)

    def command(self, files: Sequence[str] = (), *, pipeline: bool) -> tuple[str, ...]:
        """The argv to execute, with the pipeline arguments and the files appended."""
        extra = self.pipeline_args if pipeline else ()
        return (*self.argv, *extra, *files)


@dataclass(frozen=True, kw_only=True)
class Gate:
    """A named group of steps that passes only if every step passes."""

    name: str
    summary: str
    steps: tuple[Step, ...] = field(default_factory=tuple)


_WORKFLOWS: Final = FileSet(
    include=(".github/workflows/*.yml", ".github/workflows/*.yaml", ".github/actions/*/action.yml")
)
_SECRET_SCAN: Final = FileSet(
    include=tuple(
        f"**/{pattern}"
        for pattern in (
            "*.py",
            "*.toml",
            "*.json",
            "*.yml",
            "*.yaml",
            "*.tf",
            "*.tfvars",
            "*.sh",
            "*.md",
            "*.cfg",
            "*.ini",
            "*.env",
            "*.txt",
            "Dockerfile",
            "Makefile",
        )
    ),
    exclude=(*_EXCLUDED, "uv.lock", "ci/uv.lock", ".secrets.baseline"),
)
_REQUIREMENTS_EXPORT: Final = "/tmp/clarity-requirements.txt"  # noqa: S108  # nosec B108 - single-use pipeline container

GATES: Final[dict[str, Gate]] = {
    gate.name: gate
    for gate in (
        Gate(
            name="lint",
            summary="ruff format --check and ruff check over the repository",
            steps=(
                Step(name="ruff format", argv=("ruff", "format", "--check", ".")),
                Step(name="ruff check", argv=("ruff", "check", ".")),
            ),
        ),
        Gate(
            name="typecheck",
            summary="mypy strict over src/, ci/src/ and tests/ (files from pyproject.toml)",
            steps=(Step(name="mypy", argv=("mypy",)),),
        ),
        Gate(
            name="test",
            summary="pytest with the branch-coverage gate, JUnit XML and coverage XML in reports/",
            steps=(
                Step(
                    name="pytest",
                    argv=(
                        "pytest",
                        "--cov",
                        "--cov-report=term",
                        "--cov-report=xml:reports/coverage.xml",
                        "--junitxml=reports/junit.xml",
                    ),
                    # No Docker daemon inside a pipeline container: the image tier is
                    # covered there by build, scan and sbom.
                    pipeline_args=("-m", "not containers and not engine"),
                ),
            ),
        ),
        Gate(
            name="security",
            summary=(
                "bandit, secret scan, dependency audit, checkov, zizmor, actionlint, "
                "hadolint and shellcheck"
            ),
            steps=(
                Step(
                    name="bandit",
                    argv=("bandit", "-c", "pyproject.toml", "-q", "-r", "src", "ci/src"),
                ),
                Step(
                    name="detect-secrets",
                    argv=("detect-secrets-hook", "--no-verify", "--baseline", ".secrets.baseline"),
                    requires=(".secrets.baseline",),
                    files=_SECRET_SCAN,
                ),
                Step(
                    name="export requirements",
                    argv=(
                        "uv",
                        "export",
                        "--locked",
                        "--all-groups",
                        "--format",
                        "requirements-txt",
                        "--no-emit-project",
                        "--quiet",
                        "--output-file",
                        _REQUIREMENTS_EXPORT,
                    ),
                    host=False,
                    not_on_host=(
                        "the dependency audit runs only in the Dagger pipeline: this "
                        "machine's package index serves no vulnerability data, so "
                        "pip-audit here would report a false pass"
                    ),
                ),
                Step(
                    name="pip-audit",
                    argv=(
                        "uv",
                        "tool",
                        "run",
                        "--from",
                        f"pip-audit=={TOOL_VERSIONS['pip-audit']}",
                        "pip-audit",
                        "--strict",
                        "--disable-pip",
                        "--progress-spinner",
                        "off",
                        "--requirement",
                        _REQUIREMENTS_EXPORT,
                    ),
                    host=False,
                    not_on_host=(
                        "the dependency audit runs only in the Dagger pipeline: this "
                        "machine's package index serves no vulnerability data, so "
                        "pip-audit here would report a false pass"
                    ),
                ),
                Step(
                    name="checkov",
                    # Its own throw-away environment from the Terraform tooling's pins:
                    # checkov and python-hcl2 install conflicting top-level packages.
                    argv=(
                        "uv",
                        "run",
                        "--no-project",
                        "--isolated",
                        "--with-requirements",
                        "terraform/tools/checkov-requirements.txt",
                        "checkov",
                        "--directory",
                        "terraform",
                        "--skip-download",
                        "--compact",
                        "--quiet",
                    ),
                    requires=("terraform/tools/checkov-requirements.txt",),
                ),
                Step(name="zizmor", argv=("zizmor", "--offline"), files=_WORKFLOWS),
                Step(name="actionlint", argv=("jactionlint",), files=_WORKFLOWS),
                Step(
                    name="hadolint",
                    argv=("hadolint",),
                    files=FileSet(include=("docker/**/Dockerfile", "docker/**/*.Dockerfile")),
                ),
                Step(
                    name="shellcheck",
                    argv=("shellcheck",),
                    files=FileSet(include=("scripts/**/*.sh", "scripts/*.sh")),
                ),
            ),
        ),
    )
}

GATE_NAMES: Final = tuple(GATES)


def select_gates(names: Sequence[str]) -> tuple[Gate, ...]:
    """The gates named (``all`` selects every gate), in definition order."""
    wanted = set(names)
    if not wanted or "all" in wanted:
        return tuple(GATES.values())
    unknown = sorted(wanted - set(GATES))
    if unknown:
        msg = f"unknown gate(s) {', '.join(unknown)}: use all or {', '.join(GATE_NAMES)}"
        raise KeyError(msg)
    return tuple(gate for gate in GATES.values() if gate.name in wanted)
