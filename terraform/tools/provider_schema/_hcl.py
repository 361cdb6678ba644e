"""Terraform files as plain blocks and attributes with line numbers, read by python-hcl2.

python-hcl2 serialises values as Terraform writes them: a quoted string keeps its quotes
(``'"abc"'``), an expression is wrapped as ``"${...}"``, a bare keyword stays bare
(``all``), numbers, booleans and null become Python values, tuples lists and objects
dicts. :func:`literal` turns that back into a Python value where the text is a plain
literal, and says "not a literal" otherwise, so only values Terraform knows before any
evaluation are ever judged.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from hcl2.rules.base import AttributeRule, BlockRule, BodyRule
from lark.exceptions import LarkError

__all__ = ["NOT_LITERAL", "Attr", "Body", "HclSyntaxError", "literal", "parse_file", "traversal"]


class HclSyntaxError(Exception):
    """A file python-hcl2 cannot parse; the message names the file and the parser's reason."""


@dataclass(frozen=True)
class Attr:
    """``name = value`` in a body."""

    name: str
    value: Any
    line: int


@dataclass(frozen=True)
class Body:
    """A block (or a whole file): its type, labels, attributes and nested blocks."""

    type: str
    labels: tuple[str, ...]
    line: int
    attributes: tuple[Attr, ...] = ()
    blocks: tuple[Body, ...] = field(default=())

    def attribute(self, name: str) -> Attr | None:
        """The attribute of that name, if set."""
        return next((a for a in self.attributes if a.name == name), None)

    def blocks_of(self, block_type: str) -> Iterator[Body]:
        """Nested blocks of one type, in file order."""
        return (b for b in self.blocks if b.type == block_type)


class _NotLiteral:
    def __repr__(self) -> str:
        return "NOT_LITERAL"


NOT_LITERAL: object = _NotLiteral()
_TEMPLATE = re.compile(r"\$\{|%\{")
_STEP = re.compile(r'\.(\w[\w-]*)|\[\s*("(?:[^"\\]|\\.)*"|\d+|\*)\s*\]')


def parse_file(path: Path) -> Body:
    """The file's top-level body (parsed once per process while the file is unchanged)."""
    stat = path.stat()
    return _parse(path.resolve(), stat.st_mtime_ns, stat.st_size)


# python-hcl2 needs about 20 ms per file; checks against several schemas share the parse.
@functools.lru_cache(maxsize=1024)
def _parse(path: Path, mtime_ns: int, size: int) -> Body:  # noqa: ARG001 (the cache key)
    try:
        tree = hcl2.api.parses(path.read_text())
    except (LarkError, RuntimeError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f"{path}: cannot parse: {first_line}"
        raise HclSyntaxError(msg) from exc
    return _body(tree.body, "", (), 1)


def _body(rule: BodyRule, block_type: str, labels: tuple[str, ...], line: int) -> Body:
    attributes: list[Attr] = []
    blocks: list[Body] = []
    for child in rule.children:
        if isinstance(child, AttributeRule):
            name = str(child.identifier.serialize())
            attributes.append(Attr(name, child.expression.serialize(), _line(child)))
        elif isinstance(child, BlockRule):
            kind, *rest = (_unquote(str(label.serialize())) for label in child.labels)
            blocks.append(_body(child.body, kind, tuple(rest), _line(child)))
    return Body(block_type, labels, line, tuple(attributes), tuple(blocks))


def _line(rule: AttributeRule | BlockRule) -> int:
    return int(getattr(rule.to_lark().meta, "line", 0))


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def literal(value: object) -> object:
    """The Python value of a literal (string, number, bool, null, list), else NOT_LITERAL."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list):
        items = [literal(item) for item in value]
        return NOT_LITERAL if any(item is NOT_LITERAL for item in items) else items
    if isinstance(value, str):
        quoted = len(value) >= 2 and value[0] == value[-1] == '"'
        plain = quoted and not value.startswith('"<<') and not _TEMPLATE.search(value)
        # Escapes are left to Terraform: a string holding one is never judged.
        return value[1:-1] if plain and "\\" not in value else NOT_LITERAL
    return NOT_LITERAL


def traversal(value: object) -> list[str | int | None] | None:
    """Steps of a reference such as ``template[0].containers[0].image`` (None if not one).

    Attribute names are strings, numeric indexes ints, string keys and splats None.
    """
    if not isinstance(value, str):
        return None
    text = value
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    elif len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]  # the deprecated quoted form: ignore_changes = ["labels"]
    head = re.match(r"\w[\w-]*", text)
    if head is None:
        return None
    steps: list[str | int | None] = [head.group(0)]
    position = head.end()
    while position < len(text):
        step = _STEP.match(text, position)
        if step is None:
            return None
        name = step.group(1)
        if name is not None:
            steps.append(int(name) if name.isdigit() else name)  # a.0 is the legacy a[0]
        else:
            key = step.group(2)
            steps.append(int(key) if key.isdigit() else None)
        position = step.end()
    return steps
