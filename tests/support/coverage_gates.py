"""Coverage gates per package, from the data ``make test`` collected: ``python -m tests.support.coverage_gates``.

Branch coverage, subprocesses included (``[tool.coverage.run]`` in pyproject.toml). Each package
we ship has its own floor, so a well-tested backend cannot hide an untested delivery library.
The Dagger module is reported on its own line. Its functions run for real against the engine
double (tests/doubles/dagger_engine), so they are measured like any other code; a function
that only a real engine could run would carry ``# pragma: engine-only`` and be excluded
(counted below; none does today).

Exit status: 0 every gate met, 1 a gate missed, 2 no coverage data.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import coverage
from coverage.exceptions import NoDataError

__all__ = ["GATES", "Gate", "main"]

REPO = Path(__file__).resolve().parents[2]
_ENGINE_ONLY = re.compile(r"^\s*(?:async\s+)?def \w+\(.*#\s*pragma: engine-only", re.MULTILINE)


@dataclass(frozen=True)
class Gate:
    """A package (by path patterns) and the branch coverage it must reach."""

    name: str
    include: tuple[str, ...]
    floor: float


GATES: tuple[Gate, ...] = (
    Gate("backend (src/)", ("src/*",), 90.0),
    Gate(
        "delivery library + release tool",
        ("ci/src/clarity_delivery/*", "ci/src/clarity_release/*"),
        95.0,
    ),
    Gate("Dagger module, engine-only functions excluded", ("ci/src/clarity/*",), 95.0),
)


def _engine_only_functions() -> int:
    return sum(
        len(_ENGINE_ONLY.findall(path.read_text()))
        for path in (REPO / "ci" / "src" / "clarity").glob("*.py")
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Print one line per gate; return non-zero if any is missed."""
    data_file = (argv or [str(REPO / ".coverage")])[0]
    cov = coverage.Coverage(data_file=data_file, config_file=str(REPO / "pyproject.toml"))
    cov.load()
    missed = []
    print("coverage gates (branch coverage, subprocesses included):")
    for gate in GATES:
        try:
            percent = cov.report(
                include=[str(REPO / pattern) for pattern in gate.include],
                file=io.StringIO(),
                show_missing=False,
            )
        except NoDataError:
            print(f"  {gate.name}: no coverage data; run the suite with --cov first")
            return 2
        ok = percent >= gate.floor
        print(
            f"  {gate.name:48} {percent:5.1f} % (gate {gate.floor:.0f} %) {'ok' if ok else 'MISSED'}"
        )
        if not ok:
            missed.append(gate.name)
    print(f"  Dagger functions excluded as engine-only: {_engine_only_functions()}")
    if missed:
        print(f"coverage gate missed: {', '.join(missed)} (see the per-file table above)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
