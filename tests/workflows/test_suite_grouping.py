"""`make test`'s own machinery: the serial tiers really stay on one xdist worker each.

``tests/conftest.py`` marks each serial tier's tests with an ``xdist_group``; xdist's
``--dist loadgroup`` then sends a group to one worker, where the tier's session fixtures (one
dockerd and one build of the images, one checkov run, one tfparse evaluation) serve all its
tests. When that breaks, nothing fails: the tests spread over the workers and each worker pays
for the fixtures again (with pytest 9.2 and pytest-xdist 3.8 it did, silently:
pytest-dev/pytest-xdist#1386). This runs a real ``pytest -n 3 --dist loadgroup`` on two fast
Terraform files and a workflows file, with the repository's conftest, and reads which worker ran
each test.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict

import pytest

from tests.workflows._support import ROOT

pytestmark = [pytest.mark.workflows, pytest.mark.timeout(180)]

_RESULT = re.compile(r"^\[(gw\d+)\] \[\s*\d+%\] PASSED (tests/(\w+)/\S+)", re.MULTILINE)


def test_a_serial_tier_runs_on_one_worker_and_the_others_spread() -> None:
    run = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-n", "3", "--dist", "loadgroup", "-v",
            "-p", "no:cacheprovider", "--no-cov", "-o", "addopts=",
            "tests/terraform/test_fmt.py", "tests/terraform/test_policies.py",
            "tests/workflows/test_release.py",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=150, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    workers: defaultdict[str, set[str]] = defaultdict(set)
    grouped: defaultdict[str, list[str]] = defaultdict(list)
    for worker, nodeid, tier in _RESULT.findall(run.stdout):
        workers[tier].add(worker)
        grouped[tier].append(nodeid)
    assert len(grouped["terraform"]) > 20, run.stdout[-3000:]
    assert all(n.endswith("@terraform") for n in grouped["terraform"]), grouped["terraform"][:3]
    assert len(workers["terraform"]) == 1, (
        f"the terraform tier ran on {sorted(workers['terraform'])}"
    )
    # The ungrouped tests are handed out one by one: more than one worker takes them.
    assert len(workers["workflows"]) > 1, f"workflows ran on {sorted(workers['workflows'])}"
