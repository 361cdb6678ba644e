"""The quality gates run in containers: every step, every gate concurrently, one summary.

The commands come from :mod:`clarity._gates`, the definitions the host runner uses too.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio
import dagger
from dagger import ReturnType, dag

from clarity._errors import GatesFailedError
from clarity._gates import Gate, Step
from clarity._report import Outcome, StepResult, Summary, sarif_results, summarize
from clarity._workspace import REPORTS, with_emulators, workspace

__all__ = ["check", "exec_for_report", "run_gate", "run_gates"]


async def check(source: dagger.Directory, gates: Sequence[Gate]) -> str:
    """Run ``gates``; return the summary, or raise it as :class:`GatesFailedError`."""
    summary = await run_gates(source, gates)
    if not summary.ok:
        raise GatesFailedError(summary.render())
    return summary.render()


async def run_gates(source: dagger.Directory, gates: Sequence[Gate]) -> Summary:
    """Run every gate concurrently, each in its own container; summarize all steps."""
    entries = await source.glob("**/*")
    results: list[StepResult] = []

    async def run(gate: Gate) -> None:
        try:
            ran, _ = await run_gate(source, gate, entries)
            results.extend(ran)
        except dagger.QueryError as exc:
            # The gate's container could not even be prepared (e.g. uv sync failed).
            results.append(
                StepResult(gate=gate.name, step="setup", outcome=Outcome.FAILED, detail=str(exc))
            )

    async with anyio.create_task_group() as group:
        for gate in gates:
            group.start_soon(run, gate)
    return summarize(results, [(g.name, s.name) for g in gates for s in g.steps])


async def run_gate(
    source: dagger.Directory, gate: Gate, entries: Sequence[str], *, reports: bool = False
) -> tuple[list[StepResult], dagger.Container]:
    """Run a gate's steps in one container; return their results and that container.

    With ``reports``, every step that runs leaves a file in /reports: its
    machine-readable report if it has one, else its console output (<step>.txt).
    """
    runner = workspace(source)
    if gate.name == "test":
        runner = with_emulators(runner)
    if reports:
        runner = runner.with_directory(REPORTS, dag.directory())
    results = []
    present = set(entries)
    for step in gate.steps:
        skipped, files = _precheck(gate, step, present, entries)
        if skipped is not None:
            results.append(skipped)
            continue
        report = step.report if reports else None
        if report is not None:
            runner = exec_for_report(runner, step, files)
        else:
            runner = runner.with_exec(
                list(step.command(files, pipeline=True)), expect=ReturnType.ANY
            )
        output = await runner.combined_output()
        exit_code = await runner.exit_code()
        # A tool that exits 0 whatever it found: its report tells.
        if report is not None and not report.exit_status and exit_code == 0:
            findings = await runner.file(f"{REPORTS}/{report.file}").contents()
            results.append(
                StepResult.from_report(
                    gate=gate.name,
                    step=step.name,
                    exit_code=exit_code,
                    output=output,
                    findings=sarif_results(findings),
                    report=report.file,
                )
            )
        else:
            results.append(
                StepResult.from_exit(
                    gate=gate.name, step=step.name, exit_code=exit_code, output=output
                )
            )
        if reports and report is None:
            runner = runner.with_new_file(f"{REPORTS}/{step.name.replace(' ', '-')}.txt", output)
    return results, runner


def _precheck(
    gate: Gate, step: Step, present: set[str], entries: Sequence[str]
) -> tuple[StepResult | None, Sequence[str]]:
    """Why ``step`` does not run (a result), or the files it checks."""
    if not step.pipeline:
        return StepResult(gate=gate.name, step=step.name, outcome=Outcome.SKIPPED), ()
    missing = [path for path in step.requires if path not in present]
    if missing:
        detail = f"{', '.join(missing)} not present"
        return _nothing(gate, step, detail), ()
    if step.files is None:
        return None, ()
    files = step.files.select(entries)
    if not files:
        return _nothing(gate, step, f"no files match {step.files.describe()}"), ()
    return None, files


def _nothing(gate: Gate, step: Step, detail: str) -> StepResult:
    return StepResult(
        gate=gate.name, step=step.name, outcome=Outcome.NOTHING_TO_CHECK, detail=detail
    )


def exec_for_report(
    container: dagger.Container, step: Step, files: Sequence[str] = ()
) -> dagger.Container:
    """Run a step's report variant: its report lands in /reports, whatever it found."""
    if step.report is None:
        msg = f"step {step.name!r} has no report variant"
        raise ValueError(msg)
    path = f"{REPORTS}/{step.report.file}"
    return container.with_exec(
        list(step.report_command(files, path=path, pipeline=True)),
        expect=ReturnType.ANY,
        redirect_stdout=path if step.report.stdout else "",
    )
