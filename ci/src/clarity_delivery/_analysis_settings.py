"""The analysis keys of settings.json: health checks, business transactions, metric analysis.

Parsed by :func:`~.settings.parse_settings` (the one parser of the file); kept apart because
they are the analysis's own vocabulary. Unknown keys inside ``rollout.metric_analysis`` are
refused, so a misspelt limit cannot silently fall back to its default.

``rollout.metric_analysis`` (every key optional except ``enabled``; defaults below)::

    {"enabled": true, "window_seconds": 60, "delay_seconds": 180, "min_requests": 100,
     "max_extensions": 1, "max_error_ratio": 0.01,
     "max_latency_ms": {"p50": 500, "p95": 1500, "p99": 3000},
     "relative_tolerance": 0.5, "noise_floor": {"error_ratio": 0.005, "latency_ms": 50}}

``rollout.performance_gate`` (every key optional except ``enabled``; defaults below): a
bounded load test of the candidate against stable before the candidate takes traffic::

    {"enabled": true, "duration_seconds": 30, "rate_per_second": 20, "min_requests": 100,
     "max_in_flight": 16, "relative_tolerance": 0.25,
     "noise_floor": {"error_ratio": 0.005, "latency_ms": 25}}

``transaction_checks`` (beside ``health_checks``)::

    [{"service": "api-gateway", "kind": "ingest-synthetic-batch",
      "path": "/v1/healthkit/samples", "timeout_seconds": 10}, ...]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._errors import ConfigError

__all__ = [
    "MIN_MONITORING_WINDOW",
    "TRANSACTION_KINDS",
    "HealthCheck",
    "JourneyPolicy",
    "LatencyLimits",
    "MetricAnalysis",
    "PerformanceGate",
    "TransactionCheck",
    "mapping",
    "nonempty_str",
    "parse_health_check",
    "parse_journey",
    "parse_metric_analysis",
    "parse_performance_gate",
    "parse_transaction",
    "switched_section",
]

TransactionKind = Literal["ingest-synthetic-batch", "analyze-fixed-payload"]
TRANSACTION_KINDS: tuple[TransactionKind, ...] = ("ingest-synthetic-batch", "analyze-fixed-payload")
"""The business transactions the library knows how to send and check (see
:mod:`~.analysis.transactions`)."""

MIN_MONITORING_WINDOW = 60.0
"""Cloud Monitoring's least alignment period: a shorter window cannot be asked of it."""


@dataclass(frozen=True, kw_only=True)
class HealthCheck:
    """One HTTP check against a service: ``GET path`` must answer ``expected_status``."""

    service: str
    path: str
    expected_status: int = 200
    timeout_seconds: float = 5.0
    method: str = "GET"


@dataclass(frozen=True, kw_only=True)
class LatencyLimits:
    """Absolute latency limits in milliseconds."""

    p50: float
    p95: float
    p99: float

    def items(self) -> tuple[tuple[str, float], ...]:
        """``(("p50", limit), ("p95", limit), ("p99", limit))``."""
        return (("p50", self.p50), ("p95", self.p95), ("p99", self.p99))


@dataclass(frozen=True, kw_only=True)
class MetricAnalysis:
    """How real traffic is judged at each step: Cloud Run's request metrics, candidate vs stable.

    Every analysis round reads the *look-back window* ``[now - delay - window, now - delay]``:
    the last ``window_seconds`` of traffic that Cloud Monitoring has had ``delay_seconds`` to
    ingest. A step needs one such window wholly inside its own traffic, holding at least
    ``min_requests`` candidate requests, before it may pass; without enough requests it
    extends by up to ``max_extensions`` windows and is then decided by the probes alone.
    """

    window_seconds: float
    delay_seconds: float
    min_requests: int
    max_extensions: int
    max_error_ratio: float
    max_latency_ms: LatencyLimits
    relative_tolerance: float
    noise_error_ratio: float
    noise_latency_ms: float

    @property
    def first_verdict_seconds(self) -> float:
        """From a step's start until a window of its own traffic can be read."""
        return self.window_seconds + self.delay_seconds

    @property
    def step_limit_seconds(self) -> float:
        """From a step's start until it stops waiting for enough requests."""
        return self.window_seconds * (1 + self.max_extensions) + self.delay_seconds


@dataclass(frozen=True, kw_only=True)
class PerformanceGate:
    """The load test before traffic: candidate and stable, alternately, the same requests.

    For ``duration_seconds`` at ``rate_per_second`` (both revisions together; at most
    ``max_in_flight`` requests at once), each request of the service's health checks and
    business transactions goes to the candidate's and the stable revision's tag URL in turn.
    The gate fails when the candidate's p95 latency or error ratio is worse than stable's:
    ``candidate > stable * (1 + relative_tolerance) + noise``. Fewer than ``min_requests``
    answers of either revision is a load test that could not measure.
    """

    duration_seconds: float
    rate_per_second: float
    min_requests: int
    max_in_flight: int
    relative_tolerance: float
    noise_error_ratio: float
    noise_latency_ms: float

    @property
    def requests(self) -> int:
        """Requests the load test sends, both revisions together."""
        return int(self.duration_seconds * self.rate_per_second)


@dataclass(frozen=True, kw_only=True)
class TransactionCheck:
    """A business transaction against a service: a known request whose answer is checked."""

    service: str
    kind: TransactionKind
    path: str
    timeout_seconds: float = 10.0
    method: str = "POST"


_METRIC_KEYS = {
    "enabled",
    "window_seconds",
    "delay_seconds",
    "min_requests",
    "max_extensions",
    "max_error_ratio",
    "max_latency_ms",
    "relative_tolerance",
    "noise_floor",
}


def parse_metric_analysis(raw: object, where: str) -> MetricAnalysis | None:
    """``rollout.metric_analysis``: None when absent or disabled; ConfigError saying what is wrong."""
    if raw is None:
        return None
    here = f"{where}: rollout.metric_analysis"
    data, enabled = switched_section(raw, here, _METRIC_KEYS)
    if not enabled:
        return None
    latency = mapping(data.get("max_latency_ms", {}), f"{here}.max_latency_ms")
    noise = mapping(data.get("noise_floor", {}), f"{here}.noise_floor")
    analysis = MetricAnalysis(
        window_seconds=_number(data, "window_seconds", 60, here, positive=True),
        delay_seconds=_number(data, "delay_seconds", 180, here),
        min_requests=int(_number(data, "min_requests", 100, here, positive=True, whole=True)),
        max_extensions=int(_number(data, "max_extensions", 1, here, whole=True)),
        max_error_ratio=_number(data, "max_error_ratio", 0.01, here, positive=True),
        max_latency_ms=LatencyLimits(
            p50=_number(latency, "p50", 500, f"{here}.max_latency_ms", positive=True),
            p95=_number(latency, "p95", 1500, f"{here}.max_latency_ms", positive=True),
            p99=_number(latency, "p99", 3000, f"{here}.max_latency_ms", positive=True),
        ),
        relative_tolerance=_number(data, "relative_tolerance", 0.5, here),
        noise_error_ratio=_number(noise, "error_ratio", 0.005, f"{here}.noise_floor"),
        noise_latency_ms=_number(noise, "latency_ms", 50, f"{here}.noise_floor"),
    )
    if analysis.max_error_ratio > 1 or analysis.noise_error_ratio > 1:
        msg = f"{here}: error ratios are fractions between 0 and 1 (0.01 is 1 %)"
        raise ConfigError(msg)
    limits = analysis.max_latency_ms
    if not limits.p50 <= limits.p95 <= limits.p99:
        msg = f"{here}.max_latency_ms: need p50 <= p95 <= p99, not {limits.p50:g}/{limits.p95:g}/{limits.p99:g}"
        raise ConfigError(msg)
    return analysis


_GATE_KEYS = {
    "enabled",
    "duration_seconds",
    "rate_per_second",
    "min_requests",
    "max_in_flight",
    "relative_tolerance",
    "noise_floor",
}


def parse_performance_gate(raw: object, where: str) -> PerformanceGate | None:
    """``rollout.performance_gate``: None when absent or disabled; ConfigError when wrong."""
    if raw is None:
        return None
    here = f"{where}: rollout.performance_gate"
    data, enabled = switched_section(raw, here, _GATE_KEYS)
    if not enabled:
        return None
    noise = mapping(data.get("noise_floor", {}), f"{here}.noise_floor")
    gate = PerformanceGate(
        duration_seconds=_number(data, "duration_seconds", 30, here, positive=True),
        rate_per_second=_number(data, "rate_per_second", 20, here, positive=True),
        min_requests=int(_number(data, "min_requests", 100, here, positive=True, whole=True)),
        max_in_flight=int(_number(data, "max_in_flight", 16, here, positive=True, whole=True)),
        relative_tolerance=_number(data, "relative_tolerance", 0.25, here),
        noise_error_ratio=_number(noise, "error_ratio", 0.005, f"{here}.noise_floor"),
        noise_latency_ms=_number(noise, "latency_ms", 25, f"{here}.noise_floor"),
    )
    if gate.noise_error_ratio > 1:
        msg = f"{here}.noise_floor: error_ratio is a fraction between 0 and 1 (0.005 is 0.5 %)"
        raise ConfigError(msg)
    if gate.requests < 2 * gate.min_requests:
        msg = (
            f"{here}: {gate.duration_seconds:g}s at {gate.rate_per_second:g} requests a second "
            f"sends {gate.requests} requests, fewer than min_requests ({gate.min_requests}) "
            "for each of the two revisions: lengthen it, raise the rate or lower min_requests"
        )
        raise ConfigError(msg)
    return gate


def parse_health_check(raw: object, where: str, services: Mapping[str, Any]) -> HealthCheck:
    """One entry of ``health_checks``."""
    data = mapping(raw, where)
    check = HealthCheck(
        service=nonempty_str(data, "service", where),
        path=nonempty_str(data, "path", where),
        expected_status=int(data.get("expected_status", 200)),
        timeout_seconds=float(data.get("timeout_seconds", 5)),
    )
    if check.service not in services:
        msg = f"{where}: health check {check.path!r} targets unknown service {check.service!r}"
        raise ConfigError(msg)
    if not check.path.startswith("/"):
        msg = f"{where}: health check path {check.path!r} must start with '/'"
        raise ConfigError(msg)
    return check


def parse_transaction(raw: object, where: str, services: Mapping[str, Any]) -> TransactionCheck:
    """One entry of ``transaction_checks``."""
    data = mapping(raw, where)
    service, kind, path = data.get("service"), data.get("kind"), data.get("path")
    if service not in services:
        msg = f"{where}: transaction check targets unknown service {service!r}"
        raise ConfigError(msg)
    if kind not in TRANSACTION_KINDS:
        msg = (
            f"{where}: transaction kind must be one of {', '.join(TRANSACTION_KINDS)}, not {kind!r}"
        )
        raise ConfigError(msg)
    if not isinstance(path, str) or not path.startswith("/"):
        msg = f"{where}: transaction path {path!r} must start with '/'"
        raise ConfigError(msg)
    return TransactionCheck(
        service=str(service),
        kind=kind,
        path=path,
        timeout_seconds=_number(data, "timeout_seconds", 10, where, positive=True),
    )


def switched_section(raw: object, here: str, known: set[str]) -> tuple[Mapping[str, Any], bool]:
    """A settings object with an ``enabled`` switch: its keys (all ``known``) and the switch;
    ConfigError naming ``here`` for anything else."""
    data = mapping(raw, here)
    unknown = sorted(set(data) - known)
    if unknown:
        msg = f"{here}: unknown key(s) {', '.join(unknown)}; known keys are {', '.join(sorted(known))}"
        raise ConfigError(msg)
    enabled = data.get("enabled")
    if not isinstance(enabled, bool):
        msg = f"{here}: 'enabled' must be true or false"
        raise ConfigError(msg)
    return data, enabled


def mapping(value: object, where: str) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else ConfigError naming ``where``."""
    if not isinstance(value, Mapping):
        msg = f"{where}: expected an object"
        raise ConfigError(msg)
    return value


def nonempty_str(data: Mapping[str, Any], key: str, where: str) -> str:
    """``data[key]`` if it is a non-empty string, else ConfigError naming ``where``."""
    value = data.get(key)
    if not isinstance(value, str) or not value:
        msg = f"{where}: '{key}' must be a non-empty string"
        raise ConfigError(msg)
    return value


def _number(
    data: Mapping[str, Any],
    key: str,
    default: float,
    where: str,
    *,
    positive: bool = False,
    whole: bool = False,
) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{where}: '{key}' must be a number, not {value!r}"
        raise ConfigError(msg)
    if whole and value != int(value):
        msg = f"{where}: '{key}' must be a whole number, not {value!r}"
        raise ConfigError(msg)
    if value < 0 or (positive and value == 0):
        bound = "greater than 0" if positive else "0 or more"
        msg = f"{where}: '{key}' must be {bound}, not {value!r}"
        raise ConfigError(msg)
    return float(value)


@dataclass(frozen=True, kw_only=True)
class JourneyPolicy:
    """``rollout.journey``: whether the user's journey checks a candidate before traffic."""

    before_traffic: bool = False
    """Run the journey (ingest, processed, resend, reject) against the API gateway's
    candidate at its tag URL once its health checks pass, before it takes any traffic."""
    timeout_seconds: float = 60.0
    """How long an ingested batch may take to be processed into an insight."""


def parse_journey(raw: object, where: str) -> JourneyPolicy:
    """``rollout.journey`` (absent: the journey does not run before traffic)."""
    data = mapping(raw, f"{where}: rollout.journey")
    unknown = sorted(set(data) - {"before_traffic", "timeout_seconds"})
    if unknown:
        msg = f"{where}: rollout.journey has unknown keys {unknown}: use before_traffic and timeout_seconds"
        raise ConfigError(msg)
    before = data.get("before_traffic", False)
    timeout = data.get("timeout_seconds", JourneyPolicy.timeout_seconds)
    if not isinstance(before, bool):
        msg = f"{where}: rollout.journey.before_traffic must be true or false"
        raise ConfigError(msg)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 5 <= timeout <= 600:
        msg = f"{where}: rollout.journey.timeout_seconds must be a number of seconds from 5 to 600"
        raise ConfigError(msg)
    return JourneyPolicy(before_traffic=before, timeout_seconds=float(timeout))
