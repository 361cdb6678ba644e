"""Evaluating directory and file recipes (the engine's lazy ``Directory`` and ``File``).

A directory or file taken from a container is a recipe until something reads it: an
``entries`` or ``contents`` query, an export, or a container step that copies it in. So a
function can return a directory whose container fails, and the failure shows when the
caller exports it, as ``dagger call ... -o`` reports it.
"""

from __future__ import annotations

import json
import posixpath
from typing import TYPE_CHECKING

from graphql import GraphQLError

from tests.doubles.dagger_engine._fs import (
    FileEntry,
    Tree,
    ignored,
    normalise,
    subtree,
    with_entry,
    with_tree,
)
from tests.doubles.dagger_engine._objects import Container, Directory, File
from tests.doubles.dagger_engine._state import ExecResult, ExecView

if TYPE_CHECKING:
    from tests.doubles.dagger_engine._engine import Engine

__all__ = ["file_entry", "file_name", "last", "read_file", "read_tree", "tree"]


def _missing(key: str) -> GraphQLError:
    return GraphQLError(f"lstat {key or '.'}: no such file or directory")


def tree(engine: Engine, directory: Directory) -> Tree:
    """The directory's files, evaluating what it was made from."""
    a = directory.args
    match directory.op:
        case "content":
            result: Tree = a["tree"]
            return result
        case "fromContainer":
            container: Container = a["container"]
            return read_tree(engine, container, a["path"])
        case "sub":
            parent = tree(engine, a["parent"])
            key = normalise(a["path"])
            if key and key not in parent:
                raise _missing(key)
            return subtree(parent, key)
        case "withNewFile":
            entry = FileEntry(content=a["contents"].encode(), mode=a["permissions"])
            return with_entry(tree(engine, a["parent"]), normalise(a["path"]), entry)
        case "withFile":
            source = file_entry(engine, a["source"])
            entry = FileEntry(content=source.content, mode=a.get("permissions") or source.mode)
            return with_entry(tree(engine, a["parent"]), normalise(a["path"]), entry)
        case "withDirectory":
            other = tree(engine, a["source"])
            kept = {k: e for k, e in other.items() if not ignored(k, a.get("exclude") or [])}
            return with_tree(tree(engine, a["parent"]), normalise(a["path"]), kept)
        case "withoutDirectory":
            key = normalise(a["path"])
            parent = tree(engine, a["parent"])
            return {k: e for k, e in parent.items() if k != key and not k.startswith(f"{key}/")}
    msg = f"the engine double does not model Directory.{directory.op}"
    raise GraphQLError(msg)


def file_entry(engine: Engine, file: File) -> FileEntry:
    """The file's content, evaluating what it was made from."""
    a = file.args
    match file.op:
        case "content":
            entry: FileEntry = a["entry"]
            return entry
        case "fromDirectory":
            parent = tree(engine, a["parent"])
            key = normalise(a["path"])
            found = parent.get(key)
            if not isinstance(found, FileEntry):
                raise _missing(key) if found is None else GraphQLError(f"{key} is a directory")
            return found
        case "fromContainer":
            return read_file(engine, a["container"], a["path"])
        case "tarball":
            container: Container = a["container"]
            st = engine.state(container)
            archive = {
                "mediaType": "application/vnd.oci.image.layout.v1",
                "image": engine.image_digest(container),
                "user": st.user,
            }
            return FileEntry(content=json.dumps(archive).encode())
    msg = f"the engine double does not model File.{file.op}"
    raise GraphQLError(msg)


def read_tree(engine: Engine, container: Container, path: str) -> Tree:
    """The directory at ``path`` (root filesystem and directory mounts)."""
    st = engine.state(container)
    key = normalise(posixpath.join(st.workdir, path))
    view = ExecView(rootfs=dict(st.rootfs), mounts=st.mounts, uid=0, gid=0)
    if not view.is_dir("/" + key):
        msg = f"lstat /{key}: no such file or directory"
        raise GraphQLError(msg)
    tree = subtree(st.rootfs, key)
    for mount in st.mounts:
        if (
            mount.kind == "directory"
            and mount.tree is not None
            and mount.path.startswith(f"{key}/")
        ):
            tree = with_tree(tree, mount.path[len(key) + 1 :], mount.tree)
    return tree


def read_file(engine: Engine, container: Container, path: str) -> FileEntry:
    """The file at ``path``."""
    st = engine.state(container)
    key = normalise(posixpath.join(st.workdir, path))
    view = ExecView(rootfs=dict(st.rootfs), mounts=st.mounts, uid=0, gid=0)
    entry = view.entry("/" + key)
    if not isinstance(entry, FileEntry):
        msg = (
            f"lstat /{key}: no such file or directory"
            if entry is None
            else f"/{key} is a directory"
        )
        raise GraphQLError(msg)
    return entry


def last(engine: Engine, container: Container) -> ExecResult:
    """The last exec's result."""
    result = engine.state(container).last
    if result is None:
        msg = "no command has been set: run with_exec first"
        raise GraphQLError(msg)
    return result


def file_name(path: str) -> str:
    """The base name a file taken from ``path`` keeps."""
    return posixpath.basename(normalise(path))
