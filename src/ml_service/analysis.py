"""A deterministic, explainable summary of one user's samples.

Rules (all days are UTC calendar days):

* steps and active energy: summed per day of the sample's ``start_date``;
* sleep: ``sleep_analysis`` minutes summed per day of the sample's ``end_date`` (the morning
  the night ends);
* heart: the mean ``resting_heart_rate`` and mean ``heart_rate`` per day of ``start_date``.

Averages are taken over the days that have data for that measure. Flags compare averages
with fixed thresholds and say so in words. Sums use ``math.fsum`` over sorted values, so the
result does not depend on the order the samples arrive in.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from clarity_common.samples import (
    EXAMPLE_SAMPLES,
    MAX_SAMPLES_PER_BATCH,
    HealthSample,
    SampleType,
    UserId,
)

__all__ = [
    "ELEVATED_RESTING_HEART_RATE",
    "LOW_ACTIVITY_STEPS",
    "METHOD",
    "SHORT_SLEEP_MINUTES",
    "AnalysisRequest",
    "Averages",
    "DaySummary",
    "Flag",
    "Summary",
    "summarize",
]

METHOD = "rules-v1"
LOW_ACTIVITY_STEPS = 5_000
SHORT_SLEEP_MINUTES = 420
ELEVATED_RESTING_HEART_RATE = 90


class AnalysisRequest(BaseModel):
    """``POST /v1/analyze``: one user's samples."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"user_id": "user-1", "samples": EXAMPLE_SAMPLES}]},
    )

    user_id: UserId
    samples: list[HealthSample] = Field(min_length=1, max_length=MAX_SAMPLES_PER_BATCH)


class DaySummary(BaseModel):
    """One UTC day; a measure is null when the day has no sample of it."""

    date: date
    steps: int | None = None
    active_energy_kcal: float | None = None
    sleep_minutes: float | None = None
    resting_heart_rate: float | None = None
    average_heart_rate: float | None = None


class Averages(BaseModel):
    """Averages over the days that have data for each measure."""

    steps_per_day: float | None = None
    sleep_minutes_per_night: float | None = None
    resting_heart_rate: float | None = None


class Flag(BaseModel):
    """A finding, with the numbers and the threshold behind it."""

    code: str
    explanation: str


class Summary(BaseModel):
    """The analysis of one user's samples."""

    user_id: str
    method: str = METHOD
    sample_count: int
    days: list[DaySummary]
    averages: Averages
    flags: list[Flag]


def _mean(values: Iterable[float]) -> float | None:
    ordered = sorted(values)
    return math.fsum(ordered) / len(ordered) if ordered else None


def _total(values: Iterable[float]) -> float | None:
    ordered = sorted(values)
    return math.fsum(ordered) if ordered else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def summarize(user_id: str, samples: Sequence[HealthSample]) -> Summary:
    """Summarize ``samples`` per day, average them and raise flags (see the module docstring)."""
    per_day: dict[date, dict[SampleType, list[float]]] = defaultdict(lambda: defaultdict(list))
    for sample in samples:
        moment = (
            sample.end_date
            if sample.sample_type is SampleType.SLEEP_ANALYSIS
            else sample.start_date
        )
        per_day[moment.date()][sample.sample_type].append(sample.value)

    days = []
    for day in sorted(per_day):
        values = per_day[day]
        steps = _total(values.get(SampleType.STEP_COUNT, []))
        days.append(
            DaySummary(
                date=day,
                steps=None if steps is None else round(steps),
                active_energy_kcal=_round(_total(values.get(SampleType.ACTIVE_ENERGY_BURNED, []))),
                sleep_minutes=_round(_total(values.get(SampleType.SLEEP_ANALYSIS, []))),
                resting_heart_rate=_round(_mean(values.get(SampleType.RESTING_HEART_RATE, []))),
                average_heart_rate=_round(_mean(values.get(SampleType.HEART_RATE, []))),
            )
        )

    averages = Averages(
        steps_per_day=_round(_mean(day.steps for day in days if day.steps is not None)),
        sleep_minutes_per_night=_round(
            _mean(day.sleep_minutes for day in days if day.sleep_minutes is not None)
        ),
        resting_heart_rate=_round(
            _mean(day.resting_heart_rate for day in days if day.resting_heart_rate is not None)
        ),
    )
    return Summary(
        user_id=user_id,
        sample_count=len(samples),
        days=days,
        averages=averages,
        flags=_flags(averages, days),
    )


def _flags(averages: Averages, days: Sequence[DaySummary]) -> list[Flag]:
    flags = []
    step_days = sum(1 for day in days if day.steps is not None)
    if averages.steps_per_day is not None and averages.steps_per_day < LOW_ACTIVITY_STEPS:
        flags.append(
            Flag(
                code="low_activity",
                explanation=(
                    f"{averages.steps_per_day:,.0f} steps per day on average "
                    f"over {step_days} day(s), "
                    f"below {LOW_ACTIVITY_STEPS:,}"
                ),
            )
        )
    nights = sum(1 for day in days if day.sleep_minutes is not None)
    sleep = averages.sleep_minutes_per_night
    if sleep is not None and sleep < SHORT_SLEEP_MINUTES:
        flags.append(
            Flag(
                code="short_sleep",
                explanation=(
                    f"{sleep / 60:.1f} h of sleep per night on average over {nights} night(s), "
                    f"below {SHORT_SLEEP_MINUTES / 60:.0f} h"
                ),
            )
        )
    resting = averages.resting_heart_rate
    if resting is not None and resting > ELEVATED_RESTING_HEART_RATE:
        flags.append(
            Flag(
                code="elevated_resting_heart_rate",
                explanation=(
                    f"resting heart rate averages {resting:.1f} bpm, "
                    f"above {ELEVATED_RESTING_HEART_RATE} bpm"
                ),
            )
        )
    return flags
