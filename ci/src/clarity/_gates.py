"""The quality gates: one definition of every command, run on the host or in Dagger.

A :class:`Gate` is a named list of :class:`Step` s. A step is an argv list (never a
shell string), optionally followed by the files it checks. The host runner
(``python -m clarity.gates``) and the Dagger functions (``lint``, ``security``...) both
build their commands from these definitions, so the two cannot drift apart. The only
differences are explicit fields: ``host``/``pipeline`` say where a step runs (with the
reason it does not run elsewhere) and ``pipeline_args`` adds arguments in the pipeline.

A step may also describe a :class:`Report`: the arguments that make the same command
write a machine-readable file (SARIF where the tool supports it). The report functions
(``security-report``, ``scan-report``) run :meth:`Step.report_command`, so a report
always comes from exactly the command the gate judges. :data:`IMAGE_SCAN` is the trivy
command ``scan`` and ``scan-report`` run against each image.
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
    "IMAGE_SCAN",
    "IMAGE_TARBALL",
    "PIPELINE_TIERS",
    "REPORT_PATH",
    "FileSet",
    "Gate",
    "Report",
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
    # Exported plans (`dagger call plan ... -o plan`) hold a snapshot of the state.
    "plan/*",
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


REPORT_PATH: Final = "{report}"
"""Stands for the report file's path in :attr:`Report.args`."""


@dataclass(frozen=True, kw_only=True)
class Report:
    """The machine-readable report a step writes when its report variant runs."""

    file: str
    """Name of the report in the exported directory (``bandit.sarif``)."""
    args: tuple[str, ...]
    """Arguments that select the format; :data:`REPORT_PATH` in one becomes the file's path."""
    stdout: bool = False
    """The tool prints the report on stdout (the runner captures it into the file)."""
    exit_status: bool = True
    """False if the tool exits 0 despite findings in this format: count the SARIF results."""

    def __post_init__(self) -> None:
        if not self.file or "/" in self.file:
            msg = f"report file {self.file!r} must be a plain file name"
            raise ValueError(msg)
        names_path = any(REPORT_PATH in arg for arg in self.args)
        if not self.exit_status and not self.sarif:
            msg = f"report {self.file}: without an exit status, findings are counted in SARIF"
            raise ValueError(msg)
        if names_path == self.stdout:
            msg = (
                f"report {self.file}: either pass {REPORT_PATH} in args (the tool writes "
                "the file) or set stdout=True (the tool prints it), not both or neither"
            )
            raise ValueError(msg)

    @property
    def sarif(self) -> bool:
        """True for a SARIF report (what GitHub code scanning accepts)."""
        return self.file.endswith(".sarif")


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
    report: Report | None = None
    """How the step writes a machine-readable report; None if the tool cannot."""

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

    def report_command(
        self, files: Sequence[str] = (), *, path: str, pipeline: bool
    ) -> tuple[str, ...]:
        """The same argv plus the report arguments (``path``: where the file goes), then files.

        The exit code still says whether the step found something; a tool with
        ``stdout=True`` prints the report, which the caller redirects into ``path``.
        """
        if self.report is None:
            msg = f"step {self.name!r} writes no machine-readable report"
            raise ValueError(msg)
        extra = self.pipeline_args if pipeline else ()
        args = tuple(arg.replace(REPORT_PATH, path) for arg in self.report.args)
        return (*self.argv, *extra, *args, *files)


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
PIPELINE_TIERS: Final = "not containers and not engine and not workflows and not e2e and not push"
"""The test tiers the pipeline's test gate selects (a pytest marker expression)."""

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
                        # Two workers, the docker and terraform tiers each kept on one
                        # (tests/conftest.py): as `make test` runs it.
                        "-n",
                        "2",
                        "--dist",
                        "loadgroup",
                        "--cov",
                        "--cov-report=term",
                        "--cov-report=xml:reports/coverage.xml",
                        "--junitxml=reports/junit.xml",
                    ),
                    # What a pipeline container cannot run: the container tier (no Docker
                    # daemon; build, scan and sbom cover the images there), the engine tier
                    # (no Dagger inside Dagger), the workflows tier, whose subject is the
                    # git checkout (git rev-parse, actionlint finding the project by .git,
                    # throwaway repositories): the source deliberately has no .git and the
                    # Python image no git; the workflow files themselves are still linted in
                    # the pipeline by the security gate (zizmor, actionlint on each file).
                    # And what needs the emulators to push to a test process (`e2e`,
                    # `push`): there the emulators are Dagger services, which cannot reach
                    # a process of the test container; the `e2e` function proves the data
                    # flow against the deployed environments instead. These tiers run where
                    # the checkout is (`make test`, .ci/run).
                    pipeline_args=("-m", PIPELINE_TIERS),
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
                    # The SARIF formatter needs the bandit[sarif] extra (a dev dependency).
                    report=Report(
                        file="bandit.sarif", args=("--format", "sarif", "--output", REPORT_PATH)
                    ),
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
                    # pip-audit has no SARIF output: its JSON report is the artefact.
                    report=Report(
                        file="pip-audit.json", args=("--format", "json", "--output", REPORT_PATH)
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
                        # The repository's own checks (CKV_CLARITY_*), beside checkov's.
                        "--external-checks-dir",
                        "terraform/policies",
                        "--skip-download",
                        "--compact",
                        "--quiet",
                    ),
                    # Findings stay on the console; the SARIF goes to the named file.
                    report=Report(
                        file="checkov.sarif",
                        args=(
                            "--output",
                            "cli",
                            "--output",
                            "sarif",
                            "--output-file-path",
                            f"console,{REPORT_PATH}",
                        ),
                    ),
                    requires=("terraform/tools/checkov-requirements.txt",),
                ),
                Step(
                    name="zizmor",
                    argv=("zizmor", "--offline"),
                    files=_WORKFLOWS,
                    # zizmor drops its findings exit codes in SARIF mode.
                    report=Report(
                        file="zizmor.sarif",
                        args=("--format", "sarif"),
                        stdout=True,
                        exit_status=False,
                    ),
                ),
                Step(name="actionlint", argv=("jactionlint",), files=_WORKFLOWS),
                Step(
                    name="hadolint",
                    argv=("hadolint",),
                    files=FileSet(include=("docker/**/Dockerfile", "docker/**/*.Dockerfile")),
                    report=Report(
                        file="hadolint.sarif", args=("--format", "sarif", "--output", REPORT_PATH)
                    ),
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

IMAGE_TARBALL: Final = "/scan/image.tar"
"""Where the scan container finds the image under test (an OCI tarball)."""

IMAGE_SCAN: Final = Step(
    name="trivy",
    argv=(
        "trivy",
        "image",
        "--input",
        IMAGE_TARBALL,
        "--severity",
        "HIGH,CRITICAL",
        "--ignore-unfixed",
        "--exit-code",
        "1",
    ),
    # The report lists exactly what fails the gate: fixable HIGH and CRITICAL findings.
    report=Report(file="trivy.sarif", args=("--format", "sarif", "--output", REPORT_PATH)),
    host=False,
    not_on_host="images are built and scanned only in the Dagger pipeline (scan, scan-report)",
)
"""The vulnerability scan of one image: fails on fixable HIGH or CRITICAL findings."""


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
