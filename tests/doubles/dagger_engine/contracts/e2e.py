"""The e2e tier (tests/e2e) against a gateway URL: the ID token file, and what the URL reaches.

The suite's options are read from its conftest files (``pytest_cli``): ``--e2e-base-url``,
``--e2e-id-token-file``, ``--e2e-expect-version``, each standing in for the variable its
default reads. What the suite does with them, modelled here:

* ``pytest_configure`` refuses a base URL without a token file (a usage error, exit 4);
* the ``target`` fixture reads the token file as the exec's user: missing, unreadable or
  empty, every test errors at setup with its ``UsageError`` (exit 1);
* the double refuses a token file others can read, and the token's text (8 characters or
  more) in argv or in a plain variable: an ID token is kept in an owner-only file (a secret
  mount);
* the journey reaches the URL (``stack.reach``): a bound service whose needs are met
  (``stack.service_problems``), or a deployed host over https (Cloud Run redirects http,
  and the journey follows no redirects); otherwise every test fails with the journey's
  ``no answer from`` or ``answered`` message;
* ``World.journey_failures`` sets what the journey finds at a host, and
  ``World.served_versions`` the version a gateway reports on ``/health``, which only the
  tests that read ``expect_version`` compare with ``--e2e-expect-version``.

The tests are the ``test_*`` functions of the files given. Without a base URL the suite
starts the local stack on the emulators: that need is the integration tier's
(``contracts/pytest.py``).
"""

from __future__ import annotations

import ast
import posixpath
from typing import Final
from urllib.parse import urlsplit

from clarity_delivery.journey import SAMPLES_PATH

from tests.doubles.dagger_engine.contracts import stack
from tests.doubles.dagger_engine.contracts._base import Exec, ExecFsError, Outcome, fail
from tests.doubles.dagger_engine.contracts.pytest_cli import CommandLine

__all__ = ["BASE_URL", "base_url", "configure_error", "run_against"]

BASE_URL: Final = "--e2e-base-url"
TOKEN_FILE: Final = "--e2e-id-token-file"
EXPECT_VERSION: Final = "--e2e-expect-version"
_USAGE: Final = 4  # pytest.ExitCode.USAGE_ERROR
_FAILED: Final = 1  # pytest.ExitCode.TESTS_FAILED
_NO_TESTS: Final = 5  # pytest.ExitCode.NO_TESTS_COLLECTED
_NOTICEABLE: Final = 8
"""Shorter token text is found in any argv by chance (an ID token is hundreds of characters)."""


def base_url(ex: Exec, line: CommandLine) -> str | None:
    """The gateway the suite goes to, or None for the local stack."""
    url = line.value(ex, BASE_URL)
    return url.rstrip("/") if url else None


def configure_error(ex: Exec, line: CommandLine) -> Outcome | None:
    """tests/conftest.py's ``pytest_configure``: a base URL needs a token file."""
    if not base_url(ex, line) or line.value(ex, TOKEN_FILE):
        return None
    option = line.registered.get(TOKEN_FILE)
    variable = f" or set {option.variable}" if option and option.variable else ""
    return fail(
        f"ERROR: {BASE_URL} needs an ID token for it: pass {TOKEN_FILE} FILE{variable} "
        "(e.g. a file holding `gcloud auth print-identity-token --audiences=URL`)",
        _USAGE,
    )


def _functions(ex: Exec, path: str) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    module = ast.parse(ex.fs.read_text(ex.path(path)))
    return [
        (f"{path}::{node.name}", node)
        for node in module.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    ]


def _tests(ex: Exec, line: CommandLine) -> dict[str, bool]:
    """Node id -> whether the test reads ``expect_version``, for the files given."""
    found: dict[str, bool] = {}
    for given in line.paths:
        path = given.split("::")[0]
        files = [path]
        if ex.fs.is_dir(ex.path(path)):
            root = ex.path(path).lstrip("/")
            files = [
                posixpath.join(path, posixpath.relpath(key, root))
                for key in sorted(ex.fs.walk(ex.path(path)))
                if posixpath.basename(key).startswith("test_") and key.endswith(".py")
            ]
        selected = given.partition("::")[2]
        for file in files:
            for node_id, node in _functions(ex, file):
                if selected and node_id != given:
                    continue
                reads = any(
                    isinstance(sub, ast.Attribute) and sub.attr == "expect_version"
                    for sub in ast.walk(node)
                )
                found[node_id] = reads
    return found


def _report(tests: dict[str, bool], failing: dict[str, str], *, at_setup: bool = False) -> Outcome:
    """pytest's ``-rA`` summary: the failing tests with their error, the rest passed."""
    kind = "ERROR" if at_setup else "FAILED"
    lines = [f"{kind} {t} - {failing[t]}" if t in failing else f"PASSED {t}" for t in tests]
    noun = "errors" if at_setup else "failed"
    counts = [f"{len(failing)} {noun}"] if failing else []
    if len(tests) > len(failing):
        counts.append(f"{len(tests) - len(failing)} passed")
    summary = "\n".join([*lines, f"==== {', '.join(counts)} (modelled) ===="]) + "\n"
    return Outcome(exit_code=_FAILED if failing else 0, stdout=summary)


def _token(ex: Exec, line: CommandLine, tests: dict[str, bool]) -> str | Outcome:
    """The ID token as the ``target`` fixture reads it, or how the run ends without it."""
    path = line.value(ex, TOKEN_FILE) or ""
    try:
        token = ex.fs.read_text(ex.path(path)).strip()
    except ExecFsError as exc:
        reason = str(exc).rsplit(": ", 1)[-1].capitalize()
        problem = f"UsageError: cannot read the ID token file {path}: {reason}"
        return _report(tests, dict.fromkeys(tests, problem), at_setup=True)
    if not token:
        problem = f"UsageError: the ID token file {path} is empty"
        return _report(tests, dict.fromkeys(tests, problem), at_setup=True)
    entry = ex.fs.entry(ex.path(path))
    if entry is not None and entry.mode & 0o077:
        return fail(
            f"the engine double refuses an ID token file others can read: {path} has mode "
            f"{entry.mode:#o}; mount the secret owner-only (mode 0o400, owned by the exec's user)"
        )
    plain = [v for n, v in ex.env.items() if n not in ex.secret_names]
    if len(token) >= _NOTICEABLE and any(token in value for value in [*ex.argv, *plain]):
        return fail(
            "the engine double refuses an ID token in argv or a plain variable: both are kept "
            "in the exec's cache key and shown in traces; pass it as a file (a secret mount)"
        )
    return token


def _reached(ex: Exec, url: str) -> tuple[str, str | None]:
    """The host the journey reached and why its first request failed there (None: it answered)."""
    target = stack.reach(ex, url)
    if isinstance(target, str):
        host = urlsplit(url).hostname or ""
        return host, f"POST {SAMPLES_PATH}: no answer from {url} (ConnectError: {target})"
    if target.service is not None:
        problems = stack.service_problems(target.service, ex.world)
        if problems:
            return (
                target.host,
                f"POST {SAMPLES_PATH} answered 500, expected 201: {'; '.join(problems)}",
            )
    elif urlsplit(url).scheme != "https":
        return target.host, (
            f"POST {SAMPLES_PATH} answered 302, expected 201: a redirect to https://{target.host} "
            "(Cloud Run redirects HTTP to HTTPS; the journey follows no redirects)"
        )
    return target.host, ex.world.journey_failures.get(target.host)


def run_against(ex: Exec, line: CommandLine, url: str) -> Outcome:
    """The journey's tests against ``url``, with the token file the command names."""
    tests = _tests(ex, line)
    if not tests:
        return Outcome(exit_code=_NO_TESTS, stdout="==== no tests ran (modelled) ====\n")
    token = _token(ex, line, tests)
    if isinstance(token, Outcome):
        return token
    host, problem = _reached(ex, url)
    if problem is not None:
        return _report(tests, dict.fromkeys(tests, f"JourneyFailed: {problem}"))
    expected = line.value(ex, EXPECT_VERSION)
    if not expected:
        return _report(tests, {})
    served = ex.world.served_versions.get(host)
    if served is None:
        return fail(
            f"the engine double does not know which version {host} reports on /health: "
            f"set World.served_versions[{host!r}]"
        )
    if served == expected:
        return _report(tests, {})
    problem = (
        f"AssertionError: journey version: GET /health answered 200 with version {served!r}, "
        f"expected {expected!r}: is this release deployed there yet?"
    )
    return _report(tests, {t: problem for t, reads in tests.items() if reads})
