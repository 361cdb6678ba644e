"""pytest's command line: its own options, the ones conftest files register, the paths.

pytest knows an option if it or a plugin defines it, or if a ``conftest.py`` it loads at
startup registers it with ``addoption``: the one in the root directory and those along
each path argument (``tests/conftest.py`` for ``tests/e2e/test_journey.py``). Those files
are read from the exec's filesystem, so an option the command passes and the suite no
longer registers is an ``unrecognized arguments`` error, as in pytest. An option's default
of the form ``os.environ.get("NAME", ...)`` names the variable that stands in for it.

pytest's and its plugins' own options are the ones this project's commands use (below); an
option that is neither among them nor registered is reported as pytest reports it, and
the fix may be to add it here.
"""

from __future__ import annotations

import ast
import posixpath
import tomllib
from dataclasses import dataclass, field
from typing import Final

from tests.doubles.dagger_engine.contracts._base import Exec, ExecFsError

__all__ = ["CommandLine", "Option", "parse"]

#: pytest's, pytest-xdist's, pytest-cov's and pytest-timeout's options that take a value.
_VALUED: Final = frozenset(
    {
        "-m",
        "-k",
        "-p",
        "-c",
        "-o",
        "-W",
        "-r",
        "-n",
        "--dist",
        "--maxfail",
        "--deselect",
        "--ignore",
        "--rootdir",
        "--basetemp",
        "--timeout",
        "--durations",
        "--junitxml",
        "--cov-report",
        "--cov-fail-under",
        "--tb",
    }
)
#: The same plugins' options without a value (``--cov`` takes one only as ``--cov=PATH``).
_FLAGS: Final = frozenset(
    {"-q", "-v", "-x", "-s", "-l", "--cov", "--strict-markers", "--strict-config", "--no-header"}
)


@dataclass(frozen=True)
class Option:
    """An option a conftest registers: whether it takes a value, and its variable."""

    valued: bool
    variable: str | None


@dataclass(frozen=True)
class CommandLine:
    """One pytest invocation's arguments, read as pytest reads them."""

    paths: tuple[str, ...]
    values: dict[str, str] = field(default_factory=dict)
    """Option -> the last value given on the command line."""
    registered: dict[str, Option] = field(default_factory=dict)
    unknown: tuple[str, ...] = ()

    def value(self, ex: Exec, option: str) -> str | None:
        """The option's value: from argv, else from the variable its default reads."""
        if option in self.values:
            return self.values[option]
        known = self.registered.get(option)
        if known is None or known.variable is None:
            return None
        return ex.env.get(known.variable) or None


def _environ_get(node: ast.AST) -> str | None:
    """``NAME`` of an ``os.environ.get("NAME", ...)`` inside ``node``."""
    for sub in ast.walk(node):
        if (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and sub.func.attr == "get"
            and isinstance(sub.func.value, ast.Attribute)
            and sub.func.value.attr == "environ"
            and sub.args
            and isinstance(sub.args[0], ast.Constant)
        ):
            return str(sub.args[0].value)
    return None


def _registered(source: str) -> dict[str, Option]:
    options = {}
    for node in ast.walk(ast.parse(source)):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "addoption"
        ):
            continue
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        action = keywords.get("action")
        valued = not (
            isinstance(action, ast.Constant) and str(action.value).startswith(("store_", "count"))
        )
        default = keywords.get("default")
        variable = _environ_get(default) if default is not None else None
        for arg in node.args:
            if isinstance(arg, ast.Constant) and str(arg.value).startswith("-"):
                options[str(arg.value)] = Option(valued=valued, variable=variable)
    return options


def _conftests(ex: Exec, candidates: list[str]) -> dict[str, Option]:
    """Options registered by the root's conftest and those along each candidate path."""
    directories = {""}
    for candidate in candidates:
        parts = candidate.split("::")[0].strip("/").split("/")
        directories |= {"/".join(parts[:i]) for i in range(1, len(parts) + 1)}
    options: dict[str, Option] = {}
    for directory in sorted(directories):
        path = ex.path(posixpath.join(directory, "conftest.py"))
        if not ex.fs.is_file(path):
            continue
        try:
            options |= _registered(ex.fs.read_text(path))
        except (ExecFsError, SyntaxError):
            continue  # pytest would fail importing it; the tier's own checks say more
    return options


def _split(args: tuple[str, ...], registered: dict[str, Option]) -> CommandLine:
    paths: list[str] = []
    values: dict[str, str] = {}
    unknown: list[str] = []
    pending: str | None = None
    for arg in args:
        if pending is not None:
            values[pending], pending = arg, None
        elif not arg.startswith("-") or arg == "-":
            paths.append(arg)
        elif arg.startswith("--") and "=" in arg:
            name, _, value = arg.partition("=")
            if name in _VALUED or name in _FLAGS or name in registered:
                values[name] = value
            else:
                unknown.append(arg)
        elif arg in _VALUED or (arg in registered and registered[arg].valued):
            pending = arg
        elif arg in _FLAGS or arg in registered:
            values[arg] = ""
        elif not arg.startswith("--") and arg[:2] in _VALUED:
            values[arg[:2]] = arg[2:]  # -n2, -rA, -mexpr
        else:
            unknown.append(arg)
    if pending is not None:
        unknown.append(pending)  # argparse: "expected one argument"
    return CommandLine(tuple(paths), values, registered, tuple(unknown))


def parse(ex: Exec) -> CommandLine:
    """The exec's pytest arguments, with the options its conftest files register."""
    first = _split(ex.args, {})
    candidates = [*first.paths] or _testpaths(ex)
    return _split(ex.args, _conftests(ex, candidates))


def _testpaths(ex: Exec) -> list[str]:
    """``testpaths`` of pyproject.toml: where pytest looks without path arguments."""
    config = tomllib.loads(ex.fs.read_text(ex.path("pyproject.toml")))
    return list(
        config.get("tool", {}).get("pytest", {}).get("ini_options", {}).get("testpaths", [])
    )
