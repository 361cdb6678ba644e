"""Derive a provider's compact schema (see model.py) from its cdktf jsii assembly.

Per resource, data source and the provider itself, the assembly has a class whose
initializer takes a ``...Config`` struct. Its properties are what a configuration may
set: optional or required, a struct type for a nested block (a struct for a single
block, an array of structs for a list or set), and docs that link each property to its
anchor in the registry docs: ``.../docs/resources/storage_bucket_object#detect_md5hash``.
That anchor is the Terraform name (camelCase → snake_case guesses wrong for names such
as ``detect_md5hash`` or ``vlan_tag8021q``). Read-only attributes are the class's (or the
nested block's output reference's) getters that have no configurable counterpart; their
Terraform names come from the generated JavaScript (see _archive.py).

Allowed values come from the docs' ``Possible values: ["A", "B"]`` sentence, which the
provider's generated resources write for each enum they validate. Free-text mentions
("Valid values are ...") are not used: nothing says the provider enforces them.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

from terraform.tools.provider_schema._archive import Assembly
from terraform.tools.provider_schema._errors import AssemblyError
from terraform.tools.provider_schema.model import FORMAT
from terraform.tools.provider_schema.packages import ProviderPackage

__all__ = ["derive_schema"]

_LINK = re.compile(
    r"\{@link https://registry\.terraform\.io/providers/(?P<source>[\w-]+/[\w-]+)/"
    r"(?P<version>[\w.-]+)/docs(?:/(?:resources|data-sources)/\w+)?#(?P<anchor>\w+)[ }]"
)
_REPRESENTS = re.compile(
    r"Represents a \{@link https://registry\.terraform\.io/providers/(?P<source>[\w-]+/[\w-]+)/"
    r"(?P<version>[\w.-]+)/docs\S* (?P<name>\w+)\}"
)
_POSSIBLE_VALUES = re.compile(r"Possible values: (\[[^\]]*\])")
_BASES = {
    "cdktf.TerraformResource": "resources",
    "cdktf.TerraformDataSource": "data_sources",
    "cdktf.TerraformProvider": "provider",
}
_PRIMITIVES = {"string": "string", "number": "number", "boolean": "bool", "any": "any"}


def derive_schema(assembly: Assembly, package: ProviderPackage) -> dict[str, Any]:
    """The compact schema of every resource, data source and the provider block."""
    deriver = _Deriver(assembly)
    resources: dict[str, Any] = {}
    data_sources: dict[str, Any] = {}
    provider: dict[str, Any] | None = None
    for kind in assembly.manifest["types"].values():
        section = _BASES.get(kind.get("base", ""))
        if section is None or kind.get("kind") != "class":
            continue
        represents = _REPRESENTS.search(kind.get("docs", {}).get("summary", ""))
        if represents is None:
            msg = f"{kind['fqn']}: no registry link names its Terraform type"
            raise AssemblyError(msg)
        deriver.check_release(represents["source"], represents["version"], package)
        block = deriver.block(_config_fqn(kind), kind["fqn"])
        if section == "provider":
            provider = block
        elif section == "resources":
            resources[represents["name"]] = block
        else:
            data_sources[represents["name"]] = block
    if provider is None or not resources:
        msg = f"{package.pin}: no provider class or no resources in the assembly"
        raise AssemblyError(msg)
    return {
        "format": FORMAT,
        "source": package.source,
        "version": package.provider_version,
        "package": package.pin,
        "stats": {
            **deriver.stats,
            "resources": len(resources),
            "data_sources": len(data_sources),
        },
        "provider": provider,
        "resources": dict(sorted(resources.items())),
        "data_sources": dict(sorted(data_sources.items())),
    }


def _config_fqn(kind: Mapping[str, Any]) -> str:
    for parameter in kind.get("initializer", {}).get("parameters", []):
        if parameter["name"] == "config":
            return str(parameter["type"]["fqn"])
    msg = f"{kind['fqn']}: its initializer takes no config struct"
    raise AssemblyError(msg)


def _doc_text(docs: Mapping[str, Any]) -> str:
    # jsii files doc text under tags it mistakes for JSDoc ones ("@sys.any" → custom.sys).
    parts: list[str] = []
    for value in docs.values():
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, dict):
            parts.extend(str(v) for v in value.values())
    return "\n".join(parts)


class _Deriver:
    def __init__(self, assembly: Assembly) -> None:
        self._types: Mapping[str, Any] = assembly.manifest["types"]
        self._names = assembly.names
        self.stats: Counter[str] = Counter()

    def check_release(self, source: str, version: str, package: ProviderPackage) -> None:
        if (source, version) != (package.source, package.provider_version):
            msg = (
                f"{package.pin} documents {source} {version}, but the pin says "
                f"{package.source} {package.provider_version}: correct packages.py"
            )
            raise AssemblyError(msg)

    def block(self, struct_fqn: str, reader_fqn: str | None) -> dict[str, Any]:
        """A block from its config struct and the class that reads its attributes back."""
        struct = self._types.get(struct_fqn)
        if struct is None:
            msg = f"the assembly has no type {struct_fqn}"
            raise AssemblyError(msg)
        names = self._js_names(reader_fqn)
        attributes: dict[str, Any] = {}
        blocks: dict[str, Any] = {}
        configurable: set[str] = set()
        for prop in struct.get("properties", []):
            configurable.add(prop["name"])
            docs = _doc_text(prop.get("docs", {}))
            name = self._name(prop["name"], docs, names)
            nested = self._struct(prop["type"])
            if nested is not None and prop.get("docs", {}).get("summary", "").endswith(" block."):
                single = "fqn" in prop["type"]
                child = self.block(nested, self._reader(nested))
                minimum = 0 if prop.get("optional") else 1
                blocks[name] = [minimum, 1 if single else None, child]
                continue
            spec: list[Any] = ["o" if prop.get("optional") else "r", self._type(prop["type"])]
            enum = self._enum(docs)
            if enum:
                spec.append(enum)
                self.stats["enum_attributes"] += 1
            attributes[name] = spec
        for name in self._read_only(reader_fqn, configurable, names):
            attributes.setdefault(name, ["c", "any"])
        out: dict[str, Any] = {}
        if attributes:
            out["a"] = dict(sorted(attributes.items()))
        if blocks:
            out["b"] = dict(sorted(blocks.items()))
        return out

    def _name(self, prop: str, docs: str, names: Mapping[str, str]) -> str:
        anchor = _LINK.search(docs)
        if anchor is not None:
            self.stats["names_from_anchors"] += 1
            if prop in names and names[prop] != anchor["anchor"]:
                self.stats["anchor_script_disagreements"] += 1
            return anchor["anchor"]
        if prop in names:
            self.stats["names_from_scripts"] += 1
            return names[prop]
        # Neither source names it: the rare property whose docs jsii could not parse.
        self.stats["names_guessed"] += 1
        return re.sub(r"(?<!^)([A-Z])", r"_\1", prop).lower()

    def _read_only(
        self, reader_fqn: str | None, configurable: set[str], names: Mapping[str, str]
    ) -> list[str]:
        reader = self._types.get(reader_fqn or "")
        if reader is None:
            return []
        props = {p["name"] for p in reader.get("properties", []) if not p.get("static")}
        found = []
        for prop in sorted(props - configurable):
            is_input_getter = prop.endswith("Input") and prop.removesuffix("Input") in props
            if is_input_getter or f"{prop}Input" in props or prop not in names:
                continue
            found.append(names[prop])
            self.stats["read_only_attributes"] += 1
        return found

    def _js_names(self, reader_fqn: str | None) -> Mapping[str, str]:
        reader = self._types.get(reader_fqn or "")
        if reader is None:
            return {}
        module = reader["locationInModule"]["filename"].split("/")[-2]
        return self._names.get(module, {}).get(reader["name"], {})

    def _reader(self, struct_fqn: str) -> str | None:
        reader = f"{struct_fqn}OutputReference"
        return reader if reader in self._types else None

    def _struct(self, type_ref: Mapping[str, Any]) -> str | None:
        """The struct a property holds, directly, in an array, or in a union with a token."""
        if "fqn" in type_ref:
            fqn = str(type_ref["fqn"])
            return fqn if self._types.get(fqn, {}).get("datatype") else None
        if "collection" in type_ref and type_ref["collection"]["kind"] == "array":
            return self._struct(type_ref["collection"]["elementtype"])
        for option in type_ref.get("union", {}).get("types", []):
            found = self._struct(option)
            if found:
                return found
        return None

    def _type(self, type_ref: Mapping[str, Any]) -> str:
        if "primitive" in type_ref:
            return _PRIMITIVES.get(type_ref["primitive"], "any")
        if "collection" in type_ref:
            collection = type_ref["collection"]
            kind = "list" if collection["kind"] == "array" else "map"
            return f"{kind}({self._type(collection['elementtype'])})"
        options = [
            t
            for t in type_ref.get("union", {}).get("types", [])
            if t.get("fqn") != "cdktf.IResolvable"
        ]
        if len(options) == 1:
            return self._type(options[0])
        return "any"

    @staticmethod
    def _enum(docs: str) -> list[str]:
        match = _POSSIBLE_VALUES.search(docs)
        if match is None:
            return []
        try:
            values = json.loads(match.group(1))
        except json.JSONDecodeError:
            return []
        return [str(v) for v in values] if all(isinstance(v, str) for v in values) else []
