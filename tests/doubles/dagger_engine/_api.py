"""The GraphQL schema (schema.graphql) bound to the engine model.

Every field of the schema has one resolver here; a field the SDK asks for that the
schema lacks fails in the client's own query builder, so the schema is the list of what
the double implements. Container fields that return a Container only record a step
(lazy, like the engine); the fields that return data evaluate the recipe.
"""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
)

from tests.doubles.dagger_engine import _values
from tests.doubles.dagger_engine._engine import Engine, directory_entries
from tests.doubles.dagger_engine._fs import FileEntry, export_tree, glob, load_host_tree
from tests.doubles.dagger_engine._objects import (
    CacheVolume,
    Container,
    Directory,
    EngineObject,
    Error,
    File,
    FunctionCall,
    Host,
    Secret,
    Service,
    recipe_digest,
)
from tests.doubles.dagger_engine._values import file_name

__all__ = ["SCHEMA_FILE", "Calls", "build"]

SCHEMA_FILE = Path(__file__).with_name("schema.graphql")

Resolver = Callable[..., Any]


@dataclass
class Calls:
    """The function call the runtime serves, and what it returned (one at a time)."""

    current: FunctionCall | None = None
    returned: str | None = None
    error: Error | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, call: FunctionCall) -> None:
        """Make ``call`` the current one, with no outcome yet."""
        with self._lock:
            self.current, self.returned, self.error = call, None, None

    def answer(self, *, returned: str | None = None, error: Error | None = None) -> None:
        """Record what the runtime answered."""
        with self._lock:
            self.returned, self.error = returned, error

    def outcome(self) -> tuple[str | None, Error | None]:
        """What the runtime answered: the value's JSON, or the error."""
        with self._lock:
            return self.returned, self.error


def _resolvers(engine: Engine, calls: Calls) -> dict[str, dict[str, Resolver]]:
    store = engine.store

    def load(kind: type[EngineObject]) -> Callable[[Any], Any]:
        return lambda ident: store.load(ident, kind) if ident is not None else None

    def step(op: str, **loaders: Callable[[Any], Any]) -> Resolver:
        def resolve(container: Container, _info: Any, **kwargs: Any) -> Container:
            args = {k: loaders[k](v) if k in loaders else v for k, v in kwargs.items()}
            return Container.derive(container, op, args)

        return resolve

    def ident(obj: EngineObject, _info: Any) -> str:
        return store.id_of(obj)

    def directory_of(tree: dict[str, Any]) -> Directory:
        return Directory.of(tree)

    query: dict[str, Resolver] = {
        "cacheVolume": lambda _o, _i, key, **_: CacheVolume(
            digest=recipe_digest("CacheVolume", key), key=key
        ),
        "container": lambda _o, _i, platform=None: Container.derive(
            None, "container", {"platform": platform or "linux/amd64"}
        ),
        "currentFunctionCall": lambda _o, _i: calls.current or _no_call(),
        "directory": lambda _o, _i: directory_of({}),
        "error": lambda _o, _i, message: Error(
            digest=recipe_digest("Error", message), message=message
        ),
        "host": lambda _o, _i: Host(digest=recipe_digest("Host")),
        "node": lambda _o, _i, id: store.load(id),
        "setSecret": lambda _o, _i, name, plaintext: Secret.of(name, plaintext),
        "version": lambda _o, _i: "v0.21.11",
    }

    def host_directory(
        _host: Host, _info: Any, path: str, exclude: list[str], include: list[str], **_: Any
    ) -> Directory:
        root = Path(path)
        if not root.is_dir():
            msg = f"lstat {path}: no such file or directory"
            raise GraphQLError(msg)
        return directory_of(load_host_tree(root, exclude=exclude, include=include))

    def host_file(_host: Host, _info: Any, path: str, **_: Any) -> File:
        data = Path(path).read_bytes()
        return File.of(posixpath.basename(path), FileEntry(content=data, mode=0o644))

    def as_service(c: Container, _info: Any, args: list[str], **options: Any) -> Service:
        entrypoint, expand = bool(options.get("useEntrypoint")), bool(options.get("expand"))
        return Service(
            digest=recipe_digest("Service", c, args, entrypoint, expand),
            container=c,
            args=tuple(args),
            use_entrypoint=entrypoint,
            expand=expand,
        )

    container: dict[str, Resolver] = {
        "id": ident,
        "asService": as_service,
        "asTarball": lambda c, _i, **_: File.derive("image.tar", "tarball", {"container": c}),
        "combinedOutput": lambda c, _i: (r := _values.last(engine, c)).stdout + r.stderr,
        "directory": lambda c, _i, path, **_: Directory.derive(
            "fromContainer", {"container": c, "path": path}
        ),
        "envVariable": lambda c, _i, name: engine.state(c).env_dict().get(name),
        "exitCode": lambda c, _i: _values.last(engine, c).exit_code,
        "file": lambda c, _i, path, **_: File.derive(
            file_name(path), "fromContainer", {"container": c, "path": path}
        ),
        "from": step("from"),
        "publish": lambda c, _i, address, **_: engine.publish(c, address),
        "stderr": lambda c, _i: _values.last(engine, c).stderr,
        "stdout": lambda c, _i: _values.last(engine, c).stdout,
        "sync": lambda c, _i: (engine.state(c), store.id_of(c))[1],
        "user": lambda c, _i: engine.state(c).user,
        "workdir": lambda c, _i: engine.state(c).workdir,
        "withDirectory": step("withDirectory", source=load(Directory)),
        "withEnvVariable": step("withEnvVariable"),
        "withExec": step("withExec"),
        "withExposedPort": step("withExposedPort"),
        "withFile": step("withFile", source=load(File)),
        "withMountedCache": step(
            "withMountedCache", cache=load(CacheVolume), source=load(Directory)
        ),
        "withMountedDirectory": step("withMountedDirectory", source=load(Directory)),
        "withMountedFile": step("withMountedFile", source=load(File)),
        "withMountedSecret": step("withMountedSecret", source=load(Secret)),
        "withNewFile": step("withNewFile"),
        "withRegistryAuth": step("withRegistryAuth", secret=load(Secret)),
        "withSecretVariable": step("withSecretVariable", secret=load(Secret)),
        "withServiceBinding": step("withServiceBinding", service=load(Service)),
        "withUser": step("withUser"),
        "withWorkdir": step("withWorkdir"),
    }

    def docker_build(
        d: Directory, _info: Any, dockerfile: str, platform: str | None = None, **_: Any
    ) -> Container:
        args = {"context": d, "dockerfile": dockerfile, "platform": platform or "linux/amd64"}
        return Container.derive(None, "dockerBuild", args)

    def derive(op: str, **loaders: Callable[[Any], Any]) -> Resolver:
        def resolve(d: Directory, _info: Any, **kwargs: Any) -> Directory:
            args = {k: loaders[k](v) if k in loaders else v for k, v in kwargs.items()}
            return Directory.derive(op, {"parent": d, **args})

        return resolve

    def tree_of(d: Directory) -> dict[str, Any]:
        return dict(_values.tree(engine, d))

    def export(d: Directory, _info: Any, path: str, **_: Any) -> str:
        export_tree(tree_of(d), Path(path))
        return path

    directory: dict[str, Resolver] = {
        "id": ident,
        "directory": derive("sub"),
        "dockerBuild": docker_build,
        "entries": lambda d, _i, path=None: directory_entries(tree_of(d), path),
        "export": export,
        "file": lambda d, _i, path: File.derive(
            file_name(path), "fromDirectory", {"parent": d, "path": path}
        ),
        "glob": lambda d, _i, pattern: glob(tree_of(d), pattern),
        "withDirectory": derive("withDirectory", source=load(Directory)),
        "withFile": derive("withFile", source=load(File)),
        "withNewFile": derive("withNewFile"),
        "withoutDirectory": derive("withoutDirectory"),
    }

    def file_export(f: File, _info: Any, path: str, **_: Any) -> str:
        content = _values.file_entry(engine, f).content
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(content)
        return path

    def contents(f: File) -> bytes:
        return _values.file_entry(engine, f).content

    def start_service(service: Service, _info: Any) -> str:
        engine.services.start(service)
        return store.id_of(service)

    def stop_service(service: Service, _info: Any, **_: Any) -> str:
        engine.services.stop(service)
        return store.id_of(service)

    def return_value(_call: FunctionCall, _info: Any, value: str) -> None:
        calls.answer(returned=value)

    def return_error(_call: FunctionCall, _info: Any, error: str) -> None:
        loaded = store.load(error, Error)
        assert isinstance(loaded, Error)
        calls.answer(error=loaded)

    def with_value(e: Error, _info: Any, name: str, value: str) -> Error:
        values = (*e.values, (name, value))
        return Error(
            digest=recipe_digest("Error", e.message, list(values)), message=e.message, values=values
        )

    return {
        "Query": query,
        "Host": {"id": ident, "directory": host_directory, "file": host_file},
        "Container": container,
        "Directory": directory,
        "File": {
            "id": ident,
            "contents": lambda f, _i, **_: contents(f).decode(),
            "export": file_export,
            "name": lambda f, _i: f.name,
            "size": lambda f, _i: len(contents(f)),
        },
        "Secret": {
            "id": ident,
            "name": lambda s, _i: s.name,
            "plaintext": lambda s, _i: s.plaintext,
        },
        "CacheVolume": {"id": ident},
        "Service": {
            "id": ident,
            "start": start_service,
            "stop": stop_service,
        },
        "FunctionCall": {
            "id": ident,
            "inputArgs": lambda c, _i: list(c.input_args),
            "name": lambda c, _i: c.name,
            "parent": lambda c, _i: c.parent,
            "parentName": lambda c, _i: c.parent_name,
            "returnError": return_error,
            "returnValue": return_value,
        },
        "FunctionCallArgValue": {
            "id": ident,
            "name": lambda v, _i: v.name,
            "value": lambda v, _i: v.value,
        },
        "Error": {"id": ident, "message": lambda e, _i: e.message, "withValue": with_value},
    }


def _no_call() -> FunctionCall:
    msg = "no function call is being served"
    raise GraphQLError(msg)


def build(engine: Engine, calls: Calls) -> GraphQLSchema:
    """The schema with every field bound; an unbound field is a bug in the double."""
    schema = build_schema(SCHEMA_FILE.read_text())
    table = _resolvers(engine, calls)
    for type_name, gql_type in schema.type_map.items():
        if type_name.startswith("__"):
            continue
        if isinstance(gql_type, GraphQLInterfaceType):
            gql_type.resolve_type = lambda obj, _info, _type: obj.type_name()
        if not isinstance(gql_type, GraphQLObjectType):
            continue
        resolvers = table.get(type_name, {})
        for field_name, gql_field in gql_type.fields.items():
            if field_name not in resolvers:
                msg = f"schema.graphql field {type_name}.{field_name} has no resolver"
                raise RuntimeError(msg)
            gql_field.resolve = resolvers[field_name]
    return schema
