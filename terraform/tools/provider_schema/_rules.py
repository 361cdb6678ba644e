"""The schema rules for one resource, data source or provider block.

What is judged is only what Terraform knows statically, as ``terraform validate`` does:
names of arguments and blocks, static block counts, and values written as literals.
An expression is never judged (its value is unknown until plan), a dynamic block
counts as "maybe present", and where the schema leaves room (an attribute that may be
written with block syntax, a list block indexed or not in ``ignore_changes``) the
configuration gets the benefit of the doubt.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from terraform.tools.provider_schema._hcl import NOT_LITERAL, Attr, Body, literal, traversal
from terraform.tools.provider_schema.model import Attribute, Block

__all__ = ["Finding", "Kind", "check_block"]

# Meta-arguments Terraform itself handles, per top-level block kind.
_META_ARGUMENTS = {
    "resource": {"count", "for_each", "depends_on", "provider"},
    "data": {"count", "for_each", "depends_on", "provider"},
    "provider": {"alias", "version"},
}
_META_BLOCKS = {
    "resource": {"lifecycle", "provisioner", "connection"},
    "data": {"lifecycle"},
    "provider": set(),
}
_DYNAMIC_ARGUMENTS = {"for_each", "iterator", "labels"}
_LIFECYCLE_ARGUMENTS = {
    "create_before_destroy",
    "prevent_destroy",
    "ignore_changes",
    "replace_triggered_by",
}
_LIFECYCLE_BLOCKS = {"precondition", "postcondition"}
# Types whose block syntax would be an error (anything richer may be an attribute Terraform
# lets a configuration write as blocks, so it is not judged).
_PLAIN_TYPES = ("string", "number", "bool", "list(string)", "list(number)", "list(bool)", "map(")


class Kind:
    """What a finding is about (the strings tests and reports use)."""

    UNKNOWN_TYPE = "unknown-type"
    UNKNOWN_ARGUMENT = "unknown-argument"
    UNKNOWN_BLOCK = "unknown-block"
    READ_ONLY = "read-only"
    MISSING_ARGUMENT = "missing-argument"
    MISSING_BLOCK = "missing-block"
    REPEATED_BLOCK = "repeated-block"
    ENUM = "enum"
    IGNORE_CHANGES = "ignore-changes"
    PROVIDER_VERSION = "provider-version"
    SYNTAX = "syntax"


@dataclass(frozen=True, order=True)
class Finding:
    """One schema error: where, in which block, and what is wrong."""

    path: str
    line: int
    address: str
    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.address}: {self.message}"


Report = Callable[[int, str, str], None]


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _where(path: tuple[str, ...]) -> str:
    return f" in {'.'.join(path)}" if path else ""


def check_block(body: Body, schema: Block, kind: str, report: Report) -> None:
    """Report every schema error in a top-level block (kind: resource, data or provider)."""
    _check_body(body, schema, (), kind, report)
    if kind != "provider":
        for lifecycle in body.blocks_of("lifecycle"):
            _check_lifecycle(lifecycle, report)
            ignore = lifecycle.attribute("ignore_changes")
            if ignore is not None:
                _check_ignore_changes(ignore, schema, report)


def _check_lifecycle(lifecycle: Body, report: Report) -> None:
    """Terraform's own lifecycle arguments and blocks (the same for every resource)."""
    for attr in lifecycle.attributes:
        if attr.name not in _LIFECYCLE_ARGUMENTS:
            message = f'unknown argument "{attr.name}" in lifecycle{_suggest(attr.name, _LIFECYCLE_ARGUMENTS)}'
            report(attr.line, Kind.UNKNOWN_ARGUMENT, message)
    for block in lifecycle.blocks:
        if block.type not in _LIFECYCLE_BLOCKS:
            message = f'unknown block type "{block.type}" in lifecycle{_suggest(block.type, _LIFECYCLE_BLOCKS)}'
            report(block.line, Kind.UNKNOWN_BLOCK, message)


def _check_body(
    body: Body, schema: Block, path: tuple[str, ...], kind: str | None, report: Report
) -> None:
    meta_arguments = _META_ARGUMENTS.get(kind or "", set())
    meta_blocks = _META_BLOCKS.get(kind or "", set())
    where = _where(path)
    for attr in body.attributes:
        if attr.name in meta_arguments:
            continue
        spec = schema.attributes.get(attr.name)
        if spec is None:
            if attr.name in schema.blocks:
                message = (
                    f'"{attr.name}" is a block, not an argument{where}: write {attr.name} {{ ... }}'
                )
            else:
                message = (
                    f'unknown argument "{attr.name}"{where}{_suggest(attr.name, schema.names())}'
                )
            report(attr.line, Kind.UNKNOWN_ARGUMENT, message)
        elif spec.read_only:
            report(attr.line, Kind.READ_ONLY, _read_only(attr.name, where))
        elif spec.enum:
            _check_enum(attr, spec, where, report)
    static: Counter[str] = Counter()
    maybe: set[str] = set()
    for nested in body.blocks:
        if nested.type in meta_blocks:
            continue
        if nested.type == "dynamic":
            label = nested.labels[0] if nested.labels else ""
            if _check_dynamic(nested, label, schema, path, report):
                maybe.add(label)
            continue
        if not _known_block(nested.type, nested.line, schema, where, report):
            continue
        static[nested.type] += 1
        nested_schema = schema.blocks[nested.type]
        if nested_schema.max_items == 1 and static[nested.type] == 2:
            report(
                nested.line,
                Kind.REPEATED_BLOCK,
                f'block "{nested.type}"{where} may appear only once; this is the second',
            )
        _check_body(nested, nested_schema.block, (*path, nested.type), None, report)
    # A list-of-objects argument may be written as blocks, so a block also counts as present.
    present = {attr.name for attr in body.attributes} | {_written_type(b) for b in body.blocks}
    for name, spec in schema.attributes.items():
        if spec.mode == "required" and name not in present:
            report(body.line, Kind.MISSING_ARGUMENT, f'missing required argument "{name}"{where}')
    for name, nested_schema in schema.blocks.items():
        if nested_schema.min_items > 0 and not static[name] and name not in maybe:
            report(body.line, Kind.MISSING_BLOCK, f'missing required block "{name}"{where}')


def _written_type(block: Body) -> str:
    return block.labels[0] if block.type == "dynamic" and block.labels else block.type


def _known_block(name: str, line: int, schema: Block, where: str, report: Report) -> bool:
    """Whether name is a nested block type of schema; reports it when it cannot be one."""
    if name in schema.blocks:
        return True
    spec = schema.attributes.get(name)
    if spec is None:
        report(
            line,
            Kind.UNKNOWN_BLOCK,
            f'unknown block type "{name}"{where}{_suggest(name, schema.names())}',
        )
    elif spec.read_only:
        report(line, Kind.READ_ONLY, _read_only(name, where))
    elif spec.type.startswith(_PLAIN_TYPES):
        report(
            line,
            Kind.UNKNOWN_BLOCK,
            f'"{name}" is an argument, not a block{where}: write {name} = ...',
        )
    return False


def _check_dynamic(
    dynamic: Body, label: str, schema: Block, path: tuple[str, ...], report: Report
) -> bool:
    """Check a dynamic block's content against the block it generates; False if unknown."""
    where = _where(path)
    if not _known_block(label, dynamic.line, schema, where, report):
        return False
    for attr in dynamic.attributes:
        if attr.name not in _DYNAMIC_ARGUMENTS:
            message = f'unknown argument "{attr.name}" in dynamic "{label}"{where}'
            report(attr.line, Kind.UNKNOWN_ARGUMENT, message)
    for_each = dynamic.attribute("for_each")
    # A literal empty collection generates nothing, so Terraform never decodes the content.
    generates_nothing = for_each is not None and literal(for_each.value) == []
    for content in dynamic.blocks:
        if content.type != "content":
            message = f'unknown block type "{content.type}" in dynamic "{label}"{where}'
            report(content.line, Kind.UNKNOWN_BLOCK, message)
        elif not generates_nothing:
            _check_body(content, schema.blocks[label].block, (*path, label), None, report)
    return True


def _read_only(name: str, where: str) -> str:
    return f'"{name}" is read-only{where}: the provider sets it, a configuration cannot'


def _check_enum(attr: Attr, spec: Attribute, where: str, report: Report) -> None:
    value = literal(attr.value)
    if value is NOT_LITERAL or value is None:
        return
    allowed = set(spec.enum)
    if spec.mode == "optional":
        allowed.add("")  # the provider's enum validation admits "" for optional fields
    values = value if isinstance(value, list) else [value]
    for item in values:
        text = str(item).lower() if isinstance(item, bool) else str(item)
        if item is not None and text not in allowed:
            report(
                attr.line,
                Kind.ENUM,
                f'"{text}" is not an allowed value of {attr.name}{where}; '
                f"allowed: {', '.join(spec.enum)}",
            )


def _check_ignore_changes(attr: Attr, schema: Block, report: Report) -> None:
    value = attr.value
    if not isinstance(value, list):
        return  # `all`, or an expression Terraform rejects on its own terms
    for item in value:
        steps = traversal(item)
        if steps is None:
            continue
        problem = _walk(steps, schema)
        if problem:
            written = item[2:-1] if item.startswith("${") else item
            report(attr.line, Kind.IGNORE_CHANGES, f"ignore_changes names {written}, but {problem}")


def _walk(steps: list[str | int | None], schema: Block) -> str | None:
    """Why a path names nothing in the schema, or None when it names something."""
    block = schema
    seen: list[str] = []
    for step in steps:
        if not isinstance(step, str):
            continue  # an index or key into the list, set or map of blocks just passed
        if step in block.attributes:
            return None  # anything further is inside the attribute's value
        if step not in block.blocks:
            owner = ".".join(seen) if seen else "the resource"
            return f'{owner} has no argument or block "{step}"{_suggest(step, block.names())}'
        block = block.blocks[step].block
        seen.append(step)
    return None
