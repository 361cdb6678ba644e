"""pytest: its command line, which tiers the marker expression selects, what those tiers need.

The arguments are read as pytest reads them (``pytest_cli``): an option neither pytest nor
a conftest on the way registers is a usage error, and so is a path that does not exist.
The tiers are the markers pyproject.toml declares; ``-m`` is evaluated with pytest's own
expression parser. What each tier needs from the machine it runs on is this project's
knowledge, kept here (a new tier with needs adds a line): the workflows tier runs git
and actionlint on the checkout, the container tier a Docker daemon, and the tiers that
use the Firestore and Pub/Sub emulators either reach them through bound services
(``*_EMULATOR_HOST``) or start them with gcloud. The e2e tier does too on the local
stack; given a gateway URL, its run is modelled in ``contracts/e2e.py``.
"""

from __future__ import annotations

import posixpath
import tomllib
from collections.abc import Callable
from typing import Final

from _pytest.mark.expression import Expression, ExpressionMatcher

from tests.doubles.dagger_engine.contracts import e2e
from tests.doubles.dagger_engine.contracts._base import Exec, Outcome, fail, ok
from tests.doubles.dagger_engine.contracts.pytest_cli import CommandLine, parse
from tests.doubles.dagger_engine.contracts.stack import EMULATORS, emulator_problem
from tests.doubles.dagger_engine.contracts.system import git_work_tree

__all__ = ["CONTRACTS", "TIER_NEEDS", "only"]


def _git_checkout(ex: Exec, _: CommandLine) -> str | None:
    if ex.fs.which("git", ex.env.get("PATH", "")) is None:
        return (
            "tests/workflows/test_release.py - FileNotFoundError: [Errno 2] No such file or "
            "directory: 'git'"
        )
    if git_work_tree(ex) is None:
        return (
            "tests/workflows/test_workflow_lint.py - no project was found in any parent "
            'directories of ".". check workflows directory is put correctly in your Git repository'
        )
    return None


def _docker(ex: Exec, _: CommandLine) -> str | None:
    if ex.fs.exists("/var/run/docker.sock"):
        return None
    return (
        "tests/containers - Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
        "Is the docker daemon running?"
    )


def _emulators(ex: Exec, _: CommandLine) -> str | None:
    if not any(ex.env.get(name) for name in EMULATORS):
        if ex.fs.which("gcloud", ex.env.get("PATH", "")) is None:
            return "tests/conftest.py::emulators - FileNotFoundError: [Errno 2] No such file or directory: 'gcloud'"
        return None
    for name in EMULATORS:
        problem = emulator_problem(ex.env, ex.bound, name)
        if problem is not None:
            return f"tests/conftest.py::emulators - TimeoutError: {problem}"
    return None


def _e2e(ex: Exec, line: CommandLine) -> str | Outcome | None:
    url = e2e.base_url(ex, line)
    return _emulators(ex, line) if url is None else e2e.run_against(ex, line, url)


TIER_NEEDS: Final[dict[str, Callable[[Exec, CommandLine], str | Outcome | None]]] = {
    "workflows": _git_checkout,
    "containers": _docker,
    "integration": _emulators,
    "delivery": _emulators,
    "e2e": _e2e,
}
"""Tier marker -> the check of what its tests need: None when met, the error when not, or
how the tier's run ended where the model decides it (e2e against a gateway URL)."""


def only(marker: str) -> ExpressionMatcher:
    """A matcher for ``-m`` that sees one marker (a test of that tier)."""

    def matches(name: str, /, **_: str | int | bool | None) -> bool:
        return name == marker

    return matches


def _tiers(ex: Exec) -> list[str]:
    config = tomllib.loads(ex.fs.read_text(ex.path("pyproject.toml")))
    markers = config["tool"]["pytest"]["ini_options"]["markers"]
    return [marker.split(":", 1)[0].strip() for marker in markers]


def pytest(ex: Exec) -> Outcome:
    """pytest [-n N] [-m EXPR] [--cov...] [--junitxml=PATH]."""
    if not ex.fs.is_file(ex.path("pyproject.toml")):
        return fail("ERROR: file or directory not found: pyproject.toml", 4)
    line = parse(ex)
    if line.unknown:
        return fail(
            f"pytest: error: unrecognized arguments: {' '.join(line.unknown)}\n"
            f"  inifile: {ex.path('pyproject.toml')}\n  rootdir: {ex.cwd}",
            4,
        )
    usage = e2e.configure_error(ex, line)
    if usage is not None:
        return usage
    missing = [p for p in line.paths if not ex.fs.exists(ex.path(p.split("::")[0]))]
    if missing:
        return fail(f"ERROR: file or directory not found: {missing[0]}", 4, stdout="no tests ran\n")
    expression = line.values.get("-m")
    try:
        selected = Expression.compile(expression or "")
    except SyntaxError as exc:
        return fail(f"ERROR: Wrong expression passed to '-m': {expression}: {exc}", 4)
    tiers = [t for t in _tiers(ex) if expression is None or selected.evaluate(only(t))]
    found = [check(ex, line) for t in tiers if (check := TIER_NEEDS.get(t))]
    errors = [e for e in found if isinstance(e, str) and e]
    for path in _report_paths(ex):
        ex.fs.mkdir(posixpath.dirname(ex.path(path)))
        ex.fs.write(ex.path(path), b"<?xml version='1.0'?><!-- modelled report -->\n")
    summary = f"modelled: tiers {', '.join(tiers)}"
    ran = [outcome for outcome in found if isinstance(outcome, Outcome)]
    if ran and not errors:
        return next((o for o in ran if o.exit_code), ran[0])
    if errors:
        lines = "\n".join(f"ERROR {e}" for e in errors)
        return fail(f"{lines}\n==== {len(errors)} errors; {summary} ====", 1, stdout=lines + "\n")
    return ok(f"==== {summary}: needs met ====\n")


def _report_paths(ex: Exec) -> list[str]:
    paths = []
    for arg in ex.args:
        if arg.startswith("--junitxml="):
            paths.append(arg.split("=", 1)[1])
        elif arg.startswith("--cov-report=xml:"):
            paths.append(arg.split(":", 1)[1])
    return paths


CONTRACTS: Final[dict[str, Callable[[Exec], Outcome]]] = {"pytest": pytest}
