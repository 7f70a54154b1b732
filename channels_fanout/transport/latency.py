"""A running latency histogram: one ``observe`` per pipelined batch, cheap enough for the send path."""

from __future__ import annotations

from bisect import bisect_left

__all__ = ["BOUNDS", "Latency"]

#: Upper bounds in seconds, from a loopback round trip (~0.1 ms) to a struggling server (2.5 s).
BOUNDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Latency:
    """Count, sum, maximum and bucket counts of observed durations; no lock, no allocation per observation."""

    __slots__ = ("count", "total", "max", "_buckets")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self._buckets = [0] * (len(BOUNDS) + 1)  # the last one is +Inf

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        if seconds > self.max:
            self.max = seconds
        self._buckets[bisect_left(BOUNDS, seconds)] += 1

    def add(self, other: Latency) -> None:
        """Fold ``other`` into this one (several event loops, or a closed one, into one process view)."""
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)
        for index, observed in enumerate(other._buckets):
            self._buckets[index] += observed

    def cumulative(self) -> dict[str, int]:
        """Observations at or under each bound, keyed as Prometheus ``le`` labels ("+Inf" last)."""
        result: dict[str, int] = {}
        running = 0
        for bound, observed in zip((*map(repr, BOUNDS), "+Inf"), self._buckets, strict=True):
            running += observed
            result[bound] = running
        return result
