"""Mutation testing of the delivery library and the release tool: ``make mutation [PATHS=...]
[SAMPLE=N]``.

mutmut (pinned in the dev dependency group) names mutants after the module path
relative to the directory it runs in, less a leading ``src.``; our packages live in
``ci/src``, so mutmut runs in a staging copy per pass (``build/mutation/<pass>``) whose
``src/`` holds the backend and both packages, with ``ci/src`` pointing back at it so subprocesses started by the
tests (``python -m clarity_delivery``, ``python -m clarity_release``) import the mutated code
too. Two passes, because a mutant killed by any test is killed by the suite and the cheap tests
kill most of them: first the unit tier of both packages and the release workflows (about ten
mutants a second), then, for what that pass left alive only, the delivery tests that run
on the Cloud Run double's fixture app (seconds a test). ``tests/delivery/test_rollouts.py``
(the real backend on the emulators, minutes for the tier) is left out of both, or a surviving
mutant would cost minutes. The score is therefore a lower bound for the whole suite.

Writes ``reports/mutation/score.md`` (killed / total per module, with the targets) and
``reports/mutation/survivors.txt`` (every surviving mutant and its diff). ``PATHS`` narrows
the run to some modules, e.g. ``make mutation PATHS="settings plan"``; ``SAMPLE=N`` has the
second pass try a reproducible sample of N mutants per module (``SAMPLE=0``: the first pass
only), the report estimating from it; ``--resume`` (in PATHS) continues an interrupted run
instead of starting over, ``--report-only`` writes the reports from the results so far.
"""

from __future__ import annotations

import argparse
import os
import random
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
BUILD = REPO / "build" / "mutation"
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
UNIT_TESTS = (
    "tests/unit/delivery",
    "tests/workflows/test_release.py",
    "tests/workflows/test_release_edges.py",
)
DOUBLE_TESTS = (
    *UNIT_TESTS,
    "tests/delivery/test_decisions.py",
    "tests/delivery/test_failure_paths.py",
    "tests/delivery/test_credentials.py",
)
# (name, what it runs): each pass has its own staging copy, build/mutation/<name>.
PASSES = (("unit", UNIT_TESTS), ("double", DOUBLE_TESTS))
# Left out of the later passes: it compares latencies under a load of its own, and with
# several mutants tested at once the machine's load would decide it, not the mutant (the first
# pass, one mutant per core, runs it).
NOT_IN_LATER_PASSES = ("tests/unit/delivery/test_performance_gate.py",)
KILLED = {"killed", "timeout"}
SAMPLE_SEED = 19
# The later passes' tests mostly wait (operations, Ready, analysis rounds: a test uses a tenth
# of a core), so they run this many mutants at once; the first pass one per core (mutmut's
# default).
LATER_PASS_CHILDREN = 4


def _stage(staging: Path, tests: Sequence[str], ignored: Sequence[str] = ()) -> None:
    """A fresh staging copy: src/ (backend and both packages), tests/, settings, pyproject."""
    shutil.rmtree(staging, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "src", staging / "src", ignore=ignore)
    for package in PACKAGES:
        shutil.copytree(REPO / "ci" / "src" / package, staging / "src" / package, ignore=ignore)
    shutil.copytree(REPO / "tests", staging / "tests", ignore=ignore)
    # The whole Terraform tree: the delivery tests' stage evaluates what environments/dev
    # grants and declares (tfparse reads the stack and the modules it calls).
    shutil.copytree(
        REPO / "terraform",
        staging / "terraform",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".terraform", "*.tfstate*"),
    )
    pyproject = (REPO / "pyproject.toml").read_text()
    pyproject = pyproject.replace(
        'pythonpath = ["src", "ci/src", "."]', 'pythonpath = ["src", "."]'
    )
    selection = ", ".join(f'"{t}"' for t in tests)
    pyproject += (
        "\n[tool.mutmut]\n"
        f"source_paths = [{', '.join(f'{chr(34)}src/{p}{chr(34)}' for p in PACKAGES)}]\n"
        'also_copy = ["terraform"]\n'
        f"pytest_add_cli_args_test_selection = [{selection}]\n"
        f"pytest_add_cli_args = [{', '.join(repr(a) for a in _pytest_args(ignored))}]\n"
    )
    tomllib.loads(pyproject)  # fail here, not inside mutmut, on a broken config
    (staging / "pyproject.toml").write_text(pyproject)
    # Subprocesses put <root>/ci/src on PYTHONPATH: make that the mutated src/.
    (staging / "mutants" / "ci").mkdir(parents=True)
    (staging / "mutants" / "ci" / "src").symlink_to("../src")


def _pytest_args(ignored: Sequence[str]) -> list[str]:
    return ["-p", "no:cacheprovider", "-q", *(f"--ignore={path}" for path in ignored)]


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


def _results(staging: Path) -> dict[str, str]:
    """Every mutant of a staging copy and its status so far ("not checked" if not run yet)."""
    if not (staging / "mutants").is_dir():
        return {}
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=staging,
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


def _merge(passes: Sequence[dict[str, str]]) -> dict[str, tuple[str, int]]:
    """Each mutant's verdict and the pass that gave it: the first pass that killed it, else
    the last pass that checked it."""
    merged: dict[str, tuple[str, int]] = {}
    for index, results in enumerate(passes):
        for name, status in results.items():
            known = merged.get(name)
            if known and (known[0] in KILLED or status == "not checked"):
                continue
            merged[name] = (status, index)
    return merged


def _alive(merged: dict[str, tuple[str, int]], patterns: Sequence[str]) -> list[str]:
    """The mutants a later pass must try: checked, not killed, selected by ``patterns``."""
    return sorted(
        name
        for name, (status, _) in merged.items()
        if status not in KILLED | {"skipped", "not checked"} and _selected(name, patterns)
    )


def _selected(name: str, patterns: Sequence[str]) -> bool:
    return not patterns or any(_glob(name, p) for p in patterns)


def _module(mutant: str) -> str:
    return re.sub(r"\.x[_ǁ].*$", "", mutant)


def _report(merged: dict[str, tuple[str, int]], seconds: float, patterns: Sequence[str]) -> str:
    per_module: dict[str, Counter[str]] = {}
    for name, (status, index) in merged.items():
        if not _selected(name, patterns) or status == "not checked":
            continue
        counts = per_module.setdefault(_module(name), Counter())
        counts[status] += 1
        if status in KILLED:
            counts[f"killed in {PASSES[index][0]}"] += 1
        if index == 0 and status in KILLED:
            continue
        counts["left alive by the first pass"] += 1
        if index > 0:
            counts["checked by a later pass"] += 1
            counts["killed by a later pass"] += status in KILLED
    passes = " / ".join(name for name, _ in PASSES)
    lines = [
        "# Mutation score",
        "",
        f"`make mutation{' PATHS=' + chr(34) + ' '.join(patterns) + chr(34) if patterns else ''}`"
        f" (mutmut, {seconds / 60:.1f} min for this invocation). Killed = killed or timed out, in",
        f"the {PASSES[0][0]} pass (the unit tier and the release workflows) or, for what it left",
        f"alive, in the {PASSES[1][0]} pass (adds the delivery tests on the Cloud Run double's",
        "fixture app); the rest survived both, had no test, or were suspicious. Mutants not",
        "checked yet (an interrupted run; continue with --resume) are left out.",
        "",
        "Where a later pass tried only a sample (--sample N) of the mutants the first pass left",
        "alive, `estimate` scales the sample's kill rate to all of them, with the 95 % (Wilson)",
        "interval of that rate, and the target is judged on it; `score` counts the mutants it",
        "did not try as survivors.",
        "",
        f"| module | mutants | killed ({passes}) | survived | no tests | score | estimate | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for module in sorted(per_module):
        lines.append(_row(module, per_module[module], _target(module)))
    for target, goal in sorted(TARGETS.items()):
        members = [m for m in per_module if m == target or m.startswith(target + ".")]
        if len(members) > 1:  # a package with one target for all its modules
            package = sum((per_module[m] for m in members), Counter[str]())
            lines.append(_row(f"**{target}** (package)", package, goal))
    lines.append(_row("**all**", sum(per_module.values(), Counter[str]()), None))
    return "\n".join(lines) + "\n"


_TALLIES = (
    "killed in ",
    "left alive by the first pass",
    "checked by a later pass",
    "killed by a later pass",
)


def _row(module: str, counts: Counter[str], target: float | None) -> str:
    mutants = sum(counts[s] for s in counts if not s.startswith(_TALLIES)) - counts["skipped"]
    killed = sum(counts[s] for s in KILLED)
    by_pass = " / ".join(str(counts[f"killed in {name}"]) for name, _ in PASSES)
    score = killed / mutants if mutants else 0.0
    alive, checked = counts["left alive by the first pass"], counts["checked by a later pass"]
    estimate, judged = "", score
    if checked and checked < alive:
        first, later = killed - counts["killed by a later pass"], counts["killed by a later pass"]
        low, high = ((first + rate * alive) / mutants for rate in _wilson(later, checked))
        judged = (first + later / checked * alive) / mutants
        estimate = f"{judged:.1%} ({checked} of {alive} sampled; 95 % {low:.0%}–{high:.0%})"
    goal = f"{target:.0%}" if target else ""
    met = "" if not target else (" ok" if judged >= target else " below")
    if target and estimate:
        met += " (estimate)"
    return (
        f"| {module} | {mutants} | {killed} ({by_pass}) | {counts['survived']} "
        f"| {counts['no tests']} | {score:.1%} | {estimate} | {goal}{met} |"
    )


def _wilson(killed: int, tried: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a kill rate seen in a sample."""
    rate = killed / tried
    centre = rate + z * z / (2 * tried)
    spread = z * (rate * (1 - rate) / tried + z * z / (4 * tried * tried)) ** 0.5
    scale = 1 + z * z / tried
    return max(0.0, (centre - spread) / scale), min(1.0, (centre + spread) / scale)


def _glob(name: str, pattern: str) -> bool:
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), name) is not None


def _survivors(merged: dict[str, tuple[str, int]], patterns: Sequence[str]) -> str:
    """Each surviving mutant with its diff; those no test reached by name only (their
    functions are the gap, and `mutmut show` costs a second a mutant)."""
    chunks, untested = [], []
    for name, (status, index) in sorted(merged.items()):
        if status in KILLED or status in {"skipped", "not checked"}:
            continue
        if not _selected(name, patterns):
            continue
        if status == "no tests":
            untested.append(name)
            continue
        diff = subprocess.run(
            [sys.executable, "-m", "mutmut", "show", name],
            cwd=BUILD / PASSES[index][0],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        chunks.append(f"## {name} ({status}, {PASSES[index][0]} pass)\n{diff.strip()}\n")
    if untested:
        chunks.append("## no test reaches these mutants\n" + "\n".join(untested) + "\n")
    return "\n".join(chunks) or "no surviving mutants\n"


def _mutmut(staging: Path, names: Sequence[str], children: int | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    argv = [sys.executable, "-m", "mutmut", "run", *names]
    if children is not None:
        argv[4:4] = ["--max-children", str(children)]
    return subprocess.run(argv, cwd=staging, env=env, check=False).returncode


def _sampled(names: Sequence[str], per_module: int, seed: int = SAMPLE_SEED) -> list[str]:
    """At most ``per_module`` of each module's ``names``, drawn reproducibly (seeded by
    ``seed`` and the module's name)."""
    by_module: dict[str, list[str]] = {}
    for name in sorted(names):
        by_module.setdefault(_module(name), []).append(name)
    chosen: list[str] = []
    for module, found in sorted(by_module.items()):
        rng = random.Random(f"{seed}-{module}")  # noqa: S311 (a reproducible draw)
        chosen += found if len(found) <= per_module else rng.sample(found, per_module)
    return sorted(chosen)


def _run_passes(
    patterns: Sequence[str],
    *,
    resume: bool,
    sample: int | None,
    seed: int = SAMPLE_SEED,
    children: int = LATER_PASS_CHILDREN,
) -> tuple[int, list[dict[str, str]]]:
    """Run each pass on what the passes before it left alive: mutmut's worst exit status, and
    each pass's results."""
    returncode = 0
    done: list[dict[str, str]] = []
    for index, (name, tests) in enumerate(PASSES):
        staging = BUILD / name
        fresh = not (resume and (staging / "mutants").is_dir())
        before = {} if fresh else _results(staging)
        if index == 0 and fresh:
            names = list(patterns)  # no pattern: every mutant
        elif index == 0:
            # mutmut reruns every mutant a pattern names: name the unchecked ones instead.
            names = [
                n for n, st in before.items() if st == "not checked" and _selected(n, patterns)
            ]
        else:
            alive = _alive(_merge(done), patterns)
            if sample is not None:
                alive = _sampled(alive, sample, seed)
            names = [n for n in alive if before.get(n, "not checked") == "not checked"]
        if names or (index == 0 and fresh):
            print(f"make mutation: {name} pass ({', '.join(tests)})", flush=True)
            if fresh:
                _stage(staging, tests, NOT_IN_LATER_PASSES if index else ())
            returncode = max(returncode, _mutmut(staging, names, children if index else None))
            done.append(_results(staging))
        else:
            print(f"make mutation: {name} pass has nothing left to check", flush=True)
            done.append(before)
    return returncode, done


def main(argv: Sequence[str] | None = None) -> int:
    """Stage, run mutmut's passes, write the reports; returns mutmut's worst exit status."""
    parser = argparse.ArgumentParser(prog="make mutation", description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", help="modules or files to mutate (default: all)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the staging copies and mutmut's results so far (an interrupted run goes on)",
    )
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help=(
            "the later passes try at most N of each module's mutants the first pass left alive "
            "(drawn reproducibly; 0: the first pass only); the report then estimates the "
            "module's score from them"
        ),
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=SAMPLE_SEED,
        help=f"seeds the sample's draw (default {SAMPLE_SEED}): another seed, another sample",
    )
    parser.add_argument(
        "--children",
        type=int,
        default=LATER_PASS_CHILDREN,
        metavar="N",
        help=(
            "mutants the later passes test at once (default %(default)s: their tests mostly "
            "wait); the first pass runs one per core"
        ),
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="write the reports from the results so far, without running mutmut",
    )
    args = parser.parse_args(argv)
    patterns = _patterns(args.paths)
    started = time.monotonic()
    if args.report_only:
        returncode, results = 0, [_results(BUILD / name) for name, _ in PASSES]
    else:
        returncode, results = _run_passes(
            patterns,
            resume=args.resume,
            sample=args.sample,
            seed=args.seed,
            children=args.children,
        )
    seconds = time.monotonic() - started
    merged = _merge(results)
    REPORTS.mkdir(parents=True, exist_ok=True)
    score = _report(merged, seconds, patterns)
    (REPORTS / "score.md").write_text(score)
    (REPORTS / "survivors.txt").write_text(_survivors(merged, patterns))
    print(score)
    print(f"survivors: {REPORTS / 'survivors.txt'}")
    return returncode


if __name__ == "__main__":
    sys.exit(main())
