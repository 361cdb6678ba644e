"""The quality gates: one definition of every command, run on the host or in Dagger.

A :class:`Gate` is a named list of :class:`Step` s (both in :mod:`clarity._gate_model`,
re-exported here). A step is an argv list (never a
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

from collections.abc import Sequence
from typing import Final

from clarity._gate_model import EXCLUDED, REPORT_PATH, FileSet, Gate, Report, Step
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
    exclude=(*EXCLUDED, "uv.lock", "ci/uv.lock", ".secrets.baseline"),
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
                        # Five workers (most end-to-end tests wait, not compute), the serial
                        # tiers each kept on one (tests/conftest.py): as `make test` runs it.
                        "-n",
                        "5",
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
