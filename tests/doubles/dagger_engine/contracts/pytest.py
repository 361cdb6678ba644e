"""pytest: which tiers the marker expression selects, and what those tiers need.

The tiers are the markers pyproject.toml declares; ``-m`` is evaluated with pytest's own
expression parser. What each tier needs from the machine it runs on is this project's
knowledge, kept here (a new tier with needs adds a line): the workflows tier runs git
and actionlint on the checkout, the container tier a Docker daemon, and the tiers that
use the Firestore and Pub/Sub emulators either reach them through bound services
(``*_EMULATOR_HOST``) or start them with gcloud.
"""

from __future__ import annotations

import posixpath
import tomllib
from collections.abc import Callable
from typing import Final

from _pytest.mark.expression import Expression, ExpressionMatcher

from tests.doubles.dagger_engine.contracts._base import Exec, Outcome, fail, ok
from tests.doubles.dagger_engine.contracts.stack import EMULATORS, emulator_problem
from tests.doubles.dagger_engine.contracts.system import git_work_tree

__all__ = ["CONTRACTS", "TIER_NEEDS", "only"]


def _git_checkout(ex: Exec) -> str | None:
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


def _docker(ex: Exec) -> str | None:
    if ex.fs.exists("/var/run/docker.sock"):
        return None
    return (
        "tests/containers - Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
        "Is the docker daemon running?"
    )


def _emulators(ex: Exec) -> str | None:
    if not any(ex.env.get(name) for name in EMULATORS):
        if ex.fs.which("gcloud", ex.env.get("PATH", "")) is None:
            return "tests/conftest.py::emulators - FileNotFoundError: [Errno 2] No such file or directory: 'gcloud'"
        return None
    for name in EMULATORS:
        problem = emulator_problem(ex.env, ex.bound, name)
        if problem is not None:
            return f"tests/conftest.py::emulators - TimeoutError: {problem}"
    return None


TIER_NEEDS: Final[dict[str, Callable[[Exec], str | None]]] = {
    "workflows": _git_checkout,
    "containers": _docker,
    "integration": _emulators,
    "delivery": _emulators,
}
"""Tier marker -> the check of what its tests need (None when met)."""


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
    expression = ex.option("-m")
    try:
        selected = Expression.compile(expression or "")
    except SyntaxError as exc:
        return fail(f"ERROR: Wrong expression passed to '-m': {expression}: {exc}", 4)
    tiers = [t for t in _tiers(ex) if expression is None or selected.evaluate(only(t))]
    errors = [e for t in tiers if (check := TIER_NEEDS.get(t)) and (e := check(ex))]
    for path in _report_paths(ex):
        ex.fs.mkdir(posixpath.dirname(ex.path(path)))
        ex.fs.write(ex.path(path), b"<?xml version='1.0'?><!-- modelled report -->\n")
    summary = f"modelled: tiers {', '.join(tiers)}"
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
