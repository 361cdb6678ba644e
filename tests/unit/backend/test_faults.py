"""The CLARITY_FAULT grammar."""

from __future__ import annotations

import pytest

from clarity_common.faults import FAULT_GRAMMAR, Fault, FaultKind, is_health_path, parse_fault

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, Fault()),
        ("", Fault()),
        ("crash-on-start", Fault(kind=FaultKind.CRASH_ON_START)),
        ("health-500", Fault(kind=FaultKind.HEALTH_500)),
        ("health-500-after=0", Fault(kind=FaultKind.HEALTH_500_AFTER, healthy_requests=0)),
        ("health-500-after=3", Fault(kind=FaultKind.HEALTH_500_AFTER, healthy_requests=3)),
        ("health-500-after=007", Fault(kind=FaultKind.HEALTH_500_AFTER, healthy_requests=7)),
        (
            "health-500-after=999999999",
            Fault(kind=FaultKind.HEALTH_500_AFTER, healthy_requests=999_999_999),
        ),
        ("ingest-500", Fault(kind=FaultKind.INGEST_500)),
        ("error-rate=0.03", Fault(kind=FaultKind.ERROR_RATE, error_rate=0.03)),
        ("error-rate=.5", Fault(kind=FaultKind.ERROR_RATE, error_rate=0.5)),
        ("error-rate=1", Fault(kind=FaultKind.ERROR_RATE, error_rate=1.0)),
        ("error-rate=1.0", Fault(kind=FaultKind.ERROR_RATE, error_rate=1.0)),
        ("latency=300", Fault(kind=FaultKind.LATENCY, latency_ms=300)),
        ("latency=60000", Fault(kind=FaultKind.LATENCY, latency_ms=60_000)),
    ],
)
def test_accepted_values(raw: str | None, expected: Fault) -> None:
    assert parse_fault(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "crash",
        "CRASH-ON-START",
        " health-500",
        "health-500 ",
        "health-503",
        "health-500-after",
        "health-500-after=",
        "health-500-after=-1",
        "health-500-after=+1",
        "health-500-after=1.5",
        "health-500-after=abc",
        "health-500-after=3x",
        "health-500-after=1234567890",
        "health-500-after=٣",  # a non-ASCII digit
        "crash-on-start,health-500",
        "ingest-500=1",
        "error-rate",
        "error-rate=0",
        "error-rate=0.0",
        "error-rate=1.5",
        "error-rate=-0.1",
        "error-rate=3%",
        "error-rate=0.0000001",
        "latency=0",
        "latency=-5",
        "latency=60001",
        "latency=1.5",
        "latency=300ms",
    ],
)
def test_rejected_values_say_what_is_accepted(raw: str) -> None:
    with pytest.raises(ValueError, match="is not a known fault") as caught:
        parse_fault(raw)
    assert repr(raw) in str(caught.value)
    assert FAULT_GRAMMAR in str(caught.value)


def test_health_500_after_counts_requests() -> None:
    fault = parse_fault("health-500-after=2")
    assert [fault.health_fails(number) for number in range(1, 6)] == [
        False,
        False,
        True,
        True,
        True,
    ]


@pytest.mark.parametrize(
    ("raw", "fails", "crashes"),
    [
        ("", [False, False, False], False),
        ("health-500", [True, True, True], False),
        ("health-500-after=0", [True, True, True], False),
        ("crash-on-start", [False, False, False], True),
    ],
)
def test_behaviour_per_kind(raw: str, fails: list[bool], crashes: bool) -> None:
    fault = parse_fault(raw)
    assert [fault.health_fails(number) for number in (1, 2, 3)] == fails
    assert fault.crashes_on_start is crashes


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "crash-on-start",
        "health-500",
        "health-500-after=4",
        "ingest-500",
        "error-rate=0.03",
        "latency=250",
    ],
)
def test_text_round_trips(raw: str) -> None:
    assert str(parse_fault(raw)) == raw
    assert parse_fault(str(parse_fault(raw))) == parse_fault(raw)


@pytest.mark.parametrize("raw", ["ingest-500", "error-rate=1", "latency=10"])
def test_request_faults_leave_health_and_startup_alone(raw: str) -> None:
    fault = parse_fault(raw)
    assert fault.affects_requests
    assert not fault.crashes_on_start
    assert not any(fault.health_fails(number) for number in range(1, 20))


def test_health_paths_are_recognised() -> None:
    assert [is_health_path(p) for p in ("/health", "/health/database", "/ml/health")] == [
        True,
        True,
        True,
    ]
    assert not any(is_health_path(p) for p in ("/v1/analyze", "/v1/healthkit/samples", "/"))
