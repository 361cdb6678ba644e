"""A small provider wheel laid out as cdktf publishes them, built in memory.

It holds one resource, one data source and the provider class, with the traps the real
assembly has: a name camelCase → snake_case would get wrong (``detect_md5hash``),
read-only attributes named only in the JavaScript (``md5hash``, ``settings.state``),
an enum, a single block and a required list block.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import zipfile
from typing import Any

from terraform.tools.provider_schema import ProviderPackage

SOURCE = "hashicorp/fake"
PROVIDER_VERSION = "1.2.3"
URL = "https://files.example.test/packages/cdktf_cdktf_provider_fake-0.1.0-py3-none-any.whl"
_DOCS = f"https://registry.terraform.io/providers/{SOURCE}/{PROVIDER_VERSION}/docs"
_NS = "@cdktf/provider-fake"


def _prop(
    name: str, anchor: str, page: str, *, optional: bool = True, **extra: Any
) -> dict[str, Any]:
    remarks = f"Docs at Terraform Registry: {{@link {_DOCS}{page}#{anchor} Thing#{anchor}}}"
    docs = {"summary": extra.pop("summary", f"The {anchor}."), "remarks": remarks}
    prop: dict[str, Any] = {
        "name": name,
        "docs": docs,
        "type": extra.pop("type", {"primitive": "string"}),
    }
    if optional:
        prop["optional"] = True
    return prop


def _class(
    fqn: str, base: str, summary: str, config: str | None, props: list[str]
) -> dict[str, Any]:
    kind: dict[str, Any] = {
        "fqn": fqn,
        "kind": "class",
        "name": fqn.rsplit(".", 1)[-1],
        "base": base,
        "docs": {"summary": summary},
        "locationInModule": {"filename": f"src/{fqn.split('.')[1]}/index.ts"},
        "properties": [{"name": p, "type": {"primitive": "string"}} for p in props],
    }
    if config:
        kind["initializer"] = {"parameters": [{"name": "config", "type": {"fqn": config}}]}
    return kind


def _struct(fqn: str, props: list[dict[str, Any]]) -> dict[str, Any]:
    return {"fqn": fqn, "kind": "interface", "datatype": True, "properties": props}


def assembly() -> dict[str, Any]:
    """The jsii assembly: provider, resource fake_thing, data source fake_thing."""
    page = "/resources/thing"
    thing, data = f"{_NS}.thing", f"{_NS}.dataFakeThing"
    settings = f"{thing}.ThingSettings"
    rules = f"{thing}.ThingRules"
    types = [
        _class(
            f"{_NS}.provider.FakeProvider",
            "cdktf.TerraformProvider",
            f"Represents a {{@link {_DOCS} fake}}.",
            f"{_NS}.provider.FakeProviderConfig",
            [],
        ),
        _struct(f"{_NS}.provider.FakeProviderConfig", [_prop("region", "region", "")]),
        _class(
            f"{thing}.Thing",
            "cdktf.TerraformResource",
            f"Represents a {{@link {_DOCS}{page} fake_thing}}.",
            f"{thing}.ThingConfig",
            ["name", "nameInput", "detectMd5Hash", "detectMd5HashInput", "md5Hash", "selfLink"],
        ),
        _struct(
            f"{thing}.ThingConfig",
            [
                _prop("name", "name", page, optional=False),
                _prop("detectMd5Hash", "detect_md5hash", page),
                _prop("tier", "tier", page, summary='Tier. Possible values: ["BASIC", "PREMIUM"]'),
                _prop(
                    "settings", "settings", page, summary="settings block.", type={"fqn": settings}
                ),
                _prop(
                    "rules",
                    "rules",
                    page,
                    optional=False,
                    summary="rules block.",
                    type={
                        "union": {
                            "types": [
                                {"fqn": "cdktf.IResolvable"},
                                {"collection": {"kind": "array", "elementtype": {"fqn": rules}}},
                            ]
                        }
                    },
                ),
            ],
        ),
        _struct(settings, [_prop("size", "size", page, type={"primitive": "number"})]),
        _class(
            f"{settings}OutputReference",
            "cdktf.ComplexObject",
            "",
            None,
            ["size", "sizeInput", "state", "internalValue"],
        ),
        _struct(rules, [_prop("action", "action", page, optional=False)]),
        _class(
            f"{rules}OutputReference", "cdktf.ComplexObject", "", None, ["action", "actionInput"]
        ),
        _class(
            f"{data}.DataFakeThing",
            "cdktf.TerraformDataSource",
            f"Represents a {{@link {_DOCS}/data-sources/thing fake_thing}}.",
            f"{data}.DataFakeThingConfig",
            ["name", "nameInput", "selfLink"],
        ),
        _struct(
            f"{data}.DataFakeThingConfig",
            [_prop("name", "name", "/data-sources/thing", optional=False)],
        ),
    ]
    return {"name": _NS, "version": "0.1.0", "types": {t["fqn"]: t for t in types}}


def _getter(camel: str, name: str) -> str:
    return f"    get {camel}() {{\n        return this.getStringAttribute('{name}');\n    }}\n"


SCRIPTS = {
    "thing": (
        "class Thing extends cdktf.TerraformResource {\n"
        + _getter("name", "name")
        + _getter("detectMd5Hash", "detect_md5hash")
        + _getter("md5Hash", "md5hash")
        + _getter("selfLink", "self_link")
        + "}\nclass ThingSettingsOutputReference extends cdktf.ComplexObject {\n"
        + _getter("size", "size")
        + _getter("state", "state")
        + "}\nclass ThingRulesOutputReference extends cdktf.ComplexObject {\n"
        + _getter("action", "action")
        + "}\n"
    ),
    "dataFakeThing": "class DataFakeThing extends cdktf.TerraformDataSource {\n"
    + _getter("selfLink", "self_link")
    + "}\n",
}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def build_wheel(*, compressed: bool = False, with_assembly: bool = True) -> bytes:
    """The wheel's bytes; compressed puts the assembly behind a jsii file redirect."""
    manifest = json.dumps(assembly()).encode()
    tarball = io.BytesIO()
    with tarfile.open(fileobj=tarball, mode="w:gz") as tar:
        if compressed:
            redirect = {
                "schema": "jsii/file-redirect",
                "compression": "gzip",
                "filename": ".jsii.gz",
            }
            _add(tar, "package/.jsii", json.dumps(redirect).encode())
            _add(tar, "package/.jsii.gz", gzip.compress(manifest))
        else:
            _add(tar, "package/.jsii", manifest)
        for module, script in SCRIPTS.items():
            _add(tar, f"package/lib/{module}/index.js", script.encode())
    wheel = io.BytesIO()
    with zipfile.ZipFile(wheel, "w") as archive:
        if with_assembly:
            archive.writestr(
                "cdktf_cdktf_provider_fake/_jsii/provider-fake@0.1.0.jsii.tgz", tarball.getvalue()
            )
        archive.writestr("cdktf_cdktf_provider_fake-0.1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
    return wheel.getvalue()


def package_for(wheel: bytes, *, provider_version: str = PROVIDER_VERSION) -> ProviderPackage:
    """A pin of exactly these bytes."""
    return ProviderPackage(
        source=SOURCE,
        provider_version=provider_version,
        distribution="cdktf-cdktf-provider-fake",
        version="0.1.0",
        url=URL,
        sha256=hashlib.sha256(wheel).hexdigest(),
        size=len(wheel),
    )
