"""Generate the module graph and each module's input and output tables in terraform/README.md.

Usage:
    uv run python terraform/tools/tfdoc.py           # rewrite the generated sections
    uv run python terraform/tools/tfdoc.py --check   # exit 1 if they are stale

Generated sections sit between `<!-- BEGIN TFDOC name -->` and `<!-- END TFDOC name -->`
markers; everything else in the README is hand-written and left alone.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

TERRAFORM_DIR = Path(__file__).resolve().parents[1]
README = TERRAFORM_DIR / "README.md"
STACK_DIR = TERRAFORM_DIR / "stack"
GITHUB_DIR = TERRAFORM_DIR / "github"
_SECTION = re.compile(
    r"(<!-- BEGIN TFDOC (?P<name>[\w/-]+) -->\n).*?(<!-- END TFDOC (?P=name) -->)", re.DOTALL
)
_MODULE_REFERENCE = re.compile(r"\bmodule\.(\w+)")


class StaleReadmeError(Exception):
    """The README's generated sections differ from the sources."""


@dataclass(frozen=True)
class Variable:
    """One input variable as the table shows it."""

    name: str
    description: str
    type: str
    default: str | None

    @property
    def required(self) -> bool:
        return self.default is None


def _unquote(value: Any) -> Any:  # noqa: ANN401 - python-hcl2 returns untyped trees
    """python-hcl2 keeps string quotes and wraps expressions in ${...}; strip both."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return json.loads(value)
        if value.startswith("${") and value.endswith("}"):
            return value[2:-1]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


def blocks(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Top-level blocks of one kind (module, output, variable...) in a directory, by label."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in hcl2.loads(path.read_text()).get(kind, []):
            for label, body in block.items():
                found[_unquote(label)] = body
    return found


def _short_type(expression: str) -> str:
    collapsed = " ".join(expression.split())
    return re.sub(r"\{.*\}", "{…}", collapsed) if len(collapsed) > 40 else collapsed


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def variables(module: Path) -> list[Variable]:
    """The module's variables, alphabetically."""
    result = []
    for name, body in sorted(blocks(module, "variable").items()):
        default = None
        if "default" in body:
            default = json.dumps(_unquote(body["default"]), separators=(",", ":"))
        result.append(
            Variable(
                name=name,
                description=str(_unquote(body.get("description", ""))),
                type=_short_type(str(_unquote(body.get("type", "any")))),
                default=default,
            )
        )
    return result


def outputs(module: Path) -> dict[str, str]:
    """The module's outputs and their descriptions, alphabetically."""
    return {
        name: str(_unquote(body.get("description", "")))
        for name, body in sorted(blocks(module, "output").items())
    }


def module_tables(module: Path) -> str:
    """Markdown tables of a module's inputs and outputs."""
    lines = ["| input | description | type | default |", "|---|---|---|---|"]
    for variable in variables(module):
        default = "required" if variable.required else f"`{_cell(variable.default or '')}`"
        description, type_ = _cell(variable.description), _cell(variable.type)
        lines.append(f"| `{variable.name}` | {description} | `{type_}` | {default} |")
    lines += ["", "| output | description |", "|---|---|"]
    lines += [
        f"| `{name}` | {_cell(description)} |" for name, description in outputs(module).items()
    ]
    return "\n".join(lines) + "\n"


def module_graph(stack: Path) -> str:
    """A mermaid graph of an environment: the root calls the stack; A --> B where A uses B."""
    calls = blocks(stack, "module")
    lines = [
        "```mermaid",
        "flowchart LR",
        '  root["environments/dev, staging, prod<br/><small>settings.json · backend.tf</small>"]',
        f'  subgraph stack["{stack.name}/"]',
    ]
    for name, body in sorted(calls.items()):
        source = str(_unquote(body["source"])).rsplit("/", 1)[-1]
        lines.append(f'    {name}["{name}<br/><small>modules/{source}</small>"]')
    lines += ["  end", "  root --> stack"]
    for name, body in sorted(calls.items()):
        text = json.dumps({k: v for k, v in body.items() if k not in {"source", "__is_block__"}})
        for used in sorted(set(_MODULE_REFERENCE.findall(text)) - {name}):
            lines.append(f"  {name} --> {used}")
    lines.append("```")
    return "\n".join(lines) + "\n"


def render(readme: str) -> str:
    """The README with every generated section rebuilt."""

    def section(match: re.Match[str]) -> str:
        name = match.group("name")
        if name == "graph":
            body = module_graph(STACK_DIR)
        else:
            module = TERRAFORM_DIR / name
            if not (module / "variables.tf").exists():
                message = f"README section {name!r} names no module with a variables.tf"
                raise StaleReadmeError(message)
            body = module_tables(module)
        return f"{match.group(1)}{body}{match.group(3)}"

    return _SECTION.sub(section, readme)


def missing_sections(readme: str) -> list[str]:
    """Modules (the stack and the GitHub root too) that have no generated section in the README."""
    present = {match.group("name") for match in _SECTION.finditer(readme)}
    modules = sorted(
        f"modules/{path.parent.name}" for path in (TERRAFORM_DIR / "modules").glob("*/variables.tf")
    )
    return [m for m in [STACK_DIR.name, GITHUB_DIR.name, *modules, "graph"] if m not in present]


def main(argv: list[str] | None = None) -> int:
    """Rewrite or check the README's generated sections."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="fail if the README is stale instead of rewriting it"
    )
    args = parser.parse_args(argv)
    current = README.read_text()
    try:
        wanted = render(current)
    except StaleReadmeError as error:
        sys.stderr.write(f"tfdoc: {error}\n")
        return 1
    missing = missing_sections(current)
    if missing:
        sys.stderr.write(f"tfdoc: README has no TFDOC section for: {', '.join(missing)}\n")
        return 1
    if args.check:
        if wanted != current:
            sys.stderr.write(
                "tfdoc: terraform/README.md is stale: "
                "run `uv run python terraform/tools/tfdoc.py`\n"
            )
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
