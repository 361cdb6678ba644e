"""Check every .tf file under a directory against provider schemas, offline.

Each directory holding .tf files is one module: its ``required_providers`` say which
provider (and which versions) each local name means. Every ``resource``, ``data`` (also
inside ``check`` blocks) and ``provider`` block is checked against the schema of its
provider (the ``provider`` meta-argument, else the type's prefix); a block whose
provider has no schema loaded is listed as unchecked, never passed silently.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from terraform.tools.provider_schema._constraints import allows
from terraform.tools.provider_schema._hcl import Body, HclSyntaxError, literal, parse_file
from terraform.tools.provider_schema._rules import Finding, Kind, check_block
from terraform.tools.provider_schema.model import Block, ProviderSchema

__all__ = ["CheckReport", "check_tree"]


@dataclass
class CheckReport:
    """What a check found, and what it could not check."""

    findings: list[Finding] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    checked_blocks: int = 0
    files: int = 0


def check_tree(
    root: Path, schemas: Mapping[str, ProviderSchema], *, base: Path | None = None
) -> CheckReport:
    """Check every .tf file under root; paths in findings are relative to base (or root)."""
    report = CheckReport()
    files = sorted(p for p in root.rglob("*.tf") if ".terraform" not in p.parts)
    directories = sorted({p.parent for p in files})
    for directory in directories:
        module_files = [p for p in files if p.parent == directory]
        _Module(module_files, schemas, base or root, report).check()
    report.files = len(files)
    report.findings.sort()
    return report


def _source(address: str) -> str:
    return address.lower().removeprefix("registry.terraform.io/")


def _reference(value: object) -> str | None:
    """``google.beta`` from ``provider = google.beta`` (written as an expression)."""
    if not isinstance(value, str):
        return None
    text = value.removeprefix("${").removesuffix("}")
    return text or None


class _Module:
    def __init__(
        self,
        files: list[Path],
        schemas: Mapping[str, ProviderSchema],
        base: Path,
        report: CheckReport,
    ) -> None:
        self._files = files
        self._schemas = schemas
        self._base = base
        self._report = report
        self._sources: dict[str, str] = {}

    def check(self) -> None:
        parsed: list[tuple[str, Body]] = []
        for path in self._files:
            shown = os.path.relpath(path, self._base)
            try:
                parsed.append((shown, parse_file(path)))
            except HclSyntaxError as exc:
                self._report.findings.append(Finding(shown, 1, shown, Kind.SYNTAX, str(exc)))
        for shown, body in parsed:
            self._read_required_providers(shown, body)
        for shown, body in parsed:
            for block in body.blocks:
                if block.type in ("resource", "data") and len(block.labels) == 2:
                    self._check_typed(shown, block, block.type, "")
                elif block.type == "provider" and block.labels:
                    self._check_provider(shown, block)
                elif block.type == "check" and block.labels:
                    scope = f"check.{block.labels[0]}."
                    for data in block.blocks_of("data"):
                        if len(data.labels) == 2:
                            self._check_typed(shown, data, "data", scope)

    def _read_required_providers(self, shown: str, body: Body) -> None:
        for terraform in body.blocks_of("terraform"):
            for required in terraform.blocks_of("required_providers"):
                for attr in required.attributes:
                    spec = attr.value if isinstance(attr.value, dict) else {}
                    source = literal(spec.get("source"))
                    if isinstance(source, str):
                        self._sources[attr.name] = _source(source)
                    # `google = "~> 6.0"` is the older form: a version constraint alone.
                    version = literal(
                        attr.value if isinstance(attr.value, str) else spec.get("version")
                    )
                    if isinstance(version, str):
                        self._check_constraint(shown, attr.line, attr.name, version)

    def _check_constraint(self, shown: str, line: int, local_name: str, constraint: str) -> None:
        schema = self._schemas.get(self._source_of(local_name))
        if schema is None or allows(constraint, schema.version) is not False:
            return
        message = (
            f"the {schema.source} schema checked is {schema.version} ({schema.package}), "
            f'which "{constraint}" excludes: pin a matching package in '
            "terraform/tools/provider_schema/packages.py"
        )
        address = f"terraform.required_providers.{local_name}"
        self._add(shown, line, address, Kind.PROVIDER_VERSION, message)

    def _source_of(self, local_name: str) -> str:
        return self._sources.get(local_name, f"hashicorp/{local_name}")

    def _check_typed(self, shown: str, block: Body, kind: str, scope: str) -> None:
        type_name, name = block.labels
        address = f"{scope}{'data.' if kind == 'data' else ''}{type_name}.{name}"
        provider_attr = block.attribute("provider")
        reference = _reference(provider_attr.value) if provider_attr else None
        # The provider meta-argument names a provider (google.beta); else the type's prefix does.
        local_name = reference.split(".")[0] if reference else type_name.split("_")[0]
        schema = self._schemas.get(self._source_of(local_name))
        if schema is None:
            self._report.unchecked.append(
                f"{shown}:{block.line}: {address} (no schema loaded for {self._source_of(local_name)})"
            )
            return
        found = schema.resource(type_name) if kind == "resource" else schema.data_source(type_name)
        self._report.checked_blocks += 1
        if found is None:
            known = schema.resource_types() if kind == "resource" else schema.data_source_types()
            close = difflib.get_close_matches(type_name, known, n=1, cutoff=0.8)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            noun = "resource type" if kind == "resource" else "data source"
            message = f'"{type_name}" is not a {noun} of {schema.source} {schema.version}{hint}'
            self._add(shown, block.line, address, Kind.UNKNOWN_TYPE, message)
            return
        self._run(shown, block, found, kind, address)

    def _check_provider(self, shown: str, block: Body) -> None:
        local_name = block.labels[0]
        alias_attr = block.attribute("alias")
        alias = literal(alias_attr.value) if alias_attr else None
        address = f"provider.{local_name}" + (f".{alias}" if isinstance(alias, str) else "")
        schema = self._schemas.get(self._source_of(local_name))
        if schema is None:
            self._report.unchecked.append(f"{shown}:{block.line}: {address} (no schema loaded)")
            return
        self._report.checked_blocks += 1
        self._run(shown, block, schema.provider(), "provider", address)

    def _run(self, shown: str, block: Body, schema: Block, kind: str, address: str) -> None:
        def report(line: int, finding_kind: str, message: str) -> None:
            self._add(shown, line, address, finding_kind, message)

        check_block(block, schema, kind, report)

    def _add(self, shown: str, line: int, address: str, kind: str, message: str) -> None:
        self._report.findings.append(Finding(shown, line, address, kind, message))
