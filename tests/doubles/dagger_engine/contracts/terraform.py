"""terraform init, plan, show and apply, with Terraform 1.15's own diagnostics.

The model reads the root's configuration with python-hcl2: ``required_providers`` (of the
root and the local modules it calls) for the dependency lock, variables without a default
for the required inputs, ``backend "gcs"`` for the state location. Provider releases and
state serials live in the world (stand-ins for the Terraform registry and the bucket).
A plan file is JSON recording what the checks need: the lock it was made with, the state
serial it was made against, the variables.
"""

from __future__ import annotations

import functools
import json
import posixpath
from collections.abc import Callable
from typing import Any, Final

import hcl2
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests.doubles.dagger_engine.contracts._base import Exec, ExecFsError, Outcome, fail, ok

__all__ = ["CONTRACTS", "constraint"]

_LOCK: Final = ".terraform.lock.hcl"


def _diagnostic(summary: str, detail: str) -> str:
    # -no-color prints Terraform's plain diagnostic format.
    return f"\nError: {summary}\n\n{detail}\n"


def _unquote(value: object) -> str:
    return str(value).strip('"')


def constraint(text: str) -> Callable[[str], bool]:
    """A Terraform version constraint (``~> 6.14``, ``>= 1.0, < 2``) as a predicate."""
    specs = []
    for part in (p.strip() for p in text.split(",")):
        if part.startswith("~>"):
            version = part[2:].strip()
            pieces = version.split(".")
            upper = (
                ".".join([*pieces[:-2], str(int(pieces[-2]) + 1)])
                if len(pieces) > 1
                else str(int(pieces[0]) + 1)
            )
            specs.append(f">={version},<{upper}")
        elif part[:1].isdigit():
            specs.append(f"=={part}")
        else:
            specs.append(part.replace(" ", ""))
    allowed = SpecifierSet(",".join(specs))
    return lambda version: Version(version) in allowed


@functools.lru_cache(maxsize=256)
def _parse(text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = hcl2.loads(text)
    return parsed


def _config(ex: Exec, root: str, keyword: str) -> list[dict[str, Any]]:
    """The root's files that mention ``keyword``, parsed (python-hcl2 is slow: skip the rest)."""
    blocks = []
    for name in ex.fs.listdir(root):
        if name.endswith(".tf"):
            text = ex.fs.read_text(f"{root}/{name}")
            if keyword in text:
                blocks.append(_parse(text))
    return blocks


def _providers(ex: Exec, root: str, seen: set[str] | None = None) -> dict[str, str]:
    """source -> version constraint, over the root and its local modules."""
    seen = seen if seen is not None else set()
    if root in seen:
        return {}
    seen.add(root)
    found: dict[str, str] = {}
    for block in _config(ex, root, "required_providers"):
        for terraform in block.get("terraform", []):
            for required in terraform.get("required_providers", []):
                for name, spec in required.items():
                    if name.startswith("__"):
                        continue
                    source = _unquote(spec.get("source", f"hashicorp/{name}"))
                    found[source] = _unquote(spec.get("version", ">= 0"))
    for block in _config(ex, root, 'module "'):
        for module in block.get("module", []):
            for spec in module.values():
                source = _unquote(spec.get("source", ""))
                if source.startswith("."):
                    found |= _providers(ex, posixpath.normpath(f"{root}/{source}"), seen)
    return found


def _required_variables(ex: Exec, root: str) -> list[str]:
    names = []
    for block in _config(ex, root, 'variable "'):
        for variable in block.get("variable", []):
            for name, spec in variable.items():
                if "default" not in spec:
                    names.append(_unquote(name))
    return names


def _backend(ex: Exec, root: str) -> str:
    for block in _config(ex, root, 'backend "'):
        for terraform in block.get("terraform", []):
            for backend in terraform.get("backend", []):
                for kind, spec in backend.items():
                    return f"{_unquote(kind)}://{_unquote(spec.get('bucket'))}/{_unquote(spec.get('prefix'))}"
    return f"local://{root}"


def _lock_text(selections: dict[str, str]) -> str:
    lines = ['# This file is maintained automatically by "terraform init".', ""]
    for source, version in sorted(selections.items()):
        lines += [
            f'provider "registry.terraform.io/{source}" {{',
            f'  version = "{version}"',
            f'  hashes = ["h1:modelled-{source.replace("/", "-")}-{version}"]',
            "}",
            "",
        ]
    return "\n".join(lines)


def _read_lock(text: str) -> dict[str, str]:
    selections = {}
    for block in hcl2.loads(text).get("provider", []):
        for address, spec in block.items():
            selections[_unquote(address).removeprefix("registry.terraform.io/")] = _unquote(
                spec["version"]
            )
    return selections


def _lock_of(ex: Exec, root: str) -> dict[str, str]:
    path = f"{root}/{_LOCK}"
    return _read_lock(ex.fs.read_text(path)) if ex.fs.is_file(path) else {}


def _credentials(ex: Exec) -> Outcome | None:
    path = ex.env.get("GOOGLE_APPLICATION_CREDENTIALS")
    if path is None:
        detail = "querying Cloud Storage failed: google: could not find default credentials"
        return fail(_diagnostic("Failed to get existing workspaces", detail))
    try:
        ex.fs.read(path)
    except ExecFsError as exc:
        return fail(
            _diagnostic(
                "Failed to get existing workspaces", f"querying Cloud Storage failed: {exc}"
            )
        )
    return None


def init(ex: Exec, root: str) -> Outcome:
    """Resolve providers into the lock (or check a read-only one), set up the backend."""
    cache = ex.env.get("TF_PLUGIN_CACHE_DIR")
    if cache and not ex.fs.is_dir(cache):
        return fail(
            _diagnostic(
                "Invalid plugin cache directory",
                f"The specified plugin cache dir {cache} cannot be opened: stat {cache}: no such file or directory.",
            )
        )
    if (failed := _credentials(ex)) is not None:
        return failed
    lock_path = f"{root}/{_LOCK}"
    locked = _read_lock(ex.fs.read_text(lock_path)) if ex.fs.is_file(lock_path) else {}
    selections = {}
    for source, text in _providers(ex, root).items():
        allowed = constraint(text)
        if source in locked and allowed(locked[source]):
            selections[source] = locked[source]
            continue
        newest = ex.world.newest_provider(source, allowed)
        if newest is None:
            return fail(
                _diagnostic(
                    "Failed to query available provider packages",
                    f"Could not retrieve the list of available versions for provider {source}: no available releases match the given constraints {text}",
                )
            )
        selections[source] = newest
    if selections != locked:
        if "-lockfile=readonly" in ex.args:
            return fail(
                _diagnostic(
                    "Provider dependency changes detected",
                    'Changes to the required provider dependencies were detected, but the lock file is read-only. To use and record these requirements, run "terraform init" without the "-lockfile=readonly" flag.',
                )
            )
        ex.fs.write(lock_path, _lock_text(selections).encode())
    ex.fs.mkdir(f"{root}/.terraform")
    ex.fs.write(
        f"{root}/.terraform/terraform.tfstate", json.dumps({"backend": _backend(ex, root)}).encode()
    )
    return ok("\nTerraform has been successfully initialized!\n")


def _initialised(ex: Exec, root: str) -> Outcome | None:
    if not ex.fs.is_file(f"{root}/.terraform/terraform.tfstate"):
        return fail(
            _diagnostic(
                'Backend initialization required, please run "terraform init"',
                'Reason: Initial configuration of the requested backend "gcs"',
            )
        )
    return None


def plan(ex: Exec, root: str) -> Outcome:
    """Plan against the state; write the plan file where -out says."""
    if (failed := _initialised(ex, root) or _credentials(ex)) is not None:
        return failed
    for name in _required_variables(ex, root):
        if f"TF_VAR_{name}" not in ex.env:
            return fail(
                _diagnostic(
                    "No value for required variable",
                    f'The root module input variable "{name}" is not set, and has no default value. Use a -var or -var-file command line argument to provide a value for this variable.',
                )
            )
    out = ex.option("-out")
    backend = _backend(ex, root)
    record = {
        "format": "modelled plan",
        "backend": backend,
        "serial": ex.world.state(backend).serial,
        "lock": _lock_of(ex, root),
        "variables": sorted(k for k in ex.env if k.startswith("TF_VAR_")),
    }
    if out is not None:
        try:
            ex.fs.write(ex.path(out), json.dumps(record).encode())
        except ExecFsError as exc:
            return fail(
                _diagnostic(
                    "Failed to write plan file", f"The plan file could not be written: {exc}."
                )
            )
    ex.world.run_for("terraform")
    return ok("Plan: modelled changes.\n")


def _saved_plan(ex: Exec, path: str) -> dict[str, Any] | Outcome:
    try:
        return dict(json.loads(ex.fs.read(ex.path(path))))
    except ExecFsError as exc:
        return fail(_diagnostic('Failed to load "' + path + '" as a plan file', f"Error: {exc}"))


def show(ex: Exec, root: str) -> Outcome:
    """Render a saved plan as text."""
    saved = _saved_plan(ex, ex.args[-1])
    if isinstance(saved, Outcome):
        return saved
    return ok(f"Terraform will perform the modelled actions against {saved['backend']}.\n")


def apply(ex: Exec, root: str) -> Outcome:
    """Apply a saved plan (same locks, same state serial) or plan and apply at once."""
    if (failed := _initialised(ex, root) or _credentials(ex)) is not None:
        return failed
    operands = [a for a in ex.args[1:] if not a.startswith("-")]
    backend = _backend(ex, root)
    if operands:
        saved = _saved_plan(ex, operands[-1])
        if isinstance(saved, Outcome):
            return saved
        if saved["lock"] != _lock_of(ex, root):
            return fail(
                _diagnostic(
                    "Inconsistent dependency lock file",
                    "The given plan file was created with a different set of external dependency selections than the current configuration. A saved plan can be applied only to the same configuration it was created from.\n\nCreate a new plan from the updated configuration.",
                )
            )
        if saved["serial"] != ex.world.state(backend).serial:
            return fail(
                _diagnostic(
                    "Saved plan is stale",
                    "The given plan file can no longer be applied because the state was changed by another operation after the plan was created.",
                )
            )
    elif "-auto-approve" not in ex.args:
        return fail(
            _diagnostic(
                "No configuration files",
                "apply without a plan file needs -auto-approve when input is disabled",
            )
        )
    ex.world.applied(backend)
    return ok("Apply complete! Resources: modelled.\n")


def terraform(ex: Exec) -> Outcome:
    """terraform -chdir=DIR init|plan|show|apply ..."""
    args = list(ex.args)
    root = ex.cwd
    if args and args[0].startswith("-chdir="):
        root = ex.path(args.pop(0).split("=", 1)[1])
        if not ex.fs.is_dir(root):
            return fail(f"Error handling -chdir option: chdir {root}: no such file or directory")
    if not any(name.endswith(".tf") for name in ex.fs.listdir(root)):
        return fail(
            _diagnostic(
                "No configuration files",
                f"Plan requires configuration to be present. Planning without a configuration would mark everything for destruction, which is normally not what is desired. {root} has none.",
            )
        )
    sub = ex.with_argv((ex.argv[0], *args))
    commands = {"init": init, "plan": plan, "show": show, "apply": apply}
    command = commands.get(args[0]) if args else None
    if command is None:
        return fail(f'Terraform has no command named "{args[0] if args else ""}".', 127)
    return command(sub, root)


CONTRACTS: Final[dict[str, Callable[[Exec], Outcome]]] = {"terraform": terraform}
