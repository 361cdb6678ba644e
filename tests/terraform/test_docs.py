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
    modules = sorted((tfdoc.TERRAFORM_DIR / "modules").iterdir())
    for module in [tfdoc.STACK_DIR, tfdoc.GITHUB_DIR, *modules]:
        for variable in tfdoc.variables(module):
            assert variable.description, (
                f"{module.name}: variable {variable.name} has no description"
            )
        for name, description in tfdoc.outputs(module).items():
            assert description, f"{module.name}: output {name} has no description"


def _terraform_modules() -> list[Path]:
    return [
        tfdoc.STACK_DIR,
        tfdoc.GITHUB_DIR,
        *sorted((tfdoc.TERRAFORM_DIR / "modules").iterdir()),
        *sorted((tfdoc.TERRAFORM_DIR / "environments").iterdir()),
    ]


@pytest.mark.parametrize("module", _terraform_modules(), ids=lambda path: path.name)
def test_variables_and_outputs_follow_the_fabric_conventions(module: Path) -> None:
    """Alphabetical, typed, described; nullable only where null is a meaningful default."""
    variables = tfdoc.blocks(module, "variable")
    outputs = tfdoc.blocks(module, "output")
    assert list(variables) == sorted(variables)
    assert list(outputs) == sorted(outputs)
    for name, body in variables.items():
        assert "type" in body, f"{module.name}: variable {name} has no type"
        assert body.get("description"), f"{module.name}: variable {name} has no description"
        nullable = body.get("nullable") is not False
        assert not nullable or body.get("default", ...) is None, (
            f"{module.name}: variable {name} should say nullable = false"
        )
