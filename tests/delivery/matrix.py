"""The fault matrix's machinery: cells, the runs, and the invariant checked after each.

See ``test_fault_matrix.py`` for what the matrix covers and why its timings are what they are.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from clarity_delivery import _state as st
from clarity_delivery._cloudrun import CloudRunApi, RetryPolicy
from clarity_delivery.cli import main
from google.auth.credentials import Credentials

from tests.delivery.forks import DeployerForks
from tests.delivery.stage import SERVICES, Stage
from tests.doubles.cloud_run import CallStep, StepRecord

MATRIX_SEED = 12
SAMPLED = 2
OPERATION_SECONDS = 0.02
RETRY = {"attempts": 5, "initial": 0.01, "maximum": 0.05, "multiplier": 2.0}
ROLLOUT: dict[str, object] = {
    "steps": [50, 100],
    "probes_per_step": 1,
    "failure_threshold": 1,
    "analysis_interval_seconds": 0,
    "ready_timeout_seconds": 0.5,
    "lease_seconds": 0.25,
}
FAULTS = (
    "retries-exhausted",
    "one-429",
    "concurrent-writer",
    "answer-lost",
    "operation-fails",
    "killed-and-rerun",
)
ALLOWED_EXITS = {
    "retries-exhausted": {0, 6},  # 0 when the call was bookkeeping, or the release survived it
    "one-429": {0},
    "concurrent-writer": {0},
    "answer-lost": {0},
    "operation-fails": {0, 1},  # 0 when the write was bookkeeping
    "killed-and-rerun": {0},  # the rerun's exit
}
HOST_A, HOST_B = "matrix-host-a", "matrix-host-b"


def connect(credentials: Credentials, endpoint: str | None) -> CloudRunApi:
    """The Admin API client with the matrix's fast retries."""
    return CloudRunApi.connect(credentials, endpoint=endpoint, retry=RetryPolicy(**RETRY))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Cell:
    """One run of the matrix: a fault at one call of one kind of release."""

    strategy: str
    services: tuple[str, ...]
    step: StepRecord
    fault: str

    def describe(self) -> str:
        what = self.step.path.rsplit("/", 2)
        return f"{self.strategy} {'+'.join(self.services)} call {self.step.n} ({self.step.rpc} {what[-1]}): {self.fault}"


def applicable(steps: list[StepRecord], fault: str) -> list[StepRecord]:
    """The calls a fault class can meet: an operation fails only where a write starts one."""
    return [s for s in steps if fault != "operation-fails" or s.rpc == "UpdateService"]


class Matrix:
    """Runs cells against one stage and checks the invariant after each."""

    def __init__(self, stage: Stage, forks: DeployerForks, workdir: Path) -> None:
        self.stage = stage
        self.forks = forks
        self.workdir = workdir
        self.releases = 0

    # ------------------------------------------------------------------ runs

    def clean(self, strategy: str, services: tuple[str, ...]) -> list[StepRecord]:
        """A release without faults (it must hold the invariant too): the calls it made."""
        self.stage.double.clear_faults()
        problems = self.run(Cell(strategy, services, StepRecord(0, "", ""), "none"))
        assert not problems, problems
        return list(self.stage.double.call_steps)

    def run(self, cell: Cell) -> list[str]:
        """Run one cell; what is wrong afterwards (empty: the invariant holds)."""
        self.releases += 1
        version = f"2.{self.releases}.0"
        double = self.stage.double
        double.clear_faults()
        base = {key: _stable(self.stage, key) for key in SERVICES}
        records = len(self.stage.records())
        argv = self._argv(cell, version)
        interrupted: str | None = None
        if cell.fault == "killed-and-rerun":
            interrupted = self._kill_at(cell, argv)
            self._wait_out_lease(cell)
            code, out, err = self._in_process(argv, host=HOST_B)
        else:
            self._arm(cell)
            code, out, err = self._in_process(argv)
        return self.check(
            cell,
            version=version,
            base=base,
            records_before=records,
            result=(code, out, err),
            interrupted=interrupted,
        )

    def _argv(self, cell: Cell, version: str) -> list[str]:
        images = [f"--image={s}={self.stage.image(s, version)}" for s in cell.services]
        only = [f"--service={s}" for s in cell.services]
        return [
            "deploy",
            *self.stage.deploy_args(version, images),
            *only,
            "--strategy",
            cell.strategy,
            *self.stage.base_args(),
        ]

    def _arm(self, cell: Cell) -> None:
        double, step = self.stage.double, CallStep(cell.step.n)
        if cell.fault == "retries-exhausted":
            double.fail_next(step, status=503, times=int(RETRY["attempts"]))
        elif cell.fault == "one-429":
            double.fail_next(step, status=429)
        elif cell.fault == "concurrent-writer":
            double.interleave_write(step)
        elif cell.fault == "answer-lost":
            double.lose_answer(step)
        elif cell.fault == "operation-fails":
            double.fail_operation(step)

    def _in_process(self, argv: list[str], *, host: str | None = None) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with (
            self.stage.environment(),
            _deployer_host(host),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            code = main(argv, connect=connect)
        return code, out.getvalue(), err.getvalue()

    def _kill_at(self, cell: Cell, argv: list[str]) -> str | None:
        """Run the deploy as its own process, SIGKILL it at the cell's call; its rollout id."""
        killed: list[int] = []
        spawned: list[int] = []
        known, fired = threading.Event(), threading.Event()

        def kill(_request: object) -> None:
            # The deployer can reach the call before spawn() has returned its pid here (this
            # process busy, the fork quick): wait for the pid rather than miss the kill.
            if not known.wait(timeout=30):
                return
            os.kill(spawned[0], 9)
            killed.append(spawned[0])
            fired.set()

        self.stage.double.intercept(CallStep(cell.step.n), kill)
        env = {st.HOST_ENV: HOST_A}
        spawned.append(
            self.forks.spawn(argv, env=env, log=self.workdir / "killed.log", retry=RETRY)
        )
        known.set()
        pid = spawned[0]
        DeployerForks.wait_gone(pid, timeout=60)
        # The deployer is gone the moment the callback's kill lands, before the callback (in the
        # double's request thread) has noted it: wait for the note, not only for the death.
        fired.wait(timeout=10)
        seen = [f"{s.n} {s.rpc}" for s in self.stage.double.call_steps]
        assert killed == [pid], (
            f"{cell.describe()}: the deployer ended before the call (calls seen: {seen})"
        )
        states = [st.RolloutState.from_service(self.stage.service(s)) for s in cell.services]
        return next((s.id for s in states if s is not None), None)

    def _wait_out_lease(self, cell: Cell) -> None:
        for key in cell.services:
            state = st.RolloutState.from_service(self.stage.service(key))
            if state is not None:
                time.sleep(max(0.0, state.expires_at - time.time()) + 0.05)

    # ------------------------------------------------------------------ the invariant

    def check(
        self,
        cell: Cell,
        *,
        version: str,
        base: dict[str, str],
        records_before: int,
        result: tuple[int, str, str],
        interrupted: str | None,
    ) -> list[str]:
        """Everything the invariant says, as a list of what does not hold."""
        code, out, err = result
        problems: list[str] = []
        ends = {key: self._end_of(key, version, base[key], problems) for key in cell.services}
        if len(set(ends.values())) != 1:
            problems.append(f"services ended differently: {ends}")
        for key in set(SERVICES) - set(cell.services):
            if self.stage.traffic(key) != {base[key]: 100}:
                problems.append(f"{key} is not in the release but its traffic moved")
        allowed = ALLOWED_EXITS.get(cell.fault, {0})
        if code not in allowed:
            problems.append(f"exit {code}, expected one of {sorted(allowed)}")
        released = set(ends.values()) == {"released"}
        if (code == 0) != released:
            problems.append(f"exit {code} but the services are {set(ends.values())}")
        problems += self._last_line(code, out, err, base, cell)
        if code == 0 and "nothing to do" in out:
            # A rerun after the killed deployer had released everything: the history on the
            # services records that release; the rerun changed and recorded nothing.
            lasts = {st.history_of(self.stage.service(k))[-1] for k in cell.services}
            if {(h.version, h.outcome) for h in lasts} != {(version, "succeeded")}:
                problems.append(f"nothing to do, but the history says {lasts}")
        else:
            problems += self._records(code, records_before, err)
        if interrupted is not None:
            outcomes = {
                (h.outcome) for k in cell.services for h in st.history_of(self.stage.service(k))
            }
            if "interrupted" not in outcomes:
                problems.append("the killed rollout's lease was resolved without a history entry")
        return problems

    def _end_of(self, key: str, version: str, base: str, problems: list[str]) -> str:
        name = SERVICES[key]
        live = self.stage.service(key)
        if st.ROLLOUT_ANNOTATION in live.annotations:
            problems.append(f"{key}: the rollout state is still on the service")
        traffic = self.stage.traffic(key)
        tags = st.tagged_revisions(live)
        if (
            traffic == {base: 100}
            and tags.get("stable") == base
            and set(tags)
            <= {
                "stable",
                "previous",
                "blue",
            }
        ):
            return "stable"
        serving = next(iter(traffic), "")
        candidate = f"{name}-{version.replace('.', '-')}-c0ffee1"
        if traffic == {serving: 100} and serving.startswith(candidate):
            previous = {"previous", "blue"} & set(tags)
            if tags.get("stable") != serving or len(previous) != 1:
                problems.append(f"{key}: released without the stable/previous tags: {tags}")
            return "released"
        problems.append(f"{key}: neither stable nor released: traffic {traffic}, tags {tags}")
        return "neither"

    @staticmethod
    def _last_line(code: int, out: str, err: str, base: dict[str, str], cell: Cell) -> list[str]:
        if code == 0:
            last = out.strip().splitlines()[-1] if out.strip() else ""
            return [] if " is stable in dev" in last else [f"last line: {last!r}"]
        last = err.strip().splitlines()[-1] if err.strip() else ""
        problems = []
        if not last.startswith("clarity-deploy deploy: error:") or "Production:" not in last:
            problems.append(f"last line does not say the state: {last!r}")
        for key in cell.services:
            untouched = f"{SERVICES[key]} was not touched"
            if not any(said in last for said in (base[key], "nothing was changed", untouched)):
                problems.append(f"last line does not name {key}'s revision: {last!r}")
        return problems

    def _records(self, code: int, before: int, err: str) -> list[str]:
        new = self.stage.records()[before:]
        if not new:
            return ["no record was written"]
        record = new[-1]
        if (record["outcome"] == "succeeded") != (code == 0):
            return [f"record outcome {record['outcome']} after exit {code}"]
        if code and str(record["error"]) not in err:
            return ["the record's error is not what the operator was told"]
        return []


def _stable(stage: Stage, key: str) -> str:
    (revision,) = [r for r, p in stage.traffic(key).items() if p == 100]
    return revision


@contextlib.contextmanager
def _deployer_host(host: str | None) -> Iterator[None]:
    before = os.environ.get(st.HOST_ENV)
    if host is not None:
        os.environ[st.HOST_ENV] = host
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(st.HOST_ENV, None)
        else:
            os.environ[st.HOST_ENV] = before


def run_cells(matrix: Matrix, cells: list[Cell]) -> tuple[list[str], int]:
    """Run every cell; the problems found, and how many cells held the invariant."""
    failures: list[str] = []
    held = 0
    for cell in cells:
        problems = matrix.run(cell)
        failures += [f"{cell.describe()}: {p}" for p in problems]
        held += not problems
    return failures, held
