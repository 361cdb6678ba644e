"""Base-image tools: mkdir, apt-get, git, groupadd, useradd.

groupadd and useradd (a Dockerfile's service account) append to ``/etc/group`` and
``/etc/passwd``, which the model reads besides the image manifest's users, so a later
``USER name`` finds the account.
"""

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


def _accounts(ex: Exec, database: str) -> list[list[str]]:
    path = f"/etc/{database}"
    text = ex.fs.read_text(path) if ex.fs.is_file(path) else ""
    return [line.split(":") for line in text.splitlines() if line]


def _append(ex: Exec, database: str, fields: list[str]) -> None:
    path = f"/etc/{database}"
    previous = ex.fs.read(path) if ex.fs.is_file(path) else b""
    ex.fs.write(path, previous + (":".join(fields) + "\n").encode())


def _valued(ex: Exec, *names: str) -> str | None:
    return next((v for n in names if (v := ex.option(n)) is not None), None)


def _name(ex: Exec, takes_value: frozenset[str]) -> str | None:
    args, name = list(ex.args), None
    while args:
        arg = args.pop(0)
        if arg in takes_value:
            args = args[1:]
        elif not arg.startswith("-"):
            name = arg
    return name


def groupadd(ex: Exec) -> Outcome:
    """groupadd [--system] [--gid GID] NAME (root only)."""
    if ex.fs.uid != 0:
        return fail(
            "groupadd: Permission denied.\ngroupadd: cannot lock /etc/group; try again later.", 10
        )
    name = _name(ex, frozenset({"--gid", "-g", "--key", "-K"}))
    if name is None:
        return fail("Usage: groupadd [options] GROUP", 2)
    groups = _accounts(ex, "group")
    if any(fields[0] == name for fields in groups) or name in {u for u, _, _ in ex.state.users}:
        return fail(f"groupadd: group '{name}' already exists", 9)
    taken = {int(f[2]) for f in groups if len(f) > 2 and f[2].isdigit()}
    gid = _valued(ex, "--gid", "-g") or str(max(taken | {999}) + 1)
    _append(ex, "group", [name, "x", gid, ""])
    return ok()


def useradd(ex: Exec) -> Outcome:
    """useradd [--system] [--uid UID] [--gid GROUP] [--home-dir D] [--shell S] NAME (root only)."""
    if ex.fs.uid != 0:
        return fail(
            "useradd: Permission denied.\nuseradd: cannot lock /etc/passwd; try again later.", 1
        )
    valued = frozenset(
        {"--uid", "-u", "--gid", "-g", "--home-dir", "-d", "--shell", "-s", "--comment", "-c"}
    )
    name = _name(ex, valued)
    if name is None:
        return fail("Usage: useradd [options] LOGIN", 2)
    group = _valued(ex, "--gid", "-g")
    gid = group
    if group is not None and not group.isdigit():
        found = next((f[2] for f in _accounts(ex, "group") if f[0] == group), None)
        known = {u: str(g) for u, _, g in ex.state.users}
        gid = found or known.get(group)
        if gid is None:
            return fail(f"useradd: group '{group}' does not exist", 6)
    uid = _valued(ex, "--uid", "-u") or "1000"
    home = _valued(ex, "--home-dir", "-d") or f"/home/{name}"
    shell = _valued(ex, "--shell", "-s") or "/bin/sh"
    _append(ex, "passwd", [name, "x", uid, gid or uid, "", home, shell])
    return ok()


CONTRACTS: Final = {
    "mkdir": mkdir,
    "apt-get": apt_get,
    "git": git,
    "groupadd": groupadd,
    "useradd": useradd,
}
