"""HealthKit samples: the known sample types, their units and plausible ranges, and limits.

Both services validate samples with these models: the gateway when a batch arrives, the ML
service when it is asked to analyse samples directly.
"""

from __future__ import annotations

import copy
import enum
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
)

__all__ = [
    "BATCH_ID_PATTERN",
    "EARLIEST_SAMPLE",
    "EXAMPLE_SAMPLES",
    "EXPIRE_AT_FIELD",
    "FUTURE_TOLERANCE",
    "HEALTH_DATA_COLLECTION",
    "INSIGHTS_COLLECTION",
    "MAX_BODY_BYTES",
    "MAX_SAMPLES_PER_BATCH",
    "MEASURES",
    "RESERVED_ID_PATTERN",
    "SYNTHETIC_ID_PREFIX",
    "USER_ID_PATTERN",
    "BatchId",
    "HealthSample",
    "Measure",
    "Rfc3339Datetime",
    "SampleBatch",
    "SampleType",
    "UserId",
]

HEALTH_DATA_COLLECTION = "health_data"
"""Firestore collection of stored samples (one document per sample), shared by both services."""

INSIGHTS_COLLECTION = "insights"
"""Firestore collection of insights, one per batch (document id: the batch id): the ML service
writes them, the gateway reads them for a batch's status."""

EXPIRE_AT_FIELD = "expire_at"
"""The field Firestore's TTL policies delete documents by (set on synthetic batches only)."""

MAX_SAMPLES_PER_BATCH = 400
"""Samples per request. A batch and its idempotency record commit in one Firestore
transaction; 400 samples + 1 record stays under the 500-write commit limit with headroom."""

MAX_BODY_BYTES = 1_048_576
"""Largest request body accepted (1 MiB); larger bodies get 413 before they are parsed."""

USER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
BATCH_ID_PATTERN = r"^[A-Za-z0-9_-]{8,128}$"
RESERVED_ID_PATTERN = r"^__.*__$"
"""Firestore reserves document ids of this form; a batch id becomes a document id."""

EARLIEST_SAMPLE = datetime(2000, 1, 1, tzinfo=UTC)
"""No sample is older: HealthKit devices did not exist before, and older dates are typos."""

FUTURE_TOLERANCE = timedelta(days=1)
"""A sample may end at most this far after the server's clock (time zones, clock skew)."""

# RFC 3339 with a mandatory offset. Pydantic alone would also take epoch numbers ("1700000000").
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _not_reserved(value: str) -> str:
    if re.fullmatch(RESERVED_ID_PATTERN, value):
        msg = "ids of the form __name__ are reserved by Firestore: use another batch_id (a UUID)"
        raise ValueError(msg)
    return value


SYNTHETIC_ID_PREFIX = "synthetic-"
"""Reserved for synthetic traffic: user ids and batch ids that start with it belong to the
delivery pipeline's business-transaction probes, never to a person. Such batches are stored
and announced like any other (that is what the probe checks); consumers recognise them by the
``user_id`` attribute of the Pub/Sub message (a subscription filter such as
``NOT hasPrefix(attributes.user_id, "synthetic-")`` drops them). Account ids issued to users
never start with it."""

UserId = Annotated[str, Field(pattern=USER_ID_PATTERN, strict=True)]
BatchId = Annotated[
    str,
    Field(
        pattern=BATCH_ID_PATTERN,
        strict=True,
        json_schema_extra={"not": {"pattern": RESERVED_ID_PATTERN}},
    ),
    AfterValidator(_not_reserved),
]


class SampleType(enum.StrEnum):
    """The HealthKit sample types the backend accepts."""

    STEP_COUNT = "step_count"
    HEART_RATE = "heart_rate"
    RESTING_HEART_RATE = "resting_heart_rate"
    HEART_RATE_VARIABILITY_SDNN = "heart_rate_variability_sdnn"
    ACTIVE_ENERGY_BURNED = "active_energy_burned"
    SLEEP_ANALYSIS = "sleep_analysis"
    RESPIRATORY_RATE = "respiratory_rate"
    OXYGEN_SATURATION = "oxygen_saturation"


@dataclass(frozen=True)
class Measure:
    """The unit a sample type must use and the range a real reading falls in."""

    unit: str
    minimum: float
    maximum: float


MEASURES: Mapping[SampleType, Measure] = {
    SampleType.STEP_COUNT: Measure("count", 0, 100_000),
    SampleType.HEART_RATE: Measure("count/min", 20, 300),
    SampleType.RESTING_HEART_RATE: Measure("count/min", 20, 200),
    SampleType.HEART_RATE_VARIABILITY_SDNN: Measure("ms", 0, 1_000),
    SampleType.ACTIVE_ENERGY_BURNED: Measure("kcal", 0, 20_000),
    SampleType.SLEEP_ANALYSIS: Measure("min", 0, 1_440),
    SampleType.RESPIRATORY_RATE: Measure("count/min", 4, 60),
    SampleType.OXYGEN_SATURATION: Measure("%", 50, 100),
}


def _rfc3339_text(value: object) -> object:
    # datetime objects come from storage (Firestore returns them), never from JSON.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        msg = "send an RFC 3339 date-time string with an offset, e.g. 2026-03-02T09:00:00Z"
        raise ValueError(msg)
    return value


def _plausible_utc(moment: datetime) -> datetime:
    latest = datetime.now(UTC) + FUTURE_TOLERANCE
    bounds = f"between {EARLIEST_SAMPLE:%Y-%m-%d} and one day after the server's clock"
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 shifted by its offset
        utc = None
    if utc is None or not EARLIEST_SAMPLE <= utc <= latest:
        msg = f"a sample's time must lie {bounds} (UTC)"
        raise ValueError(msg)
    return utc


Rfc3339Datetime = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]
"""A time sent as an RFC 3339 string with an offset (never an epoch number)."""

UtcDatetime = Annotated[Rfc3339Datetime, AfterValidator(_plausible_utc)]
"""A sample time: RFC 3339 with an offset, plausible (see above), converted to UTC."""


def _one_schema_per_type(schema: dict[str, Any]) -> None:
    """Document each type's unit and range: one ``oneOf`` branch per sample type.

    The validators below enforce the same table; the document says it, so a client (and the
    DAST tier) knows which values are accepted.
    """
    shared = {key: schema.pop(key) for key in ("properties", "required", "additionalProperties")}
    branches = []
    for sample_type, measure in MEASURES.items():
        branch = copy.deepcopy(shared)
        branch["type"] = "object"
        branch["properties"]["sample_type"] = {"const": sample_type.value}
        branch["properties"]["unit"] = {"const": measure.unit}
        branch["properties"]["value"] = {
            "type": "number",
            "minimum": measure.minimum,
            "maximum": measure.maximum,
        }
        branches.append(branch)
    schema["oneOf"] = branches


class HealthSample(BaseModel):
    """One HealthKit sample. Timestamps must carry a UTC offset; they are stored in UTC."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_one_schema_per_type)

    sample_type: SampleType
    value: float = Field(strict=True, allow_inf_nan=False)
    unit: str = Field(strict=True)
    start_date: UtcDatetime
    end_date: UtcDatetime

    @field_validator("value")
    @classmethod
    def _value_in_range(cls, value: float, info: ValidationInfo) -> float:
        sample_type = info.data.get("sample_type")
        if isinstance(sample_type, SampleType):
            measure = MEASURES[sample_type]
            if not measure.minimum <= value <= measure.maximum:
                limits = f"{measure.minimum:g} and {measure.maximum:g} {measure.unit}"
                msg = f"a {sample_type} value must lie between {limits}"
                raise ValueError(msg)
        return value

    @field_validator("unit")
    @classmethod
    def _unit_matches_type(cls, unit: str, info: ValidationInfo) -> str:
        sample_type = info.data.get("sample_type")
        if isinstance(sample_type, SampleType) and unit != MEASURES[sample_type].unit:
            msg = f"unit {unit!r} does not fit {sample_type}: send {MEASURES[sample_type].unit!r}"
            raise ValueError(msg)
        return unit

    @field_validator("end_date")
    @classmethod
    def _end_not_before_start(cls, end_date: datetime, info: ValidationInfo) -> datetime:
        start_date = info.data.get("start_date")
        if isinstance(start_date, datetime) and end_date < start_date:
            msg = "end_date is before start_date"
            raise ValueError(msg)
        return end_date


EXAMPLE_SAMPLES: list[JsonValue] = [
    {
        "sample_type": "step_count",
        "value": 4200,
        "unit": "count",
        "start_date": "2026-03-02T08:00:00+01:00",
        "end_date": "2026-03-02T09:00:00+01:00",
    },
    {
        "sample_type": "heart_rate",
        "value": 64.5,
        "unit": "count/min",
        "start_date": "2026-03-02T08:10:00Z",
        "end_date": "2026-03-02T08:10:00Z",
    },
]
"""Samples for the documented examples (the DAST tier sends them too)."""


class SampleBatch(BaseModel):
    """A client's batch of one user's samples, identified by a client-chosen batch id.

    The batch id is the idempotency key: retrying the same batch stores and publishes nothing
    twice. Use a fresh random id (a UUID) per batch.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {"batch_id": "example-batch-0001", "user_id": "user-1", "samples": EXAMPLE_SAMPLES}
            ]
        },
    )

    batch_id: BatchId
    user_id: UserId
    samples: list[HealthSample] = Field(min_length=1, max_length=MAX_SAMPLES_PER_BATCH)
    synthetic: bool = Field(
        default=False,
        strict=True,
        description=(
            "Test traffic (an end-to-end check): processed like any batch, but every document "
            "it produces expires a day later (Firestore TTL on expire_at)."
        ),
    )

    def fingerprint(self) -> str:
        """A digest of the content, so a reused batch id with other content is detected."""
        content = self.model_dump(mode="json")
        if not self.synthetic:
            # Batches stored before the flag existed keep their fingerprint.
            del content["synthetic"]
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()
