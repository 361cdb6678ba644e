"""The derived schema of one provider: what a configuration may write, block by block.

The cache holds it as compact JSON (a few MB for the google provider), decoded lazily:
only the resource types a configuration uses are turned into objects.

Encoding of a block: ``{"a": {name: attribute}, "b": {name: nested block}}`` (empty
keys left out); an attribute is ``[mode, type]`` or ``[mode, type, [allowed values]]``
with mode ``r`` (required), ``o`` (optional) or ``c`` (computed only: read-only); a
nested block is ``[min_items, max_items or null, block]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "FORMAT",
    "Attribute",
    "Block",
    "Mode",
    "NestedBlock",
    "ProviderSchema",
    "decode_block",
]

# Bump when the derivation or the encoding changes: the cache is keyed by it.
FORMAT = 1

Mode = Literal["required", "optional", "computed"]
_MODES: Mapping[str, Mode] = {"r": "required", "o": "optional", "c": "computed"}


@dataclass(frozen=True, kw_only=True)
class Attribute:
    """One argument or exported attribute of a block."""

    name: str
    mode: Mode
    # Terraform-like type text ("string", "list(string)", "map(string)", "bool", "any"...).
    type: str
    # Allowed values where the provider's docs state them as a list; empty when unknown.
    enum: tuple[str, ...] = ()

    @property
    def read_only(self) -> bool:
        """Whether only the provider sets it (computed, neither required nor optional)."""
        return self.mode == "computed"


@dataclass(frozen=True, kw_only=True)
class NestedBlock:
    """A nested block type with the number of blocks its parent admits."""

    name: str
    min_items: int
    # 1 for a single block; None when the schema admits a list or set of them.
    max_items: int | None
    block: Block


@dataclass(frozen=True, kw_only=True)
class Block:
    """The arguments, exported attributes and nested block types of one block."""

    attributes: Mapping[str, Attribute] = field(default_factory=dict)
    blocks: Mapping[str, NestedBlock] = field(default_factory=dict)

    def names(self) -> list[str]:
        """Every argument, attribute and block name, sorted (for suggestions)."""
        return sorted({*self.attributes, *self.blocks})


def decode_block(raw: Mapping[str, Any]) -> Block:
    """A Block from its compact JSON form."""
    attributes = {
        name: Attribute(
            name=name,
            mode=_MODES[spec[0]],
            type=spec[1],
            enum=tuple(spec[2]) if len(spec) > 2 else (),
        )
        for name, spec in raw.get("a", {}).items()
    }
    blocks = {
        name: NestedBlock(
            name=name, min_items=spec[0], max_items=spec[1], block=decode_block(spec[2])
        )
        for name, spec in raw.get("b", {}).items()
    }
    return Block(attributes=attributes, blocks=blocks)


class ProviderSchema:
    """A provider's schema (from its compact JSON), resource by resource on demand."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = raw
        self._decoded: dict[str, Block] = {}

    @property
    def source(self) -> str:
        """Registry source address, e.g. ``hashicorp/google``."""
        return str(self._raw["source"])

    @property
    def version(self) -> str:
        """Provider version the schema describes, e.g. ``6.50.0``."""
        return str(self._raw["version"])

    @property
    def package(self) -> str:
        """The Python distribution it was derived from, as ``name==version``."""
        return str(self._raw["package"])

    @property
    def stats(self) -> Mapping[str, int]:
        """Counts recorded while deriving it (how each name was recovered, enums found)."""
        stats: Mapping[str, int] = self._raw.get("stats", {})
        return stats

    @property
    def raw(self) -> Mapping[str, Any]:
        """The compact JSON form."""
        return self._raw

    def resource_types(self) -> list[str]:
        """Every managed resource type."""
        return sorted(self._raw["resources"])

    def data_source_types(self) -> list[str]:
        """Every data source type."""
        return sorted(self._raw["data_sources"])

    def provider(self) -> Block:
        """The provider block's own arguments."""
        if "provider" not in self._decoded:
            self._decoded["provider"] = decode_block(self._raw["provider"])
        return self._decoded["provider"]

    def resource(self, type_name: str) -> Block | None:
        """A managed resource type's schema, or None if the provider has no such type."""
        return self._type("resources", type_name)

    def data_source(self, type_name: str) -> Block | None:
        """A data source type's schema, or None if the provider has no such type."""
        return self._type("data_sources", type_name)

    def _type(self, section: str, type_name: str) -> Block | None:
        key = f"{section}:{type_name}"
        if key not in self._decoded:
            raw = self._raw[section].get(type_name)
            if raw is None:
                return None
            self._decoded[key] = decode_block(raw)
        return self._decoded[key]
