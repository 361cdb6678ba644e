"""The Python toolchain: pip, uv (sync, pip install, export, tool run, run), python.

``uv sync`` installs what the lockfile resolves for the selected groups (see ``_venv``); the
console scripts each package puts on PATH are read from the same packages installed in the
test environment (the same lockfile), so a gate whose tool is dropped from the dependencies,
or an image whose server moved to a dev group, fails here as in CI. ``python -m MODULE``
and ``python SCRIPT`` run the modules and scripts the pipeline runs, through their contracts.
"""

from __future__ import annotations

import posixpath
import tomllib
from collections.abc import Callable
from typing import Any, Final

from tests.doubles.dagger_engine.contracts import _venv
from tests.doubles.dagger_engine.contracts._base import Exec, Outcome, fail, ok
from tests.doubles.dagger_engine.contracts.services import uvicorn
from tests.doubles.dagger_engine.contracts.stack import SCRIPTS
from tests.doubles.dagger_engine.contracts.system import git_work_tree

__all__ = ["CONTRACTS"]


def _project_root(ex: Exec) -> str | None:
    path = ex.cwd
    while True:
        if ex.fs.is_file(f"{path.rstrip('/')}/pyproject.toml"):
            return path
        if path == "/":
            return None
        path = posixpath.dirname(path)


def pip(ex: Exec) -> Outcome:
    """pip install NAME==VERSION: only uv is installed this way (into /usr/local/bin)."""
    requirements = [a for a in ex.args if not a.startswith("-") and a != "install"]
    if ex.args[:1] != ("install",) or not requirements:
        return fail("ERROR: You must give at least one requirement to install", exit_code=1)
    for requirement in requirements:
        name = requirement.split("==")[0]
        if name != "uv":
            return fail(f"the engine double models pip installs of uv only, not {requirement}")
        ex.fs.write("/usr/local/bin/uv", b"modelled uv\n", mode=0o755)
    return ok()


def _sync(ex: Exec) -> Outcome:
    root = _project_root(ex)
    if root is None:
        return fail(
            "error: No `pyproject.toml` found in current directory or any parent directory", 2
        )
    lock_path = f"{root.rstrip('/')}/uv.lock"
    if not ex.fs.is_file(lock_path):
        return fail(
            "error: Unable to find lockfile at `uv.lock`, but `--locked` was provided. To create "
            "a lockfile, run `uv lock` or `uv sync` without the flag.",
            2,
        )
    if (
        ex.env.get("UV_PYTHON_DOWNLOADS") == "never"
        and ex.fs.which("python3", ex.env.get("PATH", "")) is None
    ):
        return fail(
            "error: No interpreter found in virtual environments, managed installations, or search path",
            2,
        )
    pyproject = tomllib.loads(ex.fs.read_text(f"{root.rstrip('/')}/pyproject.toml"))
    lock = tomllib.loads(ex.fs.read_text(lock_path))
    name = pyproject.get("project", {}).get("name", "")
    project: dict[str, Any] = next((p for p in lock.get("package", []) if p["name"] == name), {})
    venv = ex.env.get("UV_PROJECT_ENVIRONMENT") or f"{root.rstrip('/')}/.venv"
    try:
        chosen = _venv.selection(ex.args, pyproject, project)
        packages = _venv.resolve(lock, project, chosen)
        _venv.install(
            ex, venv=ex.path(venv), root=root, pyproject=pyproject, packages=packages, chosen=chosen
        )
    except _venv.SyncError as exc:
        return fail(str(exc), 2)
    return ok(stderr=f"Installed {len(packages)} packages into {venv}\n")


def _pip_install(ex: Exec) -> Outcome:
    python = ex.option("--python")
    if python is None or not ex.fs.is_file(python):
        return fail(
            f"error: Failed to inspect Python interpreter from provided path at `{python}`", 2
        )
    targets = [a for a in ex.args[2:] if not a.startswith("-") and a != python]
    for target in targets:
        pyproject = f"{ex.path(target)}/pyproject.toml"
        if not ex.fs.is_file(pyproject):
            return fail(f"error: Distribution not found at: file://{ex.path(target)}", 2)
        project = tomllib.loads(ex.fs.read_text(pyproject)).get("project", {})
        for script in project.get("scripts", {}):
            ex.fs.write(f"{posixpath.dirname(python)}/{script}", b"modelled script\n", mode=0o755)
    return ok()


def _export(ex: Exec) -> Outcome:
    root = _project_root(ex)
    if root is None or not ex.fs.is_file(f"{root.rstrip('/')}/uv.lock"):
        return fail("error: Unable to find lockfile at `uv.lock`, but `--locked` was provided.", 2)
    output = ex.option("--output-file")
    text = b"# modelled export of uv.lock\n"
    if output is None:
        return ok(text.decode())
    ex.fs.write(ex.path(output), text)
    return ok()


def _tool_run(ex: Exec, rest: tuple[str, ...]) -> Outcome:
    # uv tool run [--from SPEC] PROGRAM ARGS...: PROGRAM comes from a throwaway environment.
    args = list(rest)
    while args and args[0].startswith("-"):
        option = args.pop(0)
        if option in ("--from", "--with", "--with-requirements") and args:
            value = args.pop(0)
            if option == "--with-requirements" and not ex.fs.is_file(ex.path(value)):
                return fail(f"error: File not found: `{value}`", 2)
    if not args:
        return fail("error: the following required arguments were not provided: <COMMAND>", 2)
    return run_inner(ex, tuple(args))


def uv(ex: Exec) -> Outcome:
    """uv: sync, pip install, export, tool run, run."""
    match ex.args[:2]:
        case ("sync", *_):
            return _sync(ex)
        case ("pip", "install"):
            return _pip_install(ex)
        case ("export", *_):
            return _export(ex)
        case ("tool", "run"):
            return _tool_run(ex, ex.args[2:])
        case ("run", *_):
            return _tool_run(ex, ex.args[1:])
    return fail(f"the engine double has no contract for `uv {' '.join(ex.args[:2])}`")


def _clarity_release(ex: Exec) -> Outcome:
    if ex.fs.which("git", ex.env.get("PATH", "")) is None:
        return fail(
            "error: git is not installed: FileNotFoundError: [Errno 2] No such file or directory: 'git'",
            3,
        )
    if git_work_tree(ex) is None:
        return fail(f"error: {ex.cwd} is not a git working tree", 3)
    if "--dry-run" in ex.args:
        return ok("modelled release plan (dry run): nothing changed\n")
    ex.world.signed("release-tag", ex.cwd)
    return ok(
        "modelled release: committed the changelog and tagged it\npublish it with: git push --follow-tags\n"
    )


def _service(package: str, service: str) -> Callable[[Exec], Outcome]:
    """``python -m api_gateway`` (clarity_common.serve): uvicorn on ``HOST``:``PORT``."""

    def serve(ex: Exec) -> Outcome:
        host = ex.env.get("HOST") or "0.0.0.0"  # noqa: S104 - the settings' default
        port = ex.env.get("PORT") or "8080"
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            return fail(
                f"{service}: refusing to start, invalid configuration:\n"
                f"  PORT: Input should be a valid integer between 1 and 65535, got {port!r}"
            )
        argv = (ex.program, f"{package}.main:app", "--host", host, "--port", port)
        return uvicorn(ex.with_argv(argv))

    return serve


#: ``python -m MODULE`` -> (the distribution that provides it, or None for the project's own
#: code, and its contract, which sees the module's arguments).
_MODULES: Final[dict[str, tuple[str | None, Callable[[Exec], Outcome]]]] = {
    "clarity_release": (None, _clarity_release),
    "uvicorn": ("uvicorn", uvicorn),
    # The images' command: the services' entry points (src/*/__main__.py).
    "api_gateway": (None, _service("api_gateway", "api-gateway")),
    "ml_service": (None, _service("ml_service", "ml-service")),
}


def python(ex: Exec) -> Outcome:
    """python -m MODULE ARGS / python SCRIPT ARGS: the modules and scripts the pipeline runs."""
    site = _venv.site_of(ex.program)
    if ex.args[:1] == ("-m",) and len(ex.args) > 1:
        module = ex.args[1]
        known = _MODULES.get(module)
        if known is None and ex.fs.is_dir(site) and not _venv.module_file(ex.fs, module, site=site):
            return fail(f"{ex.program}: No module named {module}")
        if known is None:
            return fail(f"the engine double has no contract for `python -m {module}`")
        distribution, contract = known
        if distribution is not None and not _venv.has_distribution(ex.fs, site, distribution):
            return fail(f"{ex.program}: No module named {module}")
        return contract(ex.with_argv((ex.program, *ex.args[2:])))
    script = next((a for a in ex.args if not a.startswith("-")), None)
    if script is None or posixpath.basename(script) not in SCRIPTS:
        return fail(f"the engine double has no contract for `python {' '.join(ex.args[:2])}`")
    if not ex.fs.is_file(ex.path(script)):
        return fail(
            f"{ex.program}: can't open file {ex.path(script)!r}: [Errno 2] No such file or directory",
            2,
        )
    rest = ex.args[ex.args.index(script) + 1 :]
    return SCRIPTS[posixpath.basename(script)](ex.with_argv((script, *rest), program=ex.program))


def run_inner(ex: Exec, argv: tuple[str, ...]) -> Outcome:
    """Run a program uv provides (not looked up on PATH) through its own contract."""
    from tests.doubles.dagger_engine.contracts import contract_for  # noqa: PLC0415 - cycle

    contract = contract_for(posixpath.basename(argv[0]))
    return contract(ex.with_argv(argv))


CONTRACTS: Final[dict[str, Callable[[Exec], Outcome]]] = {
    "pip": pip,
    "pip3": pip,
    "uv": uv,
    "python": python,
    "python3": python,
}
