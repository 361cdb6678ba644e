"""The fault matrix: every API call a rollout makes, each with every single fault, and one invariant.

A clean canary and a clean blue-green rollout are run first; the double numbers their API calls
(:class:`~tests.doubles.cloud_run.CallStep`: a retry or another poll of the same operation is
the same call). Then, for each call and each fault class, a fresh release meets that one fault
at that call:

- ``retries-exhausted``: the call fails with 503 until the client's retries run out;
- ``one-429``: the call is rate-limited once;
- ``concurrent-writer``: another client writes the service (a label, as Terraform would) just
  before the call, so the etag the rollout holds is stale;
- ``answer-lost``: the call runs (a write lands) but its answer never arrives;
- ``operation-fails``: a write is accepted but the operation that applies it fails (writes only);
- ``killed-and-rerun``: the deployer process is SIGKILLed at the call (no cleanup code of it
  runs), then the same deploy is run from another host once the dead one's lease has run out.

After each run the invariant must hold (:meth:`Matrix.check`): every service of the release ends
either all on its previous stable revision or released, all alike; no rollout state is left;
the ledger has the run's record with the matching outcome; the exit code is one the fault
allows, and the last line says what production looks like.

**Scope and budget.** The full matrix runs on one service (ml-service) for both strategies, one
test per strategy and fault class, each numbering the calls with its own clean run, so that the
runs spread over the test workers. On two services it is sampled, one test per strategy: for
each fault class, :data:`SAMPLED` calls drawn with a ``random.Random`` seeded by
:data:`MATRIX_SEED` and the strategy from those the clean two-service run made (set
``FAULT_MATRIX_FULL=1`` to run all of them, ``FAULT_MATRIX_SEED`` to draw others).

**Timings.** Revisions run the fixture app (it starts in tens of milliseconds). Operations take
:data:`OPERATION_SECONDS` instead of the stage's second, retries back off from 10 ms instead of
500 ms, the lease is a quarter of a second: the matrix asks *whether* a fault at a given call is
survived, which does not depend on how long the calls take, and at real speed its couple of
hundred runs would take an hour. What happens *while* an operation is slow is covered at real
speed by ``test_failures.py``. Analysis is one round per step, so every run makes the same calls
in the same order and a call number means the same call in every run.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.delivery.forks import DeployerForks
from tests.delivery.matrix import (
    FAULTS,
    MATRIX_SEED,
    OPERATION_SECONDS,
    ROLLOUT,
    SAMPLED,
    Cell,
    Matrix,
    applicable,
    run_cells,
)
from tests.delivery.stage import open_fixture_stage
from tests.doubles.oauth import TokenEndpoint

pytestmark = [pytest.mark.delivery, pytest.mark.timeout(600)]


@pytest.fixture
def matrix(tmp_path: Path, token_endpoint: TokenEndpoint) -> Iterator[Matrix]:
    """A stage of fixture-app revisions with fast operations, and a warm deployer fork server."""
    with (
        open_fixture_stage(
            tmp_path,
            token_endpoint,
            operation_delay=OPERATION_SECONDS,
            **ROLLOUT,
        ) as stage,
        DeployerForks(stage.subprocess_env()) as forks,
    ):
        yield Matrix(stage, forks, tmp_path)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("strategy", ["canary", "blue-green"])
def test_fault_matrix_on_one_service(
    matrix: Matrix, record_property: Callable[[str, object], None], strategy: str, fault: str
) -> None:
    started = time.monotonic()
    services = ("ml-service",)
    steps = matrix.clean(strategy, services)
    cells = [Cell(strategy, services, step, fault) for step in applicable(steps, fault)]
    failures, held = run_cells(matrix, cells)
    record_property(
        "fault-matrix",
        f"fault matrix, {strategy} of ml-service, {fault}: {len(steps)} calls, {len(cells)} "
        f"runs where it applies, {held} hold the invariant, {time.monotonic() - started:.0f}s",
    )
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("strategy", ["canary", "blue-green"])
def test_fault_matrix_on_two_services_sampled(
    matrix: Matrix, record_property: Callable[[str, object], None], strategy: str
) -> None:
    started = time.monotonic()
    services = ("ml-service", "api-gateway")
    seed = int(os.environ.get("FAULT_MATRIX_SEED", MATRIX_SEED))
    full = os.environ.get("FAULT_MATRIX_FULL") == "1"
    draw = random.Random(f"{seed}-{strategy}")  # noqa: S311 - a reproducible sample, not a secret
    cells: list[Cell] = []
    steps = matrix.clean(strategy, services)
    total = 0
    for fault in FAULTS:
        candidates = applicable(steps, fault)
        total += len(candidates)
        picked = candidates if full else draw.sample(candidates, SAMPLED)
        cells += [
            Cell(strategy, services, step, fault) for step in sorted(picked, key=lambda s: s.n)
        ]
    failures, held = run_cells(matrix, cells)
    how = "all" if full else f"{SAMPLED} calls per fault, seed {seed}"
    record_property(
        "fault-matrix",
        f"fault matrix, {strategy} of ml-service + api-gateway, sampled ({how}) of {total}: "
        f"{len(cells)} runs, {held} hold the invariant, {time.monotonic() - started:.0f}s",
    )
    assert not failures, "\n".join(failures)
