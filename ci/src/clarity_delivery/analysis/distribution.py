"""Latency percentiles from a Cloud Monitoring Distribution's histogram (pure).

The rules are those of ``google/api/distribution.proto``:

* ``bucket_options`` is one of ``linear_buckets`` (``num_finite_buckets`` N, ``width``,
  ``offset``), ``exponential_buckets`` (N, ``growth_factor``, ``scale``) or
  ``explicit_buckets`` (``bounds``). There are N + 2 buckets: an underflow bucket 0, finite
  buckets 1..N and an overflow bucket N + 1. Bucket i (1 <= i <= N) spans
  ``[offset + width * (i - 1), offset + width * i)`` (linear) or
  ``[scale * growth_factor ** (i - 1), scale * growth_factor ** i)`` (exponential); explicit
  bounds b give ``[b[i - 1], b[i])``. The underflow bucket is everything below the first bound,
  the overflow bucket everything from the last.
* ``bucket_counts`` lists the underflow bucket first; "if you supply fewer than N values, the
  remaining values are assumed to be 0", so a short list is padded, never an error.

Cloud Run's ``run.googleapis.com/request_latencies`` is a DELTA DISTRIBUTION in milliseconds
(its metric descriptor gives kind, type and unit; the bucket options travel with each point,
so they are read from the data, never assumed). A percentile is found by walking the
cumulative counts to the bucket that holds the wanted rank and interpolating linearly inside
it, which is what Cloud Monitoring's own percentile aligners do; the error is at most one
bucket's width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Histogram"]


@dataclass(frozen=True)
class Histogram:
    """A histogram: finite bounds (N + 1 of them) and the counts of the N + 2 buckets."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if not self.bounds or len(self.counts) != len(self.bounds) + 1:
            msg = f"a histogram needs len(bounds) + 1 counts, not {len(self.counts)} for {len(self.bounds)} bounds"
            raise ValueError(msg)
        if any(a >= b for a, b in zip(self.bounds, self.bounds[1:], strict=False)):
            msg = "histogram bounds must increase"
            raise ValueError(msg)

    @classmethod
    def from_distribution(cls, distribution: Any) -> Histogram | None:  # noqa: ANN401 - a protobuf message
        """The histogram of a ``google.api.Distribution``; None if it carries none."""
        options = distribution.bucket_options
        which = options.WhichOneof("options")
        if which is None:
            return None
        if which == "linear_buckets":
            lin = options.linear_buckets
            bounds = tuple(lin.offset + lin.width * i for i in range(lin.num_finite_buckets + 1))
        elif which == "exponential_buckets":
            exp = options.exponential_buckets
            bounds = tuple(
                exp.scale * exp.growth_factor**i for i in range(exp.num_finite_buckets + 1)
            )
        else:
            bounds = tuple(options.explicit_buckets.bounds)
        counts = [int(c) for c in distribution.bucket_counts]
        if len(counts) > len(bounds) + 1:
            msg = f"{len(counts)} bucket counts for {len(bounds) + 1} buckets"
            raise ValueError(msg)
        counts += [0] * (len(bounds) + 1 - len(counts))
        has_range = distribution.HasField("range")
        return cls(
            bounds=bounds,
            counts=tuple(counts),
            minimum=distribution.range.min if has_range else None,
            maximum=distribution.range.max if has_range else None,
        )

    @property
    def count(self) -> int:
        """How many values the histogram holds."""
        return sum(self.counts)

    def merged(self, other: Histogram) -> Histogram:
        """Both histograms' values together; they must share their buckets."""
        if other.bounds != self.bounds:
            msg = "cannot merge histograms with different bucket options"
            raise ValueError(msg)
        lows = [m for m in (self.minimum, other.minimum) if m is not None]
        highs = [m for m in (self.maximum, other.maximum) if m is not None]
        return Histogram(
            bounds=self.bounds,
            counts=tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)),
            minimum=min(lows) if lows else None,
            maximum=max(highs) if highs else None,
        )

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0 < q <= 100), interpolated in its bucket; None if empty."""
        if not 0 < q <= 100:
            msg = f"a percentile lies in (0, 100], not {q}"
            raise ValueError(msg)
        total = self.count
        if total == 0:
            return None
        rank = q / 100 * total
        seen = 0
        for index, count in enumerate(self.counts):
            if count and seen + count >= rank:
                lower, upper = self._span(index)
                return lower + (upper - lower) * (rank - seen) / count
            seen += count
        return self._span(len(self.counts) - 1)[1]  # pragma: no cover - rank <= total

    def _span(self, index: int) -> tuple[float, float]:
        """The bucket's bounds, the open ends closed by the observed range (or the edge)."""
        if index == 0:
            edge = self.bounds[0]
            low = self.minimum if self.minimum is not None else min(0.0, edge)
            return min(low, edge), edge
        if index == len(self.bounds):
            edge = self.bounds[-1]
            high = self.maximum if self.maximum is not None else edge
            return edge, max(high, edge)
        return self.bounds[index - 1], self.bounds[index]
