"""Read a cdktf provider wheel: its jsii assembly and the Terraform names in its JavaScript.

The wheel holds ``<module>/_jsii/<name>@<version>.jsii.tgz``, an npm tarball with the
assembly (``package/.jsii``, or a redirect from it to a gzip-compressed file) and the
generated JavaScript (``package/lib/<submodule>/index.js``). The assembly describes what a
configuration may set, with each argument's registry-doc anchor; exported read-only
attributes appear there only as getters, so their Terraform names are read from the
JavaScript, whose getters name the attribute they read.
Nothing is extracted to disk: members are read from the stream by name.
"""

from __future__ import annotations

import gzip
import json
import re
import tarfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from terraform.tools.provider_schema._errors import AssemblyError

__all__ = ["Assembly", "attribute_names", "read_wheel"]

_TARBALL = re.compile(r"[^/]+/_jsii/[^/]+\.jsii\.tgz")
_SCRIPT = re.compile(r"package/lib/(?P<module>[^/]+)/index\.js")
_CLASS = re.compile(r"^class (\w+) extends ", re.MULTILINE)
# `get fooBar() { return this.getStringAttribute('foo_bar'); }`
_SCALAR_GETTER = re.compile(
    r"get (\w+)\(\) \{\s*return this\.(?:get\w*Attribute|interpolationForAttribute)\('([^']+)'\)"
)
# `this._fooBar = new FooBarList(this, "foo_bar", false);`
_COMPLEX_FIELD = re.compile(r"this\._(\w+) = new [\w.]+\(this, \"([^\"]+)\"")


@dataclass(frozen=True)
class Assembly:
    """The parsed assembly and, per submodule and class, camelCase → Terraform names."""

    manifest: Mapping[str, Any]
    names: Mapping[str, Mapping[str, Mapping[str, str]]]


def attribute_names(script: str) -> dict[str, dict[str, str]]:
    """Per class of one generated index.js, each property's Terraform attribute name."""
    starts = [(m.start(), m.group(1)) for m in _CLASS.finditer(script)]
    names: dict[str, dict[str, str]] = {}
    for index, (start, class_name) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else len(script)
        body = script[start:end]
        mapping = {m.group(1): m.group(2) for m in _SCALAR_GETTER.finditer(body)}
        mapping.update({m.group(1): m.group(2) for m in _COMPLEX_FIELD.finditer(body)})
        names[class_name] = mapping
    return names


def read_wheel(wheel: Path) -> Assembly:
    """The assembly and attribute names inside a cdktf provider wheel."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            tarballs = [name for name in archive.namelist() if _TARBALL.fullmatch(name)]
            if len(tarballs) != 1:
                msg = (
                    f"{wheel.name} holds {len(tarballs)} jsii tarballs (_jsii/*.jsii.tgz), "
                    "expected one: is it a cdktf provider package?"
                )
                raise AssemblyError(msg)
            with archive.open(tarballs[0]) as stream:
                return _read_tarball(stream, wheel.name)
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        msg = f"cannot read {wheel.name}: {exc}"
        raise AssemblyError(msg) from exc


def _read_tarball(stream: IO[bytes], label: str) -> Assembly:
    files: dict[str, bytes] = {}
    names: dict[str, dict[str, dict[str, str]]] = {}
    with tarfile.open(fileobj=stream, mode="r|gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            script = _SCRIPT.fullmatch(member.name)
            is_assembly = member.name.startswith("package/.jsii")
            if not (script or is_assembly):
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            data = handle.read()
            if script:
                names[script.group("module")] = attribute_names(data.decode())
            else:
                files[member.name.removeprefix("package/")] = data
    if ".jsii" not in files:
        msg = f"{label} has no package/.jsii in its jsii tarball"
        raise AssemblyError(msg)
    return Assembly(manifest=_manifest(files, label), names=names)


def _manifest(files: Mapping[str, bytes], label: str) -> Mapping[str, Any]:
    manifest: dict[str, Any] = json.loads(files[".jsii"])
    # Large assemblies may be stored compressed behind a small redirect document.
    if manifest.get("schema") == "jsii/file-redirect":
        target = str(manifest.get("filename", "")).removeprefix("./")
        if target not in files or manifest.get("compression") not in (None, "gzip"):
            msg = f"{label}: the assembly redirects to {target!r}, not found"
            raise AssemblyError(msg)
        data = files[target]
        if manifest.get("compression") == "gzip":
            data = gzip.decompress(data)
        manifest = json.loads(data)
    if not isinstance(manifest.get("types"), dict):
        msg = f"{label}: the assembly has no types"
        raise AssemblyError(msg)
    return manifest
