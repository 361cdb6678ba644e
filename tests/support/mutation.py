"""Mutation testing of the delivery library and the release tool: ``make mutation [PATHS=...]``.

mutmut (pinned in the dev dependency group) names mutants after the module path
relative to the directory it runs in, less a leading ``src.``; our packages live in
``ci/src``, so mutmut runs in a staging copy (``build/mutation``) whose ``src/`` holds the
backend and both packages, with ``ci/src`` pointing back at it so subprocesses started by the
tests (``python -m clarity_delivery``, ``python -m clarity_release``) import the mutated code
too. The tests are the unit tier of both packages and the delivery tests that run on the Cloud
Run double's fixture app (seconds each); ``tests/delivery/test_rollouts.py`` (the real backend on
the emulators, minutes for the tier) is left out, or a surviving mutant would cost minutes.

Writes ``reports/mutation/score.md`` (killed / total per module, with the targets) and
``reports/mutation/survivors.txt`` (every surviving mutant and its diff). ``PATHS`` narrows
the run to some modules, e.g. ``make mutation PATHS="settings plan"``; ``--resume`` (in PATHS)
continues an interrupted run instead of starting over.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

__all__ = ["PACKAGES", "TARGETS", "main"]

REPO = Path(__file__).resolve().parents[2]
STAGING = REPO / "build" / "mutation"
REPORTS = REPO / "reports" / "mutation"
PACKAGES = ("clarity_delivery", "clarity_release")
# The targets: killed share per module, or per package for every module in it. "Health" is
# the verdict (the pure rule that judges a step's probes and metrics: analysis/verdict.py);
# "rollout" is the engine's package (rollout/), "the Cloud Run seam" _cloudrun.py.
TARGETS = {
    "clarity_delivery.settings": 0.90,
    "clarity_delivery.plan": 0.90,
    "clarity_delivery.analysis.verdict": 0.90,
    "clarity_delivery._state": 0.90,
    "clarity_delivery.rollout": 0.80,
    "clarity_delivery._cloudrun": 0.80,
}
TESTS = (
    "tests/unit/delivery",
    "tests/delivery/test_decisions.py",
    "tests/delivery/test_failure_paths.py",
    "tests/delivery/test_credentials.py",
    "tests/workflows/test_release.py",
    "tests/workflows/test_release_edges.py",
)
KILLED = {"killed", "timeout"}


def _stage() -> None:
    """A fresh staging copy: src/ (backend and both packages), tests/, settings, pyproject."""
    shutil.rmtree(STAGING, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "src", STAGING / "src", ignore=ignore)
    for package in PACKAGES:
        shutil.copytree(REPO / "ci" / "src" / package, STAGING / "src" / package, ignore=ignore)
    shutil.copytree(REPO / "tests", STAGING / "tests", ignore=ignore)
    # The whole Terraform tree: the delivery tests' stage evaluates what environments/dev
    # grants and declares (tfparse reads the stack and the modules it calls).
    shutil.copytree(
        REPO / "terraform",
        STAGING / "terraform",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".terraform", "*.tfstate*"),
    )
    pyproject = (REPO / "pyproject.toml").read_text()
    pyproject = pyproject.replace(
        'pythonpath = ["src", "ci/src", "."]', 'pythonpath = ["src", "."]'
    )
    selection = ", ".join(f'"{t}"' for t in TESTS)
    pyproject += (
        "\n[tool.mutmut]\n"
        f"source_paths = [{', '.join(f'{chr(34)}src/{p}{chr(34)}' for p in PACKAGES)}]\n"
        'also_copy = ["terraform"]\n'
        f"pytest_add_cli_args_test_selection = [{selection}]\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n'
    )
    tomllib.loads(pyproject)  # fail here, not inside mutmut, on a broken config
    (STAGING / "pyproject.toml").write_text(pyproject)
    # Subprocesses put <root>/ci/src on PYTHONPATH: make that the mutated src/.
    (STAGING / "mutants" / "ci").mkdir(parents=True)
    (STAGING / "mutants" / "ci" / "src").symlink_to("../src")


def _patterns(paths: Sequence[str]) -> list[str]:
    """Mutant-name globs for modules, packages or files (``settings``, ``verdict``,
    ``rollout``, ``ci/src/clarity_delivery/plan.py``)."""
    patterns = []
    for path in paths:
        modules = _modules(path)
        if not modules:
            msg = f"no module or package {path!r} in {', '.join(PACKAGES)}"
            raise SystemExit(msg)
        patterns += [f"{m}.*" for m in modules]
    return patterns


def _modules(path: str) -> list[str]:
    """The dotted names ``path`` means: a file, or every module or package of that name."""
    root = REPO / "ci" / "src"
    given = (REPO / path).resolve()
    if given.is_file() and given.suffix == ".py":
        return [".".join(given.relative_to(root).with_suffix("").parts)]
    name = Path(path).stem
    found = [
        p
        for package in PACKAGES
        for p in sorted((root / package).rglob(name + "*"))
        if "__pycache__" not in p.parts
        and ((p.is_file() and p.name == f"{name}.py") or (p.is_dir() and p.name == name))
    ]
    return [".".join(p.relative_to(root).with_suffix("").parts) for p in found]


def _target(module: str) -> float | None:
    """The target of ``module``: its own, or its package's."""
    for name, target in TARGETS.items():
        if module == name or module.startswith(name + "."):
            return target
    return None


def _results() -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=STAGING,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            found[name] = status.strip()
    return found


def _module(mutant: str) -> str:
    return re.sub(r"\.x[_ǁ].*$", "", mutant)


def _report(results: dict[str, str], seconds: float, patterns: Sequence[str]) -> str:
    per_module: dict[str, Counter[str]] = {}
    for name, status in results.items():
        if patterns and not any(_glob(name, p) for p in patterns):
            continue
        if status != "not checked":
            per_module.setdefault(_module(name), Counter())[status] += 1
    lines = [
        "# Mutation score",
        "",
        f"`make mutation{' PATHS=' + chr(34) + ' '.join(patterns) + chr(34) if patterns else ''}`"
        f" (mutmut, {seconds / 60:.1f} min for this invocation). Killed = killed or timed out;",
        "the rest survived, had no test, or were suspicious. Mutants not checked yet (an",
        "interrupted run; continue with --resume) are left out.",
        "",
        "| module | mutants | killed | survived | no tests | score | target |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    total = Counter[str]()
    for module in sorted(per_module):
        counts = per_module[module]
        total += counts
        lines.append(_row(module, counts, _target(module)))
    lines.append(_row("**all**", total, None))
    return "\n".join(lines) + "\n"


def _row(module: str, counts: Counter[str], target: float | None) -> str:
    mutants = sum(counts.values()) - counts["skipped"] - counts["not checked"]
    killed = sum(counts[s] for s in KILLED)
    score = killed / mutants if mutants else 0.0
    goal = f"{target:.0%}" if target else ""
    return (
        f"| {module} | {mutants} | {killed} | {counts['survived']} | {counts['no tests']} "
        f"| {score:.1%} | {goal} |"
    )


def _glob(name: str, pattern: str) -> bool:
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), name) is not None


def _survivors(results: dict[str, str], patterns: Sequence[str]) -> str:
    chunks = []
    for name, status in sorted(results.items()):
        if status in KILLED or status in {"skipped", "not checked"}:
            continue
        if patterns and not any(_glob(name, p) for p in patterns):
            continue
        diff = subprocess.run(
            [sys.executable, "-m", "mutmut", "show", name],
            cwd=STAGING,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        chunks.append(f"## {name} ({status})\n{diff.strip()}\n")
    return "\n".join(chunks) or "no surviving mutants\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Stage, run mutmut, write the reports; returns mutmut's exit status."""
    parser = argparse.ArgumentParser(prog="make mutation", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", help="modules or files to mutate (default: all)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the staging copy and mutmut's results so far (an interrupted run goes on)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="write the reports from the results so far, without running mutmut",
    )
    args = parser.parse_args(argv)
    patterns = _patterns(args.paths)
    started = time.monotonic()
    returncode = 0
    if not args.report_only:
        if not (args.resume and (STAGING / "mutants").is_dir()):
            _stage()
        env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
        returncode = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", *patterns], cwd=STAGING, env=env, check=False
        ).returncode
    seconds = time.monotonic() - started
    results = _results()
    REPORTS.mkdir(parents=True, exist_ok=True)
    score = _report(results, seconds, patterns)
    (REPORTS / "score.md").write_text(score)
    (REPORTS / "survivors.txt").write_text(_survivors(results, patterns))
    print(score)
    print(f"survivors: {REPORTS / 'survivors.txt'}")
    return returncode


if __name__ == "__main__":
    sys.exit(main())
