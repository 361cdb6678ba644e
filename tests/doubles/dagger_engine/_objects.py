"""The API's objects as the double holds them, and the IDs that name them.

Objects are immutable and content-addressed like the engine's: a digest of the recipe
that made them (the parent's digest, the field, its arguments with objects replaced by
their digests). Two identical recipes are one object with one ID, which is what makes the
exec cache of :mod:`._engine` behave like the engine's: an exec runs again only when
something in its recipe differs. A secret's digest comes from its plaintext, as the
engine derives a secret's cache key from it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError

from tests.doubles.dagger_engine._fs import Entry, FileEntry, Tree, digest_tree

__all__ = [
    "CacheVolume",
    "Container",
    "Directory",
    "EngineObject",
    "Error",
    "File",
    "FunctionCall",
    "FunctionCallArgValue",
    "Host",
    "Secret",
    "Service",
    "Store",
    "recipe_digest",
]


def _canonical(value: object) -> object:
    if isinstance(value, EngineObject):
        return {"@": value.digest}
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def recipe_digest(*parts: object) -> str:
    """The digest of a recipe: its parts, objects by their own digests."""
    text = json.dumps(_canonical(list(parts)), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True, eq=False)
class EngineObject:
    """Anything with an ID."""

    digest: str

    @classmethod
    def type_name(cls) -> str:
        """The GraphQL type."""
        return cls.__name__


@dataclass(frozen=True, kw_only=True, eq=False)
class Directory(EngineObject):
    """A directory recipe: content itself, or a step from another value (evaluated lazily)."""

    op: str
    args: dict[str, Any]

    @classmethod
    def of(cls, tree: Tree) -> Directory:
        """A directory identified by its content."""
        return cls(
            digest=recipe_digest("Directory", digest_tree(tree)),
            op="content",
            args={"tree": dict(tree)},
        )

    @classmethod
    def derive(cls, op: str, args: dict[str, Any]) -> Directory:
        """A directory made by ``op`` (``args`` may hold other objects)."""
        content = {k: v for k, v in args.items() if k != "tree"}
        return cls(digest=recipe_digest("Directory", op, content), op=op, args=args)


@dataclass(frozen=True, kw_only=True, eq=False)
class File(EngineObject):
    """A file recipe: content itself, or a file of another value (evaluated lazily)."""

    name: str
    op: str
    args: dict[str, Any]

    @classmethod
    def of(cls, name: str, entry: Entry) -> File:
        """A file identified by its name and content."""
        if not isinstance(entry, FileEntry):
            msg = f"{name} is a directory, not a file"
            raise GraphQLError(msg)
        content = hashlib.sha256(entry.content).hexdigest()
        digest = recipe_digest("File", name, content, entry.mode)
        return cls(digest=digest, name=name, op="content", args={"entry": entry})

    @classmethod
    def derive(cls, name: str, op: str, args: dict[str, Any]) -> File:
        """The file ``op`` yields (``args`` may hold other objects)."""
        return cls(digest=recipe_digest("File", name, op, args), name=name, op=op, args=args)


@dataclass(frozen=True, kw_only=True, eq=False)
class Secret(EngineObject):
    """A secret; its digest (the engine's cache key) derives from the plaintext."""

    name: str
    plaintext: str

    @classmethod
    def of(cls, name: str, plaintext: str) -> Secret:
        """A secret whose cache key is a hash of ``plaintext`` (its name plays no part)."""
        key = hashlib.sha256(plaintext.encode()).hexdigest()
        return cls(digest=recipe_digest("Secret", key), name=name, plaintext=plaintext)


@dataclass(frozen=True, kw_only=True, eq=False)
class CacheVolume(EngineObject):
    """A named cache volume; its contents live in the engine, not in the object."""

    key: str


@dataclass(frozen=True, kw_only=True, eq=False)
class Container(EngineObject):
    """A container recipe: its parent and one field with arguments (evaluated lazily)."""

    parent: Container | None
    op: str
    args: dict[str, Any]
    platform: str = "linux/amd64"

    @classmethod
    def derive(cls, parent: Container | None, op: str, args: dict[str, Any]) -> Container:
        """``parent`` with one more step."""
        platform = parent.platform if parent is not None else args.get("platform") or "linux/amd64"
        digest = recipe_digest("Container", parent.digest if parent else None, op, args)
        return cls(digest=digest, parent=parent, op=op, args=args, platform=platform)


@dataclass(frozen=True, kw_only=True, eq=False)
class Service(EngineObject):
    """A container turned into a service: it starts when something binds it."""

    container: Container
    args: tuple[str, ...]
    use_entrypoint: bool = False
    expand: bool = False


@dataclass(frozen=True, kw_only=True, eq=False)
class Host(EngineObject):
    """The caller's machine (the `dagger call` stand-in reads directories from it)."""


@dataclass(frozen=True, kw_only=True, eq=False)
class FunctionCallArgValue(EngineObject):
    """One argument of the current function call, as JSON."""

    name: str
    value: str


@dataclass(frozen=True, kw_only=True, eq=False)
class FunctionCall(EngineObject):
    """The function call the module runtime is asked to execute."""

    parent_name: str
    name: str
    parent: str
    input_args: tuple[FunctionCallArgValue, ...]


@dataclass(frozen=True, kw_only=True, eq=False)
class Error(EngineObject):
    """An error a function returns, with named values (the SDK attaches the traceback...)."""

    message: str
    values: tuple[tuple[str, str], ...] = ()


@dataclass
class Store:
    """IDs to objects. An ID names the object's type and digest."""

    _objects: dict[str, EngineObject] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def id_of(self, obj: EngineObject) -> str:
        """Register ``obj``; return its ID."""
        ident = f"{obj.type_name()}:{obj.digest}"
        with self._lock:
            self._objects.setdefault(ident, obj)
        return ident

    def load(self, ident: object, expected: type[EngineObject] | None = None) -> EngineObject:
        """The object an ID names; a GraphQL error for an unknown or mistyped ID."""
        with self._lock:
            obj = self._objects.get(str(ident))
        if obj is None:
            msg = f"invalid ID {str(ident)[:60]!r}: no such object in this engine"
            raise GraphQLError(msg)
        if expected is not None and not isinstance(obj, expected):
            msg = f"ID {str(ident)[:60]!r} is a {obj.type_name()}, not a {expected.type_name()}"
            raise GraphQLError(msg)
        return obj
