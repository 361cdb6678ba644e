"""Filesystem trees: immutable maps from relative path to file or directory entry.

A tree never stores its root; every other directory is an explicit entry, so "does the
parent exist" is a lookup. Paths are POSIX, relative, normalised (no ``.``/``..``, no
leading or trailing slash). Ignore patterns follow the engine's ``.dockerignore``-like
syntax: relative to the root, ``*`` within one component, ``**`` across components, and a
pattern that matches a directory excludes everything below it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DirEntry",
    "Entry",
    "FileEntry",
    "Tree",
    "digest_tree",
    "export_tree",
    "glob",
    "ignored",
    "join",
    "load_host_tree",
    "normalise",
    "parents",
    "subtree",
    "with_entry",
    "with_tree",
]


@dataclass(frozen=True, kw_only=True)
class FileEntry:
    """A regular file."""

    content: bytes
    mode: int = 0o644
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True, kw_only=True)
class DirEntry:
    """A directory."""

    mode: int = 0o755
    uid: int = 0
    gid: int = 0


Entry = FileEntry | DirEntry
Tree = Mapping[str, Entry]


def normalise(path: str) -> str:
    """``path`` as a tree key: ``/out/./x/`` -> ``out/x``; the root is ``""``."""
    clean = posixpath.normpath("/" + path).lstrip("/")
    return "" if clean == "." else clean


def join(base: str, path: str) -> str:
    """``path`` resolved against the absolute directory ``base``, as a tree key."""
    return normalise(path if path.startswith("/") else posixpath.join(base, path))


def parents(key: str) -> list[str]:
    """Every ancestor of ``key`` except the root, outermost first."""
    parts = key.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def with_entry(
    tree: Tree, key: str, entry: Entry, *, make_parents: bool = True
) -> dict[str, Entry]:
    """A copy of ``tree`` with ``entry`` at ``key`` (and missing parents, if asked)."""
    updated = dict(tree)
    if make_parents:
        for parent in parents(key):
            if not isinstance(updated.get(parent), DirEntry):
                updated[parent] = DirEntry(uid=entry.uid, gid=entry.gid)
    if isinstance(entry, FileEntry) or key not in updated:
        updated[key] = entry
    return updated


def with_tree(
    tree: Tree, key: str, other: Tree, *, uid: int | None = None, gid: int | None = None
) -> dict[str, Entry]:
    """``tree`` with ``other`` copied in at directory ``key`` (merging, like a COPY)."""
    updated = with_entry(tree, key, DirEntry()) if key else dict(tree)
    prefix = f"{key}/" if key else ""
    for path, entry in other.items():
        owned = entry if uid is None else _owned(entry, uid, gid if gid is not None else uid)
        updated[prefix + path] = owned
    return updated


def _owned(entry: Entry, uid: int, gid: int) -> Entry:
    if isinstance(entry, FileEntry):
        return FileEntry(content=entry.content, mode=entry.mode, uid=uid, gid=gid)
    return DirEntry(mode=entry.mode, uid=uid, gid=gid)


def subtree(tree: Tree, key: str) -> dict[str, Entry]:
    """The entries below directory ``key``, keyed relative to it."""
    if not key:
        return dict(tree)
    prefix = f"{key}/"
    return {path[len(prefix) :]: entry for path, entry in tree.items() if path.startswith(prefix)}


def digest_tree(tree: Tree) -> str:
    """A content digest of ``tree`` (paths, kinds, modes, owners, contents)."""
    sha = hashlib.sha256()
    for path in sorted(tree):
        entry = tree[path]
        sha.update(path.encode() + b"\0")
        if isinstance(entry, FileEntry):
            sha.update(b"f%o:%d:%d\0" % (entry.mode, entry.uid, entry.gid))
            sha.update(hashlib.sha256(entry.content).digest())
        else:
            sha.update(b"d%o:%d:%d\0" % (entry.mode, entry.uid, entry.gid))
    return sha.hexdigest()


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A ``.dockerignore`` pattern as a regular expression over tree keys."""
    parts = normalise(pattern).split("/")
    regex = ""
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == "**":
            regex += "(?:.*/)?" if not last else ".*"
            continue
        regex += fnmatch.translate(part).removeprefix("(?s:").removesuffix(")\\Z")
        if not last:
            regex += "/"
    return re.compile(f"^(?:{regex})$")


def ignored(key: str, patterns: Iterable[str]) -> bool:
    """True if ``key`` or one of its ancestors matches a pattern (``!`` re-includes)."""
    candidates = [*parents(key), key]
    excluded = False
    for raw in patterns:
        negate = raw.startswith("!")
        regex = _pattern_regex(raw.removeprefix("!"))
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not negate
    return excluded


def glob(tree: Tree, pattern: str) -> list[str]:
    """Keys matching ``pattern`` (``**`` crosses directories), sorted."""
    regex = _pattern_regex(pattern)
    return sorted(key for key in tree if regex.match(key))


def export_tree(tree: Tree, target: Path) -> Path:
    """Write ``tree`` below the host directory ``target`` (created as needed)."""
    target.mkdir(parents=True, exist_ok=True)
    for key in sorted(tree):
        entry = tree[key]
        path = target / key
        if isinstance(entry, FileEntry):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(entry.content)
        else:
            path.mkdir(parents=True, exist_ok=True)
    return target


def load_host_tree(
    root: Path, *, exclude: Iterable[str] = (), include: Iterable[str] = ()
) -> dict[str, Entry]:
    """A host directory as a tree, skipping excluded paths (excluded directories unread)."""
    excludes, includes = list(exclude), list(include)
    tree: dict[str, Entry] = {}
    for directory, subdirs, files in os.walk(root):
        base = Path(directory).relative_to(root).as_posix()
        base = "" if base == "." else base
        kept = []
        for name in sorted(subdirs):
            key = f"{base}/{name}" if base else name
            path = Path(directory) / name
            if ignored(key, excludes) or path.is_symlink():
                continue
            kept.append(name)
            tree[key] = DirEntry(mode=path.stat().st_mode & 0o7777)
        subdirs[:] = kept
        for name in sorted(files):
            key = f"{base}/{name}" if base else name
            path = Path(directory) / name
            if ignored(key, excludes) or (path.is_symlink() and not _link_inside(path, root)):
                continue
            if includes and not any(_pattern_regex(p).match(key) for p in includes):
                continue
            tree[key] = FileEntry(content=path.read_bytes(), mode=path.stat().st_mode & 0o7777)
    return tree


def _link_inside(path: Path, root: Path) -> bool:
    """A link the upload keeps working: it resolves to a file inside ``root``.

    The engine uploads a link as a link and tools read through it; the model has no link
    entries, so such a file is read through once, here (the Terraform roots link their shared
    files from terraform/environments/_shared). Links that dangle or leave the upload are
    left out, as a tool inside the container could not read them either.
    """
    target = path.resolve()
    return target.is_file() and target.is_relative_to(root.resolve())
