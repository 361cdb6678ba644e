"""What ``dagger call FUNCTION --ARG VALUE`` does, against the engine double.

The engine runs a module function in two invocations of the module's runtime: the
constructor (its arguments, with ``DefaultPath`` directories loaded from the module's
context minus their ``Ignore`` patterns), then the function on the object state the
constructor returned. Each invocation is the SDK's own entry point
(``dagger.mod.cli.main``): it connects with the session's port and token, reads
``currentFunctionCall`` (parent name, function name, parent state, input arguments as
JSON) and answers with ``returnValue`` or ``returnError``. Nothing of the module is
called directly, so argument conversion, result serialisation and error reporting are
the SDK's.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import clarity
from dagger.mod._module import Module
from graphql import GraphQLError

from tests.doubles.dagger_engine import _values
from tests.doubles.dagger_engine._double import EngineDouble
from tests.doubles.dagger_engine._fs import FileEntry, Tree, export_tree, load_host_tree
from tests.doubles.dagger_engine._objects import (
    Directory,
    File,
    FunctionCall,
    FunctionCallArgValue,
    Secret,
    recipe_digest,
)
from tests.doubles.dagger_engine._runtime import ModuleRuntime

__all__ = ["CallResult", "DaggerCall", "ExportFailed", "SecretArg"]

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class SecretArg:
    """A secret argument, as ``--credentials file:./key.json`` would pass its plaintext."""

    plaintext: str
    name: str = "secret"


@dataclass(frozen=True, kw_only=True)
class CallResult:
    """What the call returned, or the error it reported (with the values attached to it)."""

    value: Any = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    double: EngineDouble | None = None

    @property
    def ok(self) -> bool:
        """True if the function returned."""
        return self.error is None

    @property
    def stderr(self) -> str:
        """The failed exec's stderr, when the error came from one."""
        return str(self.details.get("stderr", ""))

    def text(self) -> str:
        """Error message and every attached value, for assertion messages."""
        return "\n".join([self.error or "", *(f"{k}: {v}" for k, v in self.details.items())])

    def tree(self) -> Tree:
        """The returned Directory's files: evaluating it, as ``-o`` does (may fail then)."""
        assert self.double is not None
        directory = self.double.engine.store.load(self.value, Directory)
        assert isinstance(directory, Directory)
        try:
            return _values.tree(self.double.engine, directory)
        except GraphQLError as exc:
            raise ExportFailed(exc) from None

    def export(self, target: Path) -> Path:
        """``-o target`` for a Directory result."""
        return export_tree(self.tree(), target)


class ExportFailed(Exception):
    """Evaluating a returned directory failed (``dagger call ... -o`` would print this)."""

    def __init__(self, error: GraphQLError) -> None:
        super().__init__(error.message)
        extensions = error.extensions or {}
        self.stderr = str(extensions.get("stderr", ""))


class DaggerCall:
    """``dagger call`` for the clarity module, against ``double``, from ``root``.

    Like the engine, it caches the constructor's result by its inputs (the constructor
    has the default cache policy), across engines of one test session: the object state
    holds only content-addressed IDs, valid in any engine that holds the same objects.
    """

    _constructed: ClassVar[dict[str, str]] = {}
    _trees: ClassVar[dict[tuple[Path, tuple[str, ...]], Tree]] = {}

    def __init__(self, double: EngineDouble, runtime: ModuleRuntime, root: Path = ROOT) -> None:
        self.double = double
        self.runtime = runtime
        self.root = root
        self.module: Module = clarity.Clarity.__dagger_module__  # type: ignore[attr-defined]

    def __call__(self, function: str, /, **arguments: Any) -> CallResult:
        """Call ``function`` (Python name) with ``arguments`` (Python names)."""
        obj = self.module.get_object("Clarity")
        constructor = obj.get_constructor(self.module._converter)
        constructor_inputs = self._inputs(constructor.parameters.values(), {})
        key = json.dumps(constructor_inputs)
        if key not in self._constructed:
            state = self._invoke("", "{}", constructor_inputs)
            if state.error is not None:
                return state
            self._constructed[key] = json.dumps(state.value)
        fn = obj.functions[function]
        inputs = self._inputs(fn.parameters.values(), arguments)
        return self._invoke(fn.name, self._constructed[key], inputs)

    def _inputs(self, parameters: Any, given: dict[str, Any]) -> list[tuple[str, str]]:
        inputs = []
        for param in parameters:
            ignore = list(param.ignore or [])
            if param.name in given:
                value = given[param.name]
                if value is not None:
                    inputs.append((param.name, json.dumps(self._encode(value, ignore))))
            elif param.default_path is not None:
                path = self.root / param.default_path.lstrip("/")
                inputs.append((param.name, json.dumps(self._encode(path, ignore))))
        return inputs

    def _tree(self, path: Path, ignore: list[str]) -> Tree:
        # The repository does not change during a session; other directories are read afresh.
        if path != self.root:
            return load_host_tree(path, exclude=ignore)
        key = (path, tuple(ignore))
        if key not in self._trees:
            self._trees[key] = load_host_tree(path, exclude=ignore)
        return self._trees[key]

    def source_tree(self) -> Tree:
        """The module's source as the engine uploads it (DefaultPath minus Ignore)."""
        obj = self.module.get_object("Clarity")
        (source,) = obj.get_constructor(self.module._converter).parameters.values()
        return load_host_tree(
            self.root / source.default_path.lstrip("/"), exclude=source.ignore or []
        )

    def _encode(self, value: object, ignore: list[str]) -> object:
        """A value as the CLI sends it: enums by name, objects by ID."""
        store = self.double.engine.store
        if isinstance(value, enum.Enum):
            return value.name
        if isinstance(value, SecretArg):
            return store.id_of(Secret.of(value.name, value.plaintext))
        if isinstance(value, Path) and value.is_file():
            return store.id_of(File.of(value.name, FileEntry(content=value.read_bytes())))
        if isinstance(value, Path):
            # The engine applies an argument's Ignore patterns to any directory given for it.
            return store.id_of(Directory.of(self._tree(value, ignore)))
        if isinstance(value, list):
            return [self._encode(item, ignore) for item in value]
        return value

    def _invoke(self, name: str, parent: str, inputs: list[tuple[str, str]]) -> CallResult:
        calls = self.double.calls
        args = tuple(
            FunctionCallArgValue(digest=recipe_digest("Arg", k, v), name=k, value=v)
            for k, v in inputs
        )
        calls.serve(
            FunctionCall(
                digest=recipe_digest("Call", name, parent, [list(a) for a in inputs]),
                parent_name="Clarity",
                name=name,
                parent=parent,
                input_args=args,
            )
        )
        code = self.runtime.invoke(self.double.port, self.double.token)
        returned, error = calls.outcome()
        if error is not None:
            details = {k: _json(v) for k, v in error.values}
            return CallResult(error=error.message, details=details, double=self.double)
        if returned is None:
            msg = (
                f"the module runtime exited {code} without returning a value or an error:\n"
                f"{self.runtime.log_tail()}"
            )
            raise AssertionError(msg)
        return CallResult(value=json.loads(returned), double=self.double)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
