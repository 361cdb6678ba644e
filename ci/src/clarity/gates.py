"""Run the quality gates on the host: ``python -m clarity.gates [all|GATE...]``.

This is what ``make ci`` runs when no Dagger engine is usable, and what ``make lint``,
``make typecheck`` and ``make security`` run. The commands come from
:mod:`clarity._gates`, the same definitions the Dagger functions execute in containers.
Steps run concurrently (bounded by ``--jobs``); progress is printed as each step ends,
then one summary lists every failure. Exit status: 0 all passed, 1 a step failed,
2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess  # nosec B404 - argv lists from clarity._gates, never a shell
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Final, TextIO

import anyio

from clarity._gates import GATE_NAMES, Gate, Step, select_gates
from clarity._report import Outcome, StepResult, Summary, summarize

__all__ = ["list_files", "main", "run_gates"]

_PRUNED: Final = frozenset(
    {
        ".git",
        ".venv",
        ".tools",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".terraform",
        "reports",
        "build",
        "dist",
    }
)


def list_files(root: Path) -> tuple[str, ...]:
    """Every file under ``root`` (relative, POSIX), skipping dependency and cache dirs."""
    found: list[str] = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in _PRUNED and not d.endswith(".egg-info"))
        relative = Path(directory).relative_to(root)
        found.extend((relative / name).as_posix() for name in files)
    return tuple(found)


def _search_path() -> str:
    # The tools live next to the interpreter running us (the project's .venv); uv itself
    # (checkov runs through `uv run`) lives in .tools/, which `uv run` names in UV.
    directories = [str(Path(sys.executable).parent)]
    if uv := os.environ.get("UV"):
        directories.append(str(Path(uv).parent))
    return os.pathsep.join([*directories, os.environ.get("PATH", "")])


def _resolve(argv: Sequence[str]) -> tuple[str, ...] | None:
    executable = shutil.which(argv[0], path=_search_path())
    return None if executable is None else (executable, *argv[1:])


async def _run_step(
    root: Path,
    gate: Gate,
    step: Step,
    files: Sequence[str],
    limiter: anyio.CapacityLimiter,
) -> StepResult:
    def result(outcome: Outcome, detail: str) -> StepResult:
        return StepResult(gate=gate.name, step=step.name, outcome=outcome, detail=detail)

    if not step.host:
        return result(Outcome.SKIPPED, step.not_on_host)
    missing = [path for path in step.requires if not (root / path).exists()]
    if missing:
        return result(Outcome.NOTHING_TO_CHECK, f"{', '.join(missing)} not present")
    selected: Sequence[str] = ()
    if step.files is not None:
        selected = step.files.select(files)
        if not selected:
            return result(Outcome.NOTHING_TO_CHECK, f"no files match {step.files.describe()}")
    argv = _resolve(step.command(selected, pipeline=False))
    if argv is None:
        return StepResult(
            gate=gate.name,
            step=step.name,
            outcome=Outcome.FAILED,
            detail=f"{step.argv[0]} is not installed: run `make sync` (uv sync --locked)",
        )
    async with limiter:
        started = time.monotonic()
        completed = await anyio.run_process(
            argv,
            cwd=root,
            check=False,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PATH": _search_path()},
        )
        seconds = time.monotonic() - started
    return StepResult.from_exit(
        gate=gate.name,
        step=step.name,
        exit_code=completed.returncode,
        output=completed.stdout.decode(errors="replace"),
        seconds=seconds,
    )


async def run_gates(
    root: Path,
    gates: Sequence[Gate],
    *,
    jobs: int,
    progress: Callable[[StepResult], None] = lambda _: None,
) -> Summary:
    """Run every step of ``gates`` under ``root`` concurrently and summarize them all."""
    files = list_files(root)
    limiter = anyio.CapacityLimiter(max(1, jobs))
    results: list[StepResult] = []

    async def one(gate: Gate, step: Step) -> None:
        outcome = await _run_step(root, gate, step, files, limiter)
        results.append(outcome)
        progress(outcome)

    async with anyio.create_task_group() as group:
        for gate, step in _steps(gates):
            group.start_soon(one, gate, step)
    return summarize(results, [(g.name, s.name) for g, s in _steps(gates)])


def _steps(gates: Sequence[Gate]) -> Iterator[tuple[Gate, Step]]:
    for gate in gates:
        for step in gate.steps:
            yield gate, step


def _printer(stream: TextIO) -> Callable[[StepResult], None]:
    def show(result: StepResult) -> None:
        timing = f" in {result.seconds:.1f}s" if result.seconds else ""
        detail = f": {result.detail}" if result.outcome is not Outcome.FAILED else ""
        print(f"==> {result.label}: {result.outcome.value}{timing}{detail}", file=stream)
        stream.flush()

    return show


def main(argv: Sequence[str] | None = None, *, stream: TextIO = sys.stdout) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m clarity.gates",
        description="Run the quality gates here: the same commands as `dagger call ci`.",
    )
    parser.add_argument(
        "gates",
        nargs="*",
        default=["all"],
        metavar="GATE",
        help=f"all (default) or any of: {', '.join(GATE_NAMES)}",
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 2, help="steps run at the same time"
    )
    args = parser.parse_args(argv)
    try:
        gates = select_gates(args.gates)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    root = args.root.resolve()
    if not (root / "pyproject.toml").is_file():
        print(f"error: {root} is not the repository root (no pyproject.toml)", file=sys.stderr)
        return 2
    names = ", ".join(gate.name for gate in gates)
    print(f"==> running {names} on the host with {args.jobs} job(s)", file=stream)
    summary = anyio.run(lambda: run_gates(root, gates, jobs=args.jobs, progress=_printer(stream)))
    print("", summary.render(), sep="\n", file=stream)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
