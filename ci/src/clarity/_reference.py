"""Generate the function reference of docs/dagger.md from the registered module.

The text comes from what the SDK registers (docstrings, ``Doc`` annotations, defaults,
cache policies, check marks), so the documentation says exactly what
``dagger call --help`` shows. ``python -m clarity._reference --write docs/dagger.md``
rewrites the block between the markers; the test suite fails when it is stale.
"""

from __future__ import annotations

import argparse
import enum
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any, Final

import dagger
from dagger.mod import default_module
from dagger.mod._module import Module  # not in dagger.mod.__all__, yet the type of its builder

BEGIN: Final = "<!-- BEGIN GENERATED: python -m clarity._reference --write docs/dagger.md -->"
END: Final = "<!-- END GENERATED -->"

__all__ = ["BEGIN", "END", "cli_name", "render", "replace_block", "type_name"]


def cli_name(name: str) -> str:
    """The name the Dagger CLI shows for a Python name (``test_report`` → ``test-report``)."""
    return name.replace("_", "-")


def type_name(annotation: Any) -> str:  # noqa: ANN401 (any annotation)
    """A readable name for an argument or return type."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        names = [type_name(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        return " | ".join(names)
    origin = typing.get_origin(annotation)
    if origin is list:
        (item,) = typing.get_args(annotation)
        return f"[{type_name(item)}]"
    if annotation is None:
        return "Void"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return f"{annotation.__name__} ({', '.join(m.name for m in annotation)})"
    if isinstance(annotation, type):
        return {"str": "String", "bool": "Boolean", "int": "Integer"}.get(
            annotation.__name__, annotation.__name__
        )
    return str(annotation)


def _default(value: dagger.JSON | None) -> str:
    if value is None:
        return "required"
    parsed = json.loads(value)
    return "optional" if parsed is None else f"default `{json.dumps(parsed)}`"


def render(module: Module, main: str = "Clarity") -> str:
    """Markdown reference of every function of the main object, in name order."""
    obj = module.get_object(main)
    constructor = obj.get_constructor()
    lines = [BEGIN, "", "### Module arguments (`dagger call --ARG ... FUNCTION`)", ""]
    for param in constructor.parameters.values():
        lines.append(_argument(param))
    for name in sorted(n for n in obj.functions if n):
        function = obj.functions[name]
        marks = []
        if function.check:
            marks.append("check (`dagger check`)")
        if function.cache_policy:
            marks.append(f'cache "{function.cache_policy}"')
        suffix = f" — {', '.join(marks)}" if marks else ""
        lines += [
            "",
            f"### `{cli_name(name)}`{suffix}",
            "",
            f"{function.doc} Returns {type_name(function.return_type)}.",
        ]
        if function.parameters:
            lines.append("")
            lines += [_argument(p) for p in function.parameters.values()]
    lines += ["", END]
    return "\n".join(lines)


def _argument(param: Any) -> str:  # noqa: ANN401 (dagger.mod's Parameter is private)
    default = _default(param.default_value)
    if param.default_path is not None:
        default = f"default path `{param.default_path}`"
    return f"- `--{cli_name(param.name)}` {type_name(param.resolved_type)}, {default}: {param.doc}"


def replace_block(document: str, block: str) -> str:
    """``document`` with the generated block replaced by ``block``."""
    start = document.find(BEGIN)
    end = document.find(END)
    if start < 0 or end < start:
        msg = f"the document has no generated block: add the lines\n{BEGIN}\n{END}"
        raise ValueError(msg)
    return document[:start] + block + document[end + len(END) :]


def main(argv: list[str] | None = None) -> int:
    """Print the reference, or rewrite it in place with --write FILE."""
    parser = argparse.ArgumentParser(prog="python -m clarity._reference")
    parser.add_argument("--write", type=Path, help="Markdown file whose block to rewrite")
    args = parser.parse_args(argv)
    import clarity  # noqa: PLC0415 (registers the module's types on import)

    block = render(default_module(), clarity.Clarity.__name__)
    if args.write is None:
        sys.stdout.write(block + "\n")
        return 0
    args.write.write_text(replace_block(args.write.read_text(), block))
    return 0


if __name__ == "__main__":
    sys.exit(main())
