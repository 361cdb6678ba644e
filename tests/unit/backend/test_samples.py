"""Sample and batch validation: every rule answers with the field that broke it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from clarity_common.errors import InvalidJsonError, PayloadTooLargeError
from clarity_common.payloads import count_samples, parse_json, validate_body
from clarity_common.samples import (
    MAX_SAMPLES_PER_BATCH,
    MEASURES,
    HealthSample,
    SampleBatch,
    SampleType,
)
from tests.support.samples import batch_payload, sample_payload

pytestmark = pytest.mark.unit


def _errors(
    payload: dict[str, Any], model: type[HealthSample | SampleBatch] = HealthSample
) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(payload)
    return [(tuple(error["loc"]), error["type"]) for error in caught.value.errors()]


def test_a_valid_sample_is_stored_in_utc() -> None:
    sample = HealthSample.model_validate(
        sample_payload(
            "heart_rate",
            72,
            "count/min",
            start_date="2026-03-02T10:00:00+02:00",
            end_date="2026-03-02T10:01:00+02:00",
        )
    )
    assert sample.sample_type is SampleType.HEART_RATE
    assert sample.start_date == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert sample.start_date.utcoffset() is not None
    assert sample.start_date.tzinfo is UTC


@pytest.mark.parametrize("sample_type", list(SampleType))
def test_every_type_accepts_its_unit_and_range(sample_type: SampleType) -> None:
    measure = MEASURES[sample_type]
    for value in (measure.minimum, measure.maximum):
        assert (
            HealthSample.model_validate(
                sample_payload(sample_type.value, value, measure.unit)
            ).value
            == value
        )


@pytest.mark.parametrize(
    ("overrides", "location", "error_type"),
    [
        ({"sample_type": "steps"}, ("sample_type",), "enum"),
        ({"sample_type": 3}, ("sample_type",), "enum"),
        ({"unit": "steps"}, ("unit",), "value_error"),
        ({"unit": 5}, ("unit",), "string_type"),
        ({"value": -1}, ("value",), "value_error"),
        ({"value": 100_001}, ("value",), "value_error"),
        ({"value": "1200"}, ("value",), "float_type"),
        ({"value": True}, ("value",), "float_type"),
        ({"value": None}, ("value",), "float_type"),
        ({"value": float("nan")}, ("value",), "finite_number"),
        ({"value": float("inf")}, ("value",), "finite_number"),
        ({"start_date": "2026-03-02T09:00:00"}, ("start_date",), "value_error"),
        ({"start_date": "yesterday"}, ("start_date",), "value_error"),
        ({"start_date": 1_772_442_000}, ("start_date",), "value_error"),
        ({"start_date": "1772442000"}, ("start_date",), "value_error"),
        ({"start_date": "2026-02-30T09:00:00Z"}, ("start_date",), "datetime_from_date_parsing"),
        ({"start_date": "1999-12-31T23:59:59Z"}, ("start_date",), "value_error"),
        ({"start_date": "0001-01-01T00:00:00+01:00"}, ("start_date",), "value_error"),
        ({"end_date": "9999-12-31T23:59:59-01:00"}, ("end_date",), "value_error"),
        ({"end_date": "2026-03-02T08:59:59Z"}, ("end_date",), "value_error"),
        ({"source": "watch"}, ("source",), "extra_forbidden"),
    ],
)
def test_each_rule_names_its_field(
    overrides: dict[str, Any], location: tuple[str, ...], error_type: str
) -> None:
    assert _errors(sample_payload(**overrides)) == [(location, error_type)]


def test_missing_fields_are_each_reported() -> None:
    errors = _errors({})
    assert sorted(errors) == sorted(
        [
            ((field,), "missing")
            for field in ("sample_type", "value", "unit", "start_date", "end_date")
        ]
    )


def test_unit_message_says_what_to_send() -> None:
    with pytest.raises(
        ValidationError, match="unit 'bpm' does not fit heart_rate: send 'count/min'"
    ):
        HealthSample.model_validate(sample_payload("heart_rate", 70, "bpm"))


@pytest.mark.parametrize(
    ("overrides", "location", "error_type"),
    [
        ({"batch_id": "short"}, ("batch_id",), "string_pattern_mismatch"),
        ({"batch_id": "../../etc/passwd"}, ("batch_id",), "string_pattern_mismatch"),
        ({"batch_id": 12345678}, ("batch_id",), "string_type"),
        ({"user_id": ""}, ("user_id",), "string_pattern_mismatch"),
        ({"user_id": "a/b"}, ("user_id",), "string_pattern_mismatch"),
        ({"user_id": 7}, ("user_id",), "string_type"),
        ({"samples": []}, ("samples",), "too_short"),
        ({"samples": "many"}, ("samples",), "list_type"),
        ({"device": "watch"}, ("device",), "extra_forbidden"),
    ],
)
def test_batch_rules(overrides: dict[str, Any], location: tuple[str, ...], error_type: str) -> None:
    assert _errors({**batch_payload(), **overrides}, SampleBatch) == [(location, error_type)]


def test_errors_inside_a_sample_carry_its_index() -> None:
    payload = batch_payload([sample_payload(), sample_payload(sample_type="mood")])
    assert _errors(payload, SampleBatch) == [(("samples", 1, "sample_type"), "enum")]


def test_fingerprint_ignores_the_offset_used_for_the_same_instant() -> None:
    utc = batch_payload(
        [sample_payload(start_date="2026-03-02T08:00:00Z", end_date="2026-03-02T08:30:00Z")],
        batch_id="batch-0001",
    )
    paris = batch_payload(
        [
            sample_payload(
                start_date="2026-03-02T09:00:00+01:00", end_date="2026-03-02T09:30:00+01:00"
            )
        ],
        batch_id="batch-0001",
    )
    assert (
        SampleBatch.model_validate(utc).fingerprint()
        == SampleBatch.model_validate(paris).fingerprint()
    )


def test_fingerprint_changes_with_the_content() -> None:
    first = batch_payload([sample_payload(value=10)], batch_id="batch-0001")
    second = batch_payload([sample_payload(value=11)], batch_id="batch-0001")
    assert (
        SampleBatch.model_validate(first).fingerprint()
        != SampleBatch.model_validate(second).fingerprint()
    )


# ---------------------------------------------------------------------- payload checks
def test_json_syntax_errors_say_where() -> None:
    with pytest.raises(InvalidJsonError, match="JSON decode error: Expecting value") as caught:
        parse_json(b'{"batch_id": ')
    assert caught.value.position == 13


def test_a_body_that_is_not_utf8_is_rejected() -> None:
    with pytest.raises(InvalidJsonError, match="not UTF-8") as caught:
        parse_json(b"\xff\xfe{")
    assert caught.value.position == 0


def test_sample_count_limit_is_inclusive() -> None:
    count_samples({"samples": [{}] * MAX_SAMPLES_PER_BATCH}, max_samples=MAX_SAMPLES_PER_BATCH)
    with pytest.raises(
        PayloadTooLargeError,
        match=rf"{MAX_SAMPLES_PER_BATCH + 1} samples in one request; the limit is {MAX_SAMPLES_PER_BATCH}",
    ):
        count_samples(
            {"samples": [{}] * (MAX_SAMPLES_PER_BATCH + 1)}, max_samples=MAX_SAMPLES_PER_BATCH
        )


@pytest.mark.parametrize("data", [None, [], "samples", {"samples": "x"}, {"other": [1, 2, 3]}])
def test_sample_count_leaves_other_shapes_to_validation(data: object) -> None:
    count_samples(data, max_samples=1)


def test_validation_errors_are_rooted_at_the_body() -> None:
    with pytest.raises(RequestValidationError) as caught:
        validate_body(
            SampleBatch, {"batch_id": "batch-0001", "user_id": "u", "samples": [{"value": 1}]}
        )
    locations = {tuple(error["loc"]) for error in caught.value.errors()}
    assert ("body", "samples", 0, "sample_type") in locations
    assert all(location[0] == "body" for location in locations)


def test_validate_body_returns_the_model() -> None:
    batch = validate_body(SampleBatch, batch_payload(batch_id="batch-0001"))
    assert batch.batch_id == "batch-0001"
    assert len(batch.samples) == 3
