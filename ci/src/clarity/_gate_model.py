"""What a quality gate is: the files a step checks, the step's argv, its report, the gate.

The definitions of every gate are in :mod:`clarity._gates`; the host runner
(:mod:`clarity.gates`) and the Dagger functions run them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

__all__ = ["EXCLUDED", "REPORT_PATH", "FileSet", "Gate", "Report", "Step"]

# Never scanned: dependencies, caches, generated SDK and build output.
EXCLUDED: Final = (
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
    exclude: tuple[str, ...] = EXCLUDED

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
