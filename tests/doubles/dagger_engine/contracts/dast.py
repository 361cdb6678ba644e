"""schemathesis [--config-file PATH] run LOCATION: its configuration, and a target that answers.

The configuration goes through schemathesis's own loading rules: the file must exist and be
TOML; every ``${NAME}`` placeholder resolves from the process environment (schemathesis's
own placeholder syntax, its "Missing environment variable" error); the ``hooks`` file it
names is loaded relative to the working directory; the rest is validated by
``SchemathesisConfig.from_dict`` of the pinned version. A placeholder in ``headers`` is a
credential: the double requires it to come from a secret variable (a plain variable is kept
in the container's configuration and cache keys).

The location must reach something (``stack.reach``). A bound service of the local stack is
tested if it can answer (``stack.service_problems``): otherwise the run fails the way
schemathesis reports 5xx answers. A deployed service (outside the double) answers 401 to
a run without an ``Authorization`` header, which the ``missing_auth`` warning turns into a
failure when the configuration lists it in ``[warnings] fail-on``. ``World.dast_findings``
sets what a run finds on a target host. The checks themselves are not run: findings in the
real services come from the DAST tier (``tests/dast``), which runs schemathesis for real.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from collections.abc import Callable
from typing import Any, Final

from schemathesis.config import ConfigError, SchemathesisConfig
from schemathesis.config._env import PLACEHOLDER

from tests.doubles.dagger_engine.contracts import stack
from tests.doubles.dagger_engine.contracts._base import Exec, ExecFsError, Outcome, fail, ok

__all__ = ["CONTRACTS"]

_VERSION: Final = importlib.metadata.version("schemathesis")
_ERROR: Final = 2  # schemathesis.cli.constants.ExitCode.ERROR
_FAILURES: Final = 1  # ExitCode.FAILURES


def _load_error(path: str, detail: str) -> Outcome:
    return fail(f"❌  Failed to load configuration file from {path}\n\n{detail}", _ERROR)


class _Placeholders:
    """Resolves ``${NAME}`` from the exec's environment, noting what was missing or plain."""

    def __init__(self, ex: Exec) -> None:
        self.ex = ex
        self.missing: list[str] = []
        self.plain: list[str] = []

    def resolve(self, value: Any, *, credential: bool = False) -> Any:
        if isinstance(value, dict):
            return {
                k: self.resolve(v, credential=credential or k == "headers")
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.resolve(v, credential=credential) for v in value]
        if not isinstance(value, str):
            return value

        def replace(match: Any) -> str:
            if match.group("escaped") is not None:
                return "$"
            name = match.group("name")
            if name is None:
                return str(match.group(0))
            if name not in self.ex.env:
                self.missing.append(name)
                return ""
            if credential and name not in self.ex.secret_names:
                self.plain.append(name)
            return self.ex.env[name]

        return PLACEHOLDER.sub(replace, value)


def _config(ex: Exec, path: str | None) -> dict[str, Any] | Outcome:
    if path is None:
        return {}
    try:
        text = ex.fs.read_text(ex.path(path))
    except ExecFsError as exc:
        if "permission denied" in str(exc):
            return _load_error(path, "Permission denied")
        return _load_error(path, "The configuration file does not exist")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return _load_error(path, "The configuration file content is not valid TOML")
    placeholders = _Placeholders(ex)
    resolved: dict[str, Any] = placeholders.resolve(data)
    if placeholders.missing:
        names = ", ".join(f"`{n}`" for n in dict.fromkeys(placeholders.missing))
        noun = "variable" if len(set(placeholders.missing)) == 1 else "variables"
        return _load_error(
            path, f"The loaded configuration is incorrect\n\nMissing environment {noun}: {names}"
        )
    if placeholders.plain:
        return fail(
            f"the engine double refuses credentials from plain variables: {', '.join(placeholders.plain)} "
            "is in [headers] but was set with with_env_variable, which keeps its value in the "
            "container's configuration and cache keys; pass it with with_secret_variable"
        )
    try:
        SchemathesisConfig.from_dict({k: v for k, v in resolved.items() if k != "hooks"})
    except ConfigError as exc:
        return _load_error(path, f"The loaded configuration is incorrect\n\n{exc}")
    hooks = resolved.get("hooks")
    if isinstance(hooks, str) and not ex.fs.is_file(ex.path(hooks)):
        return fail(
            "Unable to load Schemathesis extension hooks\n\nAn error occurred while importing "
            f"the module '{hooks}'. Traceback:\n\nFileNotFoundError: [Errno 2] No such file or "
            f"directory: '{hooks}'",
            _ERROR,
        )
    return resolved


def _authorized(config: dict[str, Any]) -> bool:
    headers = config.get("headers", {})
    return isinstance(headers, dict) and any(k.lower() == "authorization" for k in headers)


def _failed(location: str, reasons: list[str]) -> Outcome:
    lines = [f"{i}. Server error\n    {reason}" for i, reason in enumerate(reasons, 1)]
    report = "\n".join(lines)
    return fail(
        f"Schemathesis v{_VERSION}\n\nLoaded: {location}\n\n=== FAILURES ===\n{report}\n\n"
        f"=== {len(reasons)} failure(s) (modelled) ===",
        _FAILURES,
    )


def schemathesis(ex: Exec) -> Outcome:
    """schemathesis [--config-file PATH] [--no-color] run LOCATION [--no-color]."""
    args = list(ex.args)
    config_path: str | None = None
    while args and args[0].startswith("-"):
        option = args.pop(0)
        if option == "--config-file" and args:
            config_path = args.pop(0)
        elif option.startswith("--config-file="):
            config_path = option.split("=", 1)[1]
        elif option not in ("--no-color", "--force-color"):
            return fail(f"Error: No such option: {option}", _ERROR)
    if args[:1] != ["run"]:
        return fail("the engine double models `schemathesis run` only")
    location = next((a for a in args[1:] if not a.startswith("-")), None)
    if location is None:
        return fail("Error: Missing argument 'LOCATION'.", _ERROR)
    config = _config(ex, config_path)
    if isinstance(config, Outcome):
        return config
    target = stack.reach(ex, location)
    if isinstance(target, str):
        return fail(f"❌  Failed to load schema from {location}\n\nNetwork Error: {target}", _ERROR)
    finding = ex.world.dast_findings.get(target.host)
    if target.service is not None:
        reasons = stack.service_problems(target.service, ex.world)
    elif not _authorized(config) and "missing_auth" in config.get("warnings", {}).get(
        "fail-on", []
    ):
        return fail(
            f"Schemathesis v{_VERSION}\n\nLoaded: {location}\n\n=== WARNINGS ===\n"
            "Missing authentication: every operation answered 401 Unauthorized\n\n"
            "Run failed: warnings configured as failures (missing_auth)",
            _FAILURES,
        )
    else:
        reasons = []
    if finding is not None:
        reasons.append(finding)
    if reasons:
        return _failed(location, reasons)
    return ok(
        f"Schemathesis v{_VERSION}\n\nLoaded: {location}\n\n"
        f"=== every check passed against {target.host} (modelled) ===\n"
    )


CONTRACTS: Final[dict[str, Callable[[Exec], Outcome]]] = {
    "schemathesis": schemathesis,
    "st": schemathesis,
}
