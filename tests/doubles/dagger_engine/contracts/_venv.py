"""Virtual environments as ``uv sync`` leaves them, and what an interpreter can import.

``uv sync`` installs the packages the lockfile resolves for the selected dependency groups
(pyproject's ``[tool.uv] default-groups`` unless ``--no-default-groups``/``--no-dev``/
``--group``/``--only-group``/``--all-groups`` say otherwise), with environment markers
evaluated for CPython 3.11 on linux/amd64 (the pinned python image). For each package it
writes a ``.dist-info`` and the console scripts the same package installs in the test
environment (same lockfile); the project itself goes in editable (a ``.pth`` naming hatch's
``dev-mode-dirs``) or, with ``--no-editable``, as the packages its wheel ships, copied.
That is what the contracts need: a tool on PATH, a distribution present, a module's file.
"""

from __future__ import annotations

import importlib.metadata
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from packaging.markers import Marker
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.doubles.dagger_engine._fs import FileEntry
from tests.doubles.dagger_engine._state import ExecView as _View
from tests.doubles.dagger_engine.contracts._base import Exec, ExecFsError

__all__ = [
    "SITE_PACKAGES",
    "Selection",
    "SyncError",
    "has_distribution",
    "install",
    "module_file",
    "resolve",
    "scripts_of",
    "selection",
    "site_of",
]

PYTHON: Final = Version("3.11.16")
SITE_PACKAGES: Final = f"lib/python{PYTHON.major}.{PYTHON.minor}/site-packages"
_MARKER_ENV: Final = {
    "implementation_name": "cpython",
    "implementation_version": str(PYTHON),
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_release": "",
    "platform_system": "Linux",
    "platform_version": "",
    "python_full_version": str(PYTHON),
    "python_version": f"{PYTHON.major}.{PYTHON.minor}",
    "sys_platform": "linux",
    "extra": "",
}
_VENV_BIN = "../../../bin/"


class SyncError(Exception):
    """uv refuses the sync (the message is uv's)."""


@dataclass(frozen=True, kw_only=True)
class Selection:
    """What one ``uv sync`` installs."""

    groups: frozenset[str]
    project_dependencies: bool = True
    install_project: bool = True
    editable: bool = True


def _values(args: tuple[str, ...], option: str) -> list[str]:
    found = []
    for i, arg in enumerate(args):
        if arg == option and i + 1 < len(args):
            found.append(args[i + 1])
        elif arg.startswith(f"{option}="):
            found.append(arg.split("=", 1)[1])
    return found


def selection(
    args: tuple[str, ...], pyproject: Mapping[str, Any], root: Mapping[str, Any]
) -> Selection:
    """The groups and project install ``uv sync ARGS`` selects; ``root`` is the lock's project."""
    declared = set(root.get("dev-dependencies", {}))
    default = pyproject.get("tool", {}).get("uv", {}).get("default-groups", ["dev"])
    groups = set(declared if default == "all" else default) & declared
    if "--no-default-groups" in args:
        groups = set()
    if "--no-dev" in args:
        groups.discard("dev")
    groups |= set(_values(args, "--group"))
    if "--all-groups" in args:
        groups |= declared
    groups -= set(_values(args, "--no-group"))
    only = set(_values(args, "--only-group"))
    if only:
        groups = only
    if unknown := sorted(groups - declared):
        msg = (
            f"error: Group `{unknown[0]}` is not defined in the project's `dependency-groups` table"
        )
        raise SyncError(msg)
    return Selection(
        groups=frozenset(groups),
        project_dependencies=not only,
        install_project="--no-install-project" not in args and not only,
        editable="--no-editable" not in args,
    )


def _applies(dependency: Mapping[str, Any]) -> bool:
    marker = dependency.get("marker")
    return marker is None or Marker(marker).evaluate(dict(_MARKER_ENV))


def resolve(lock: Mapping[str, Any], root: Mapping[str, Any], chosen: Selection) -> dict[str, str]:
    """Package name -> version of everything the selection installs (the project excluded)."""
    packages: dict[str, list[Mapping[str, Any]]] = {}
    for package in lock.get("package", []):
        packages.setdefault(package["name"], []).append(package)
    pending = list(root.get("dependencies", [])) if chosen.project_dependencies else []
    for group in sorted(chosen.groups):
        pending += root.get("dev-dependencies", {}).get(group, [])
    found: dict[str, str] = {}
    extras: set[tuple[str, str]] = set()
    while pending:
        dependency = pending.pop()
        if not _applies(dependency):
            continue
        candidates = packages.get(dependency["name"], [])
        wanted = dependency.get("version")
        package = next((p for p in candidates if wanted in (None, p.get("version"))), None)
        if package is None or package is root:
            continue
        if package["name"] not in found:
            found[package["name"]] = str(package.get("version", "0"))
            pending += package.get("dependencies", [])
        for extra in dependency.get("extra", []):
            if (package["name"], extra) not in extras:
                extras.add((package["name"], extra))
                pending += package.get("optional-dependencies", {}).get(extra, [])
    return found


@cache
def scripts_of(package: str) -> tuple[str, ...]:
    """Console scripts and bundled binaries of a distribution installed in the test environment."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        return ()
    names = {ep.name for ep in dist.entry_points if ep.group == "console_scripts"}
    names |= {str(f)[len(_VENV_BIN) :] for f in dist.files or () if str(f).startswith(_VENV_BIN)}
    return tuple(sorted(n for n in names if "/" not in n))


def _dist_info(name: str, version: str) -> str:
    return f"{canonicalize_name(name).replace('-', '_')}-{version}.dist-info"


def _copy_tree(fs: _View, source: str, target: str) -> None:
    for key in list(fs.walk(source)):
        entry = fs.entry("/" + key)
        destination = target + key[len(source.lstrip("/")) :]
        if isinstance(entry, FileEntry):
            fs.write(destination, entry.content, mode=entry.mode)
        else:
            fs.mkdir(destination)


def install(
    ex: Exec,
    *,
    venv: str,
    root: str,
    pyproject: Mapping[str, Any],
    packages: Mapping[str, str],
    chosen: Selection,
) -> None:
    """Write what the sync installs into ``venv`` (its interpreter, scripts, dist-infos)."""
    site = f"{venv}/{SITE_PACKAGES}"
    ex.fs.mkdir(f"{venv}/bin")
    ex.fs.mkdir(site)
    scripts: set[str] = {"python", "python3"}
    for name, version in packages.items():
        ex.fs.mkdir(f"{site}/{_dist_info(name, version)}")
        ex.fs.write(
            f"{site}/{_dist_info(name, version)}/METADATA",
            f"Name: {name}\nVersion: {version}\n".encode(),
        )
        scripts.update(scripts_of(name))
    if chosen.install_project:
        project = pyproject.get("project", {})
        scripts.update(project.get("scripts", {}))
        _install_project(ex, root, site, pyproject, editable=chosen.editable)
    for script in sorted(scripts):
        ex.fs.write(f"{venv}/bin/{script}", f"modelled {script}\n".encode(), mode=0o755)


def _install_project(
    ex: Exec, root: str, site: str, pyproject: Mapping[str, Any], *, editable: bool
) -> None:
    hatch = pyproject.get("tool", {}).get("hatch", {}).get("build", {})
    shipped = hatch.get("targets", {}).get("wheel", {}).get("packages")
    if not shipped:
        msg = "error: the engine double models projects whose wheel lists [tool.hatch.build.targets.wheel] packages"
        raise SyncError(msg)
    name = pyproject.get("project", {}).get("name", "project")
    ex.fs.mkdir(f"{site}/{_dist_info(name, pyproject.get('project', {}).get('version', '0'))}")
    if editable:
        dirs = hatch.get("dev-mode-dirs") or sorted({posixpath.dirname(p) or "." for p in shipped})
        lines = "".join(f"{posixpath.normpath(posixpath.join(root, d))}\n" for d in dirs)
        ex.fs.write(f"{site}/_{canonicalize_name(name).replace('-', '_')}.pth", lines.encode())
        return
    for package in shipped:
        source = posixpath.normpath(posixpath.join(root, package))
        if not ex.fs.is_dir(source):
            msg = f"error: Failed to build `{name} @ file://{root}`: Forced include not found: {source}"
            raise SyncError(msg)
        _copy_tree(ex.fs, source, f"{site}/{posixpath.basename(package)}")


def site_of(program: str) -> str:
    """The site-packages of the environment ``program`` (an interpreter or a script) is in."""
    return f"{posixpath.dirname(posixpath.dirname(program))}/{SITE_PACKAGES}"


def has_distribution(fs: _View, site: str, name: str) -> bool:
    """True if the environment has ``name`` installed."""
    prefix = canonicalize_name(name).replace("-", "_") + "-"
    return any(n.startswith(prefix) and n.endswith(".dist-info") for n in fs.listdir(site))


def _import_roots(fs: _View, site: str) -> list[str]:
    roots = [site]
    for name in fs.listdir(site):
        if name.endswith(".pth"):
            try:
                text = fs.read_text(f"{site}/{name}")
            except ExecFsError:
                continue
            roots += [line.strip() for line in text.splitlines() if line.startswith("/")]
    return roots


def module_file(fs: _View, module: str, *, site: str, extra: Iterable[str] = ()) -> str | None:
    """The file ``import module`` loads from ``site`` (and ``.pth`` dirs, then ``extra``)."""
    relative = module.replace(".", "/")
    for root in [*extra, *_import_roots(fs, site)]:
        for candidate in (f"{root}/{relative}.py", f"{root}/{relative}/__init__.py"):
            if fs.is_file(candidate):
                return posixpath.normpath(candidate)
    return None
