"""The uv that `make` installs into .tools/ and the uv locked into the project environment (which
the host gates' `uv run` steps use) are one version, written in the Makefile and the lockfile."""

from __future__ import annotations

import re
import tomllib

import pytest

from tests.workflows._support import ROOT

pytestmark = pytest.mark.workflows


def test_the_makefile_and_the_lockfile_pin_the_same_uv() -> None:
    match = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match is not None
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    (locked,) = [p["version"] for p in lock["package"] if p["name"] == "uv"]
    assert locked == match[1]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert f"uv=={match[1]}" in pyproject["dependency-groups"]["dev"]
