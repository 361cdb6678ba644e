"""Results of gate steps and their aggregation into one summary.

Both runners (host and Dagger) turn every step into a :class:`StepResult` and hand the
whole list to :func:`summarize`, so a run always reports *all* failures, not the first.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["Outcome", "StepResult", "Summary", "sarif_results", "summarize", "tail"]

_TAIL_LINES: Final = 60


class Outcome(enum.Enum):
    """How a step ended."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    NOTHING_TO_CHECK = "nothing to check"


def tail(text: str, lines: int = _TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text`` (a step's output can be very long)."""
    kept = text.rstrip().splitlines()
    if len(kept) <= lines:
        return "\n".join(kept)
    return "\n".join([f"... ({len(kept) - lines} earlier lines omitted)", *kept[-lines:]])


def sarif_results(text: str) -> int:
    """How many results (findings) a SARIF 2.1.0 log holds, over all its runs."""
    try:
        log = json.loads(text)
        runs = log["runs"]
        return sum(len(run.get("results") or ()) for run in runs)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        msg = f"not a SARIF log ({exc}); the tool's output is not the report it should be"
        raise ValueError(msg) from exc


@dataclass(frozen=True, kw_only=True)
class StepResult:
    """The outcome of one step of one gate."""

    gate: str
    step: str
    outcome: Outcome
    detail: str = ""
    """Why it was skipped, or the tail of its output when it failed."""
    exit_code: int | None = None
    seconds: float = 0.0

    @classmethod
    def from_exit(
        cls, *, gate: str, step: str, exit_code: int, output: str, seconds: float = 0.0
    ) -> StepResult:
        """A passed or failed result from a finished command."""
        outcome = Outcome.PASSED if exit_code == 0 else Outcome.FAILED
        detail = "" if exit_code == 0 else tail(output)
        return cls(
            gate=gate,
            step=step,
            outcome=outcome,
            detail=detail,
            exit_code=exit_code,
            seconds=seconds,
        )

    @classmethod
    def from_report(
        cls, *, gate: str, step: str, exit_code: int, output: str, findings: int, report: str
    ) -> StepResult:
        """A result for a tool whose report, not its exit code, tells whether it found something."""
        if exit_code != 0 or not findings:
            return cls.from_exit(gate=gate, step=step, exit_code=exit_code, output=output)
        return cls(
            gate=gate,
            step=step,
            outcome=Outcome.FAILED,
            detail=f"{findings} finding(s) in {report}",
            exit_code=exit_code,
        )

    @property
    def label(self) -> str:
        """``gate / step``."""
        return f"{self.gate} / {self.step}"


@dataclass(frozen=True)
class Summary:
    """Every step result of a run, in a stable order."""

    results: tuple[StepResult, ...]

    @property
    def failures(self) -> tuple[StepResult, ...]:
        """The failed steps."""
        return tuple(r for r in self.results if r.outcome is Outcome.FAILED)

    @property
    def ok(self) -> bool:
        """True when no step failed (skipped and nothing-to-check steps do not fail)."""
        return not self.failures and bool(self.results)

    def counts(self) -> dict[Outcome, int]:
        """How many steps ended in each outcome."""
        counts = dict.fromkeys(Outcome, 0)
        for result in self.results:
            counts[result.outcome] += 1
        return counts

    def headline(self) -> str:
        """One line: the verdict and the counts."""
        if not self.results:
            return "FAILED: no step ran"
        counts = ", ".join(f"{n} {o.value}" for o, n in self.counts().items() if n)
        verdict = "PASSED" if self.ok else f"FAILED ({len(self.failures)} failing)"
        return f"{verdict}: {counts}"

    def render(self) -> str:
        """The full report: a table of every step, then the output of each failure."""
        lines = [f"Gate summary — {self.headline()}"]
        width = max((len(r.label) for r in self.results), default=0)
        for result in self.results:
            timing = f" {result.seconds:6.1f}s" if result.seconds else ""
            note = ""
            if result.outcome in (Outcome.SKIPPED, Outcome.NOTHING_TO_CHECK) and result.detail:
                note = f"  ({result.detail})"
            lines.append(f"  {result.label:<{width}}  {result.outcome.value:<16}{timing}{note}")
        for result in self.failures:
            code = "" if result.exit_code is None else f" (exit {result.exit_code})"
            lines.extend(("", f"--- {result.label} failed{code}", result.detail or "(no output)"))
        return "\n".join(lines)


def summarize(results: Iterable[StepResult], order: Sequence[tuple[str, str]] = ()) -> Summary:
    """Aggregate results; ``order`` lists ``(gate, step)`` pairs in display order."""
    rank = {key: index for index, key in enumerate(order)}
    ordered = sorted(results, key=lambda r: (rank.get((r.gate, r.step), len(rank)), r.label))
    return Summary(tuple(ordered))
