"""Base-image tools: mkdir, apt-get, git."""

from __future__ import annotations

from typing import Final

from tests.doubles.dagger_engine.contracts._base import Exec, ExecFsError, Outcome, fail, ok

__all__ = ["CONTRACTS", "git_work_tree"]

#: What ``apt-get install`` puts on PATH for the packages the module installs.
_PACKAGE_BINARIES: Final = {"git": ("/usr/bin/git",)}


def mkdir(ex: Exec) -> Outcome:
    """coreutils mkdir: ``-p`` creates parents; without it the parent must exist."""
    parents = "-p" in ex.args
    for target in (a for a in ex.args if not a.startswith("-")):
        path = ex.path(target)
        if not parents and not ex.fs.is_dir(path.rsplit("/", 1)[0] or "/"):
            return fail(f"mkdir: cannot create directory '{target}': No such file or directory")
        try:
            ex.fs.mkdir(path)
        except ExecFsError as exc:
            return fail(f"mkdir: cannot create directory '{target}': {exc}")
    return ok()


def apt_get(ex: Exec) -> Outcome:
    """apt-get update / install: root only; installs the known packages' binaries."""
    if ex.fs.uid != 0:
        return fail(
            "E: Could not open lock file /var/lib/apt/lists/lock - open (13: Permission denied)",
            exit_code=100,
        )
    command = next((a for a in ex.args if not a.startswith("-")), "")
    if command == "update":
        ex.fs.mkdir("/var/lib/apt/lists")
        ex.fs.write("/var/lib/apt/lists/modelled-index", b"modelled package index\n")
        return ok("Reading package lists...\n")
    if command == "install":
        if not ex.fs.exists("/var/lib/apt/lists/modelled-index"):
            packages = [a for a in ex.args[1:] if not a.startswith("-") and a != "install"]
            return fail(f"E: Unable to locate package {packages[0]}", exit_code=100)
        for package in (a for a in ex.args if not a.startswith("-") and a != "install"):
            binaries = _PACKAGE_BINARIES.get(package)
            if binaries is None:
                return fail(f"E: Unable to locate package {package}", exit_code=100)
            for binary in binaries:
                ex.fs.write(binary, f"modelled {binary}\n".encode(), mode=0o755)
        return ok()
    return fail(f"E: Invalid operation {command}", exit_code=100)


def git_work_tree(ex: Exec) -> str | None:
    """The work tree containing the working directory (a ``.git`` directory above it)."""
    path = ex.cwd
    while True:
        if ex.fs.is_dir(f"{path.rstrip('/')}/.git"):
            return path
        if path == "/":
            return None
        path = path.rsplit("/", 1)[0] or "/"


def git(ex: Exec) -> Outcome:
    """git: ``config --global`` writes ~/.gitconfig; other commands need a work tree."""
    if ex.args[:2] == ("config", "--global"):
        home = ex.home()
        if not ex.fs.is_dir(home):
            return fail(
                f"error: could not lock config file {home}/.gitconfig: No such file or directory"
            )
        previous = ex.fs.read(f"{home}/.gitconfig") if ex.fs.exists(f"{home}/.gitconfig") else b""
        entry = " ".join(ex.args[2:]).encode()
        ex.fs.write(f"{home}/.gitconfig", previous + entry + b"\n")
        return ok()
    if git_work_tree(ex) is None:
        return fail(
            "fatal: not a git repository (or any of the parent directories): .git",
            exit_code=128,
        )
    return ok()


CONTRACTS: Final = {"mkdir": mkdir, "apt-get": apt_get, "git": git}
