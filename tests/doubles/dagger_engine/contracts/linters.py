"""The gates' checkers: ruff, mypy, bandit, detect-secrets, zizmor, actionlint, hadolint,
shellcheck, checkov, pip-audit.

Each needs its inputs (the files or directories it is given, its configuration) and, for
a report, the directory the report goes in. None of them judges the code here: a met
contract exits 0 with an empty report (SARIF with no results), because the verdicts are
what the host gates (``make lint``, ``make typecheck``, ``make security``) establish by
running the real tools on the same files.
"""

from __future__ import annotations

import json
import posixpath
import tomllib
from collections.abc import Callable, Iterable
from typing import Final

from tests.doubles.dagger_engine.contracts._base import Exec, ExecFsError, Outcome, fail, ok
from tests.doubles.dagger_engine.contracts.system import git_work_tree

__all__ = ["CONTRACTS", "empty_sarif"]


def empty_sarif(tool: str) -> bytes:
    """A SARIF 2.1.0 log with one run and no results."""
    log = {
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": tool}}, "results": []}],
    }
    return json.dumps(log).encode()


def _missing(ex: Exec, paths: Iterable[str]) -> str | None:
    return next((p for p in paths if not ex.fs.exists(ex.path(p))), None)


def _operands(ex: Exec, takes_value: Iterable[str] = ()) -> list[str]:
    """Arguments that are neither options nor option values."""
    valued = set(takes_value)
    operands, skip = [], False
    for arg in ex.args:
        if skip:
            skip = False
            continue
        if arg in valued:
            skip = True
            continue
        if not arg.startswith("-"):
            operands.append(arg)
    return operands


def _write_report(ex: Exec, path: str, data: bytes, tool: str) -> Outcome | None:
    try:
        ex.fs.write(ex.path(path), data)
    except ExecFsError as exc:
        return fail(f"{tool}: {exc}")
    return None


def ruff(ex: Exec) -> Outcome:
    """ruff format --check PATH / ruff check PATH."""
    paths = _operands(ex)[1:] or ["."]
    if (missing := _missing(ex, paths)) is not None:
        return fail(f"error: Failed to format {missing}: No such file or directory (os error 2)", 2)
    return ok("All checks passed!\n" if ex.args[:1] == ("check",) else "files already formatted\n")


def mypy(ex: Exec) -> Outcome:
    """mypy with its files from pyproject.toml's [tool.mypy]."""
    files = _operands(ex)
    if not files:
        if not ex.fs.is_file(ex.path("pyproject.toml")):
            return fail(
                "usage: mypy [-h] [-v] [-V] [more options; see below]\nmypy: error: Missing target module, package, files, or command.",
                2,
            )
        config = tomllib.loads(ex.fs.read_text(ex.path("pyproject.toml")))
        files = list(config.get("tool", {}).get("mypy", {}).get("files", []))
    if (missing := _missing(ex, files)) is not None:
        return fail(f"mypy: can't read file '{missing}': No such file or directory", 2)
    return ok(f"Success: no issues found in {len(files)} source paths\n")


def bandit(ex: Exec) -> Outcome:
    """bandit -c CONFIG -r TARGETS [--format sarif --output PATH]."""
    config = ex.option("-c")
    if config is not None and not ex.fs.is_file(ex.path(config)):
        return fail(f"[main]\tERROR\tCould not read config file: {config}", 2)
    targets = _operands(ex, ("-c", "--format", "--output", "-f", "-o"))
    if (missing := _missing(ex, targets)) is not None:
        return fail(f"[main]\tERROR\tFile {missing} does not exist", 2)
    output = ex.option("--output")
    if output is not None and (
        failed := _write_report(ex, output, empty_sarif("bandit"), "bandit")
    ):
        return failed
    return ok()


def detect_secrets_hook(ex: Exec) -> Outcome:
    """detect-secrets-hook --baseline FILE FILES..."""
    baseline = ex.option("--baseline")
    if baseline is not None and not ex.fs.is_file(ex.path(baseline)):
        return fail(f"error: argument --baseline: Invalid path: {baseline}", 2)
    files = _operands(ex, ("--baseline",))
    if (missing := _missing(ex, files)) is not None:
        return fail(f"error: argument filenames: Invalid path: {missing}", 2)
    return ok()


def zizmor(ex: Exec) -> Outcome:
    """zizmor --offline [--format sarif] FILES: SARIF goes to stdout."""
    files = _operands(ex, ("--format",))
    if (missing := _missing(ex, files)) is not None:
        return fail(f"fatal: no audit was performed\nerror: failed to load {missing}", 3)
    if ex.option("--format") == "sarif":
        return ok(empty_sarif("zizmor").decode())
    return ok("No findings to report.\n")


def actionlint(ex: Exec) -> Outcome:
    """actionlint FILES; without files it finds the project by its .git directory."""
    files = _operands(ex)
    if not files and git_work_tree(ex) is None:
        return fail(
            'no project was found in any parent directories of ".". check workflows directory '
            "is put correctly in your Git repository",
            3,
        )
    if (missing := _missing(ex, files)) is not None:
        return fail(f'could not read "{missing}": open {missing}: no such file or directory', 3)
    return ok()


def hadolint(ex: Exec) -> Outcome:
    """hadolint [--format sarif --output PATH] DOCKERFILES."""
    files = _operands(ex, ("--format", "--output", "-f"))
    if (missing := _missing(ex, files)) is not None:
        return fail(f"{missing}: openBinaryFile: does not exist (No such file or directory)")
    output = ex.option("--output")
    if output is not None and (
        failed := _write_report(ex, output, empty_sarif("hadolint"), "hadolint")
    ):
        return failed
    return ok()


def shellcheck(ex: Exec) -> Outcome:
    """shellcheck FILES."""
    files = _operands(ex)
    if (missing := _missing(ex, files)) is not None:
        return fail(
            f"{missing}: {missing}: openBinaryFile: does not exist (No such file or directory)"
        )
    return ok()


def checkov(ex: Exec) -> Outcome:
    """checkov --directory DIR [--output-file-path console,PATH]."""
    directory = ex.option("--directory")
    if directory is not None and not ex.fs.is_dir(ex.path(directory)):
        return fail(f"Directory {directory} does not exist; skipping it", 2)
    paths = ex.option("--output-file-path")
    for path in (paths or "").split(","):
        if path and path != "console":
            folder = posixpath.dirname(ex.path(path))
            if not ex.fs.is_dir(folder):
                return fail(f"FileNotFoundError: [Errno 2] No such file or directory: '{path}'")
            ex.fs.write(ex.path(path), empty_sarif("checkov"))
    return ok("Passed checks: modelled, Failed checks: 0, Skipped checks: 0\n")


def pip_audit(ex: Exec) -> Outcome:
    """pip-audit --requirement FILE [--format json --output PATH]."""
    requirement = ex.option("--requirement") or ex.option("-r")
    if requirement is not None and not ex.fs.is_file(ex.path(requirement)):
        return fail(f"ERROR:pip_audit._cli:invalid requirements input: {requirement}", 1)
    output = ex.option("--output")
    report = json.dumps({"dependencies": [], "fixes": []}).encode()
    if output is not None and (failed := _write_report(ex, output, report, "pip-audit")):
        return failed
    return ok("No known vulnerabilities found\n")


CONTRACTS: Final[dict[str, Callable[[Exec], Outcome]]] = {
    "ruff": ruff,
    "mypy": mypy,
    "bandit": bandit,
    "detect-secrets-hook": detect_secrets_hook,
    "zizmor": zizmor,
    "jactionlint": actionlint,
    "hadolint": hadolint,
    "shellcheck": shellcheck,
    "checkov": checkov,
    "pip-audit": pip_audit,
}
