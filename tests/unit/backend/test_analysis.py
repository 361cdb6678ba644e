"""The ML service's rule-based summary: exact numbers, stable under reordering, explained."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from clarity_common.samples import HealthSample
from ml_service.analysis import METHOD, summarize
from tests.support.samples import DAY, sample_payload

pytestmark = pytest.mark.unit


def _sample(
    sample_type: str, value: float, unit: str, *, day: int = 0, hour: int = 9, minutes: int = 30
) -> HealthSample:
    return HealthSample.model_validate(
        sample_payload(
            sample_type, value, unit, start=DAY + timedelta(days=day, hours=hour), minutes=minutes
        )
    )


def _week() -> list[HealthSample]:
    return [
        # Day 0: 3,000 steps, 58/62 bpm resting, 300 kcal.
        _sample("step_count", 1000, "count", day=0, hour=8),
        _sample("step_count", 2000, "count", day=0, hour=17),
        _sample("resting_heart_rate", 58, "count/min", day=0, hour=7),
        _sample("resting_heart_rate", 62, "count/min", day=0, hour=19),
        _sample("active_energy_burned", 300, "kcal", day=0),
        _sample("heart_rate", 70, "count/min", day=0, hour=10),
        _sample("heart_rate", 90, "count/min", day=0, hour=11),
        # A night from day 0, 23:00 to day 1, 05:00 counts for day 1 (the morning it ends).
        _sample("sleep_analysis", 360, "min", day=0, hour=23, minutes=360),
        # Day 1: 4,500 steps, 64 bpm resting.
        _sample("step_count", 4500, "count", day=1, hour=12),
        _sample("resting_heart_rate", 64, "count/min", day=1, hour=7),
        # Day 2: only sleep (day 1 22:00 -> day 2 04:30).
        _sample("sleep_analysis", 390, "min", day=1, hour=22, minutes=390),
    ]


def test_summary_of_a_short_week() -> None:
    summary = summarize("user-1", _week())
    assert summary.user_id == "user-1"
    assert summary.method == METHOD
    assert summary.sample_count == 11
    by_day = {str(day.date): day for day in summary.days}
    assert list(by_day) == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert by_day["2026-03-02"].steps == 3000
    assert by_day["2026-03-02"].resting_heart_rate == 60.0
    assert by_day["2026-03-02"].average_heart_rate == 80.0
    assert by_day["2026-03-02"].active_energy_kcal == 300.0
    assert by_day["2026-03-02"].sleep_minutes is None
    assert by_day["2026-03-03"].sleep_minutes == 360.0
    assert by_day["2026-03-03"].steps == 4500
    assert by_day["2026-03-04"].steps is None
    assert by_day["2026-03-04"].sleep_minutes == 390.0
    assert summary.averages.steps_per_day == 3750.0
    assert summary.averages.sleep_minutes_per_night == 375.0
    assert summary.averages.resting_heart_rate == 62.0


def test_flags_explain_their_numbers() -> None:
    flags = {flag.code: flag.explanation for flag in summarize("user-1", _week()).flags}
    assert flags == {
        "low_activity": "3,750 steps per day on average over 2 day(s), below 5,000",
        "short_sleep": "6.2 h of sleep per night on average over 2 night(s), below 7 h",
    }


def test_elevated_resting_heart_rate_is_flagged() -> None:
    summary = summarize(
        "user-2",
        [
            _sample("resting_heart_rate", 95, "count/min"),
            _sample("resting_heart_rate", 97, "count/min"),
        ],
    )
    assert [(flag.code, flag.explanation) for flag in summary.flags] == [
        ("elevated_resting_heart_rate", "resting heart rate averages 96.0 bpm, above 90 bpm")
    ]


def test_healthy_numbers_raise_no_flag() -> None:
    samples = [
        _sample("step_count", 9000, "count"),
        _sample("sleep_analysis", 480, "min", hour=0, minutes=480),
        _sample("resting_heart_rate", 55, "count/min"),
    ]
    assert summarize("user-3", samples).flags == []


def test_thresholds_are_strict() -> None:
    samples = [
        _sample("step_count", 5000, "count"),
        _sample("sleep_analysis", 420, "min", hour=0, minutes=420),
        _sample("resting_heart_rate", 90, "count/min"),
    ]
    assert summarize("user-4", samples).flags == []


def test_measures_without_data_stay_null() -> None:
    summary = summarize("user-5", [_sample("oxygen_saturation", 97, "%")])
    assert len(summary.days) == 1
    assert summary.days[0].model_dump(exclude={"date"}) == {
        "steps": None,
        "active_energy_kcal": None,
        "sleep_minutes": None,
        "resting_heart_rate": None,
        "average_heart_rate": None,
    }
    assert summary.averages.model_dump() == {
        "steps_per_day": None,
        "sleep_minutes_per_night": None,
        "resting_heart_rate": None,
    }
    assert summary.flags == []


def test_order_of_samples_does_not_change_the_result() -> None:
    samples = _week() + [
        _sample("active_energy_burned", value, "kcal", hour=12) for value in (0.1, 0.2, 0.3, 1e4)
    ]
    expected = summarize("user-1", samples).model_dump()
    shuffled = list(samples)
    for seed in range(5):
        random.Random(seed).shuffle(shuffled)  # noqa: S311 - reproducible shuffles, not secrets
        assert summarize("user-1", shuffled).model_dump() == expected
