"""Helpers for the workflow tests: load workflows, parse `dagger call` lines, load the module."""

from __future__ import annotations

import importlib
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
DATA = Path(__file__).parent / "data"
DAGGER_ACTION = "dagger/dagger-for-github"

_EXPRESSION = re.compile(r"\$\{\{.*?\}\}")
#: `dagger call` flags that belong to the CLI, not to a function (name -> takes a value).
#: Source: `dagger call --help` (v0.21): -o/--output exports the result, --json prints it as JSON.
CLI_FLAGS = {"-o": True, "--output": True, "--json": False}


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse a YAML file into a mapping."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return cast("dict[str, Any]", data)


def workflow_files() -> list[Path]:
    """Every workflow file of the repository."""
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The `on:` block (PyYAML reads the bare key `on` as the boolean True)."""
    block = workflow["on"] if "on" in workflow else workflow[True]
    assert isinstance(block, dict)
    return cast("dict[str, Any]", block)


@dataclass(frozen=True)
class Step:
    """One step of one job of one workflow."""

    workflow: str
    job: str
    index: int
    body: dict[str, Any]

    @property
    def where(self) -> str:
        """Where the step is, for assertion messages."""
        return f"{self.workflow} job {self.job!r} step {self.index} ({self.body.get('name')!r})"


def steps() -> Iterator[Step]:
    """Every step of every job of every workflow."""
    for path in workflow_files():
        for job_id, job in load_yaml(path)["jobs"].items():
            for index, body in enumerate(job.get("steps", [])):
                yield Step(path.name, job_id, index, body)


def dagger_steps() -> list[Step]:
    """The steps that use the Dagger action."""
    return [s for s in steps() if str(s.body.get("uses", "")).startswith(f"{DAGGER_ACTION}@")]


@dataclass(frozen=True)
class DaggerCall:
    """A parsed `call:` input: the function, its arguments and the CLI flags."""

    function: str
    arguments: dict[str, str | None]
    cli: dict[str, str | None]


def parse_call(call: str, boolean_flags: set[str]) -> DaggerCall:
    """Split a `call:` value like the shell of the action does (GitHub expressions kept whole)."""
    expressions = _EXPRESSION.findall(call)
    masked = _EXPRESSION.sub(lambda m: f"@{expressions.index(m.group(0))}@", call)

    def unmask(word: str) -> str:
        return re.sub(r"@(\d+)@", lambda m: expressions[int(m.group(1))], word)

    words = [unmask(word) for word in shlex.split(masked)]
    assert words, "empty call"
    function, rest = words[0], words[1:]
    arguments: dict[str, str | None] = {}
    cli: dict[str, str | None] = {}
    i = 0
    while i < len(rest):
        word = rest[i]
        assert word.startswith("-"), (
            f"{word!r} in {call!r} is not a flag: chained calls are not checked, export with -o"
        )
        name, equals, value = word.partition("=")
        target = cli if name in CLI_FLAGS else arguments
        takes_value = CLI_FLAGS.get(name, name not in boolean_flags)
        if takes_value and not equals:
            assert i + 1 < len(rest), f"{name} in {call!r} has no value"
            value = rest[i + 1]
            i += 1
        target[name] = value if takes_value else None
        i += 1
    return DaggerCall(function, arguments, cli)


def cli_name(api_name: str) -> str:
    """The kebab-case name the Dagger CLI shows for a function or argument name."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", api_name).replace("_", "-").lower()


def main_object_name() -> str:
    """The main object's class name, from dagger.json's module name (as the engine derives it)."""
    name = json.loads((ROOT / "dagger.json").read_text(encoding="utf-8"))["name"]
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_ ]+", name))


def engine_version() -> str:
    """The engineVersion the module pins in dagger.json."""
    version = json.loads((ROOT / "dagger.json").read_text(encoding="utf-8"))["engineVersion"]
    assert isinstance(version, str)
    return version


def load_module_functions() -> dict[str, Any]:
    """The main object's functions as the Python SDK registers them (CLI name -> Function).

    Imports ``clarity.main`` and reads the registration the SDK's decorators built, the same
    way ``dagger.mod.cli.load_module`` finds it at run time (``cls.__dagger_module__``).
    """
    main = importlib.import_module(f"{json.loads((ROOT / 'dagger.json').read_text())['name']}.main")
    cls = getattr(main, main_object_name())
    module = cls.__dagger_module__
    object_type = module.get_object(main_object_name())
    return {cli_name(name): fn for name, fn in object_type.functions.items() if name}
