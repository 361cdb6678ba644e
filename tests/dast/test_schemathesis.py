"""schemathesis against both services: every check, negative data, bounded and reproducible.

The command is the one ``dagger call dast`` runs (:func:`clarity._dast.dast_command`, with
tests/dast/schemathesis.toml). A failure shows schemathesis' report: each finding with a
curl line that reproduces it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from clarity._dast import LOCAL_TARGETS, dast_command

pytestmark = pytest.mark.dast

ROOT = Path(__file__).resolve().parents[2]
# A bound on the wall time of one run; the example budget in the config keeps it far below.
RUN_TIMEOUT_SECONDS = 150
_TOTALS = re.compile(r"(?P<generated>[0-9]+) generated, .*?(?P<passed>[0-9]+) passed")


# The gateway first: the ML service's push example names the batch the gateway's example stores.
@pytest.mark.parametrize("service", list(LOCAL_TARGETS))
def test_service_passes_schemathesis(stack: dict[str, str], service: str) -> None:
    argv = dast_command(stack[service])
    argv[0] = str(Path(sys.executable).with_name("schemathesis"))
    ran = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False
    )
    report = ran.stdout + ran.stderr
    assert ran.returncode == 0, f"schemathesis found problems in {service}:\n{report}"
    totals = _TOTALS.search(report)
    assert totals is not None, report
    assert int(totals["generated"]) >= 100, f"too few test cases ran:\n{report}"
    assert "Examples" in report
    assert "Coverage" in report
    assert "Fuzzing" in report
