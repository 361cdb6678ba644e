"""Strict JSON, error texts and plausible dates: the values side of the HTTP contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from clarity_common.errors import InvalidJsonError
from clarity_common.payloads import (
    MAX_INTEGER_DIGITS,
    MAX_JSON_DEPTH,
    is_json_media_type,
    parse_json,
)
from clarity_common.problems import MAX_FIELD_ERRORS, error_detail, reason_for, safe_text
from clarity_common.samples import HealthSample
from tests.support.samples import sample_payload

pytestmark = pytest.mark.unit


# ---------------------------------------------------------------------- strict JSON
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"NaN", "NaN is not JSON"),
        (b"[-Infinity]", "-Infinity is not JSON"),
        (b"1e400", "is out of range"),
        (b"[" + b"9" * (MAX_INTEGER_DIGITS + 1) + b"]", f"more than {MAX_INTEGER_DIGITS} digits"),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "nested deeper"),
        (b'{"a": ' * 2000 + b"1" + b"}" * 2000, "nested deeper"),
        (b'["\\ud800"]', "unpaired UTF-16 surrogate"),
        (b'{"\\udc00": 1}', "unpaired UTF-16 surrogate"),
        (b"\xef\xbb\xbf{}", "JSON decode error"),
    ],
)
def test_strict_json_refuses(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidJsonError, match=reason):
        parse_json(body)


def test_strict_json_takes_what_is_json() -> None:
    deepest = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert parse_json(deepest) is not None
    assert parse_json(b"[" + b"9" * MAX_INTEGER_DIGITS + b"]") == [int("9" * MAX_INTEGER_DIGITS)]
    assert parse_json(b'["\\ud83d\\ude00", "\\u00e9", 1.5e300]') == ["\U0001f600", "é", 1.5e300]


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [
        ("application/json", True),
        ("Application/JSON; charset=UTF-8", True),
        ('application/json; charset="utf8"', True),
        ("application/json; boundary=x", True),
        (None, False),
        ("", False),
        ("application/json; charset=latin-1", False),
        ("application/problem+json", False),
        ("text/json", False),
    ],
)
def test_json_media_types(content_type: str | None, accepted: bool) -> None:
    assert is_json_media_type(content_type) is accepted


# ---------------------------------------------------------------------- error texts
def test_texts_are_made_safe_for_json() -> None:
    assert safe_text("bad \ud800 key") == "bad \\ud800 key"
    assert len(safe_text("x" * 10_000)) == 500
    assert safe_text("x" * 10_000).endswith("...")
    json.dumps(safe_text("\udfff"), allow_nan=False).encode("utf-8")


def test_reasons_for_every_status() -> None:
    assert reason_for(422) == "invalid_request"
    assert reason_for(429) == "too_many_requests"
    assert reason_for(418) == "i'm_a_teapot"
    assert reason_for(599) == "error"


def test_field_errors_are_bounded_and_never_carry_the_input() -> None:
    errors = [
        {
            "loc": ("body", "x\ud800" * 100, index),
            "type": "t",
            "msg": "Value error, m",
            "input": float("nan"),
        }
        for index in range(MAX_FIELD_ERRORS + 10)
    ]
    detail = error_detail(422, "many", fields=errors)
    assert len(detail.fields) == MAX_FIELD_ERRORS
    first = detail.fields[0]
    assert first.msg == "m"
    assert len(str(first.loc[1])) == 100
    json.dumps(detail.model_dump(mode="json"), allow_nan=False).encode("utf-8")


# ---------------------------------------------------------------------- plausible dates
def _sample_at(moment: datetime) -> dict[str, Any]:
    return sample_payload(start_date=moment.isoformat(), end_date=moment.isoformat())


def test_dates_are_bounded_by_2000_and_one_day_ahead() -> None:
    now = datetime.now(UTC)
    HealthSample.model_validate(_sample_at(datetime(2000, 1, 1, tzinfo=UTC)))
    HealthSample.model_validate(_sample_at(now + timedelta(hours=23)))
    for moment in (datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), now + timedelta(hours=25)):
        with pytest.raises(ValidationError, match="between 2000-01-01 and one day after"):
            HealthSample.model_validate(_sample_at(moment))
