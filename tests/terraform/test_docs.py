"""terraform/README.md's generated tables and graph match the sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from terraform.tools import tfdoc

pytestmark = pytest.mark.terraform


def test_readme_tables_are_current() -> None:
    current = tfdoc.README.read_text()
    assert tfdoc.missing_sections(current) == []
    assert tfdoc.render(current) == current, (
        "terraform/README.md is stale: run `uv run python terraform/tools/tfdoc.py`"
    )


def test_check_mode_reports_a_stale_readme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tfdoc.README.read_text().replace("| `amount_usd` |", "| `amount_dollars` |")
    copy = tmp_path / "README.md"
    copy.write_text(stale)
    monkeypatch.setattr(tfdoc, "README", copy)
    assert tfdoc.main(["--check"]) == 1
    assert tfdoc.main([]) == 0
    assert "| `amount_usd` |" in copy.read_text()


def test_every_module_input_is_documented() -> None:
    for module in sorted((tfdoc.TERRAFORM_DIR / "modules").iterdir()):
        for variable in tfdoc.variables(module):
            assert variable.description, (
                f"{module.name}: variable {variable.name} has no description"
            )
        for name, description in tfdoc.outputs(module).items():
            assert description, f"{module.name}: output {name} has no description"
