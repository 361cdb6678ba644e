"""The ``e2e`` function's plain-Python part: the command it runs and the URL it accepts.

That the command really runs the journey, with the token read from a file, is shown by the
e2e tier (tests/e2e/test_dagger_command.py), which runs this argv against the local stack.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from clarity._e2e import E2E_SUITE, TOKEN_FILE, e2e_command, validate_base_url
from clarity._errors import InputError

pytestmark = pytest.mark.dagger

ROOT = Path(__file__).resolve().parents[2]
CANDIDATE = "https://candidate---clarity-api-gateway-abc123-uc.a.run.app"


def test_the_command_runs_the_journey_against_the_url() -> None:
    argv = e2e_command(CANDIDATE, timeout_seconds=90)
    assert argv == [
        "pytest",
        "tests/e2e/test_journey.py",
        "-m",
        "e2e",
        "-p",
        "no:cacheprovider",
        "--e2e-base-url",
        CANDIDATE,
        "--e2e-timeout",
        "90",
        "-rA",
    ]
    versioned = e2e_command(CANDIDATE, timeout_seconds=60, expect_version="1.4.0")
    assert versioned[-2:] == ["--e2e-expect-version", "1.4.0"]
    assert (ROOT / E2E_SUITE).is_file()
    assert TOKEN_FILE.startswith("/run/secrets/")
    assert not any("token" in part.lower() for part in argv[1:] if part != CANDIDATE)


def test_every_option_it_passes_is_one_the_suite_registers() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    options = [
        part
        for part in e2e_command(CANDIDATE, timeout_seconds=1, expect_version="1.0.0")
        if part.startswith("--e2e")
    ]
    assert options == ["--e2e-base-url", "--e2e-timeout", "--e2e-expect-version"]
    for option in [*options, "--e2e-id-token-file"]:
        assert option in shown
    assert "CLARITY_E2E_ID_TOKEN_FILE" in shown


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://clarity-api-gateway-abc.a.run.app", "is not an https URL"),
        ("https://user:pw@clarity-api-gateway-abc.a.run.app", "carries credentials"),
        ("https://clarity-api-gateway-abc.a.run.app/v1/batches", "is not a base URL"),
        ("https://clarity-api-gateway-abc.a.run.app/?token=x", "is not a base URL"),
    ],
)
def test_only_a_base_https_url_is_accepted(url: str, problem: str) -> None:
    with pytest.raises(InputError, match=rf"^--url: .* {problem}"):
        validate_base_url(url)


def test_a_base_url_is_normalised() -> None:
    assert validate_base_url(f"{CANDIDATE}/") == CANDIDATE
