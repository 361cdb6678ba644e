"""The Dagger module's plain-Python parts that need no engine: input handling the functions
share, and the reference generator's command line. (The functions' recipes run against the
engine double: tests/dagger/test_functions.py and the tests beside it.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import cast

import dagger
import pytest
from clarity._delivery import require_credentials
from clarity._errors import InputError
from clarity._reference import BEGIN, END

pytestmark = pytest.mark.dagger

ROOT = Path(__file__).resolve().parents[2]


def test_a_function_that_needs_credentials_says_how_to_pass_them() -> None:
    with pytest.raises(InputError, match=r"deploy needs --credentials: .* file:./key.json"):
        require_credentials(None, "deploy")
    secret = cast("dagger.Secret", object())
    assert require_credentials(secret, "deploy") is secret


def test_the_reference_generator_prints_and_rewrites_the_block(tmp_path: Path) -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "clarity._reference"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed.startswith(BEGIN)
    assert printed.rstrip().endswith(END)
    document = tmp_path / "dagger.md"
    document.write_text(f"# title\n\n{BEGIN}\nstale\n{END}\n\nafter\n")
    subprocess.run(
        [sys.executable, "-m", "clarity._reference", "--write", str(document)],
        cwd=ROOT,
        check=True,
    )
    text = document.read_text()
    assert text.startswith("# title\n\n")
    assert "stale" not in text
    assert text.endswith("\n\nafter\n")
    assert printed.strip() in text
