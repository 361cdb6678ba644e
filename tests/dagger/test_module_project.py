"""The module's project files agree with each other and with the engine version."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

pytestmark = pytest.mark.dagger

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "ci"


def _toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def test_dagger_json_declares_the_module() -> None:
    assert json.loads((ROOT / "dagger.json").read_text()) == {
        "name": "clarity",
        "engineVersion": "v0.21.11",
        "sdk": {"source": "python"},
        "source": "ci",
    }


def test_runtime_python_and_entry_point() -> None:
    assert (CI / ".python-version").read_text().strip() == "3.11"
    project = _toml(CI / "pyproject.toml")
    assert project["project"]["name"] == "clarity"
    assert project["project"]["entry-points"]["dagger.mod"] == {"main_object": "clarity:Clarity"}
    assert project["tool"]["uv"]["sources"]["dagger-io"] == {"path": "sdk", "editable": True}
    assert "ci/sdk/" in (ROOT / ".gitignore").read_text().splitlines()


def test_the_lock_matches_the_module_dependencies() -> None:
    project = _toml(CI / "pyproject.toml")["project"]
    lock = _toml(CI / "uv.lock")
    packages = {p["name"]: p for p in lock["package"]}
    root = packages["clarity"]
    locked = {
        entry["name"]: SpecifierSet(entry.get("specifier", ""))
        for entry in root["metadata"]["requires-dist"]
    }
    declared = {(req := Requirement(t)).name: req.specifier for t in project["dependencies"]}
    assert locked == declared
    assert packages["dagger-io"]["version"] == "0.21.11"
    assert packages["dagger-io"]["source"] == {"editable": "sdk"}


def test_the_host_provides_the_module_dependencies_with_the_same_pins() -> None:
    ci_group = _toml(ROOT / "pyproject.toml")["dependency-groups"]["ci"]
    host = {(req := Requirement(text)).name: req for text in ci_group}
    for text in _toml(CI / "pyproject.toml")["project"]["dependencies"]:
        req = Requirement(text)
        assert req.name in host, req.name
        if req.name != "dagger-io":
            assert host[req.name].specifier == req.specifier, req.name
    assert str(host["dagger-io"].specifier) == "==0.21.11"
