"""Counting what was actually received, and CPU time: in the workers, then merged by the runner.

Nothing is assumed delivered: every channel counts each sequence number it got, so losses and
duplicates are exact, and every delivery's latency is kept for exact percentiles.
"""

from __future__ import annotations

import asyncio
import resource
import time
from array import array
from collections.abc import Iterable
from typing import Any

from .payload import PROBE

__all__ = ["OrderedTally", "Tally", "cpu_seconds", "merge", "percentiles_ms"]

_SATURATED = 255  # a bytearray cell counts up to here; more copies of one message is a broken layer anyway


def cpu_seconds() -> float:
    """User plus system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Tally:
    """What one worker's channels received: a count per (channel, sequence number) and each latency."""

    def __init__(self, sequence_numbers: int) -> None:
        self._size = sequence_numbers
        self._counts: list[bytearray] = []
        self._unprimed: set[int] = set()
        self.expected = 0
        self.unique = 0
        self.received = 0
        self.latencies = array("d")
        self.first_at = 0.0
        self.last_at = 0.0
        self.complete = asyncio.Event()
        self.primed = asyncio.Event()

    def add_channel(self, expected: int) -> int:
        """Track one more channel that should get ``expected`` distinct messages; returns its index."""
        self._counts.append(bytearray(self._size))
        self._unprimed.add(len(self._counts) - 1)
        self.expected += expected
        return len(self._counts) - 1

    def record(self, index: int, message: dict[str, Any]) -> None:
        now = time.monotonic()
        if message["type"] == PROBE:
            self._unprimed.discard(index)
            if not self._unprimed:
                self.primed.set()
            return
        counts, seq = self._counts[index], message["seq"]
        seen = counts[seq]
        if seen == 0:
            self.unique += 1
            if self.unique == self.expected:
                self.complete.set()
        if seen < _SATURATED:
            counts[seq] = seen + 1
        self.received += 1
        self.latencies.append(now - message["t"])
        if not self.first_at:
            self.first_at = now
        self.last_at = now

    async def settle(self, started_at: float, idle: float, deadline: float) -> None:
        """Return once every expected message arrived, or nothing arrived for ``idle`` seconds."""
        while not self.complete.is_set():
            now = time.monotonic()
            if now - max(started_at, self.last_at) > idle or now > deadline:
                return
            try:
                await asyncio.wait_for(self.complete.wait(), 0.1)
            except asyncio.TimeoutError:
                pass

    def summary(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "received": self.received,
            "unique": self.unique,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "latencies": self.latencies.tobytes(),
        }


class OrderedTally(Tally):
    """A Tally that also counts deliveries out of order, and notes when each message had reached every member.

    Message ``seq`` goes to group ``seq % groups`` (as the fan-out scenarios send). A delivery is out of
    order when its channel already got a later message; ``complete_at[seq]`` is when the last of the
    group's local members got ``seq`` (0.0: not all of them did).
    """

    def __init__(self, sequence_numbers: int, groups: int) -> None:
        super().__init__(sequence_numbers)
        self._groups = groups
        self._members = [0] * groups
        self._highest: list[int] = []  # per channel
        self._copies = array("H", bytes(2 * sequence_numbers))
        self.complete_at = array("d", bytes(8 * sequence_numbers))
        self.out_of_order = 0

    def add_member(self, group: int, expected: int) -> int:
        """Track one more channel, a member of ``group``; returns its index."""
        self._members[group] += 1
        self._highest.append(-1)
        return self.add_channel(expected)

    def record(self, index: int, message: dict[str, Any]) -> None:
        super().record(index, message)
        if message["type"] == PROBE:
            return
        seq = message["seq"]
        if seq < self._highest[index]:
            self.out_of_order += 1
        else:
            self._highest[index] = seq
        copies = min(self._copies[seq] + 1, 65535)
        self._copies[seq] = copies
        if copies == self._members[seq % self._groups]:
            self.complete_at[seq] = self.last_at

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "out_of_order": self.out_of_order, "complete_at": self.complete_at.tobytes()}


def merge(summaries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Several workers' tallies as one: totals, losses, duplicates and the sorted latencies."""
    parts = list(summaries)
    latencies = array("d")
    for part in parts:
        latencies.frombytes(part["latencies"])
    expected = sum(part["expected"] for part in parts)
    unique = sum(part["unique"] for part in parts)
    received = sum(part["received"] for part in parts)
    started = [part["first_at"] for part in parts if part["first_at"]]
    return {
        "expected": expected,
        "received": received,
        "lost": expected - unique,
        "duplicates": received - unique,
        "first_at": min(started, default=0.0),
        "last_at": max((part["last_at"] for part in parts), default=0.0),
        "latencies": sorted(latencies),
    }


def percentiles_ms(ordered: list[float]) -> dict[str, float | None]:
    """p50, p99 and max of sorted latencies in seconds, as milliseconds (None when nothing arrived)."""
    if not ordered:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}

    def at(q: float) -> float:
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000

    return {"p50_ms": at(0.50), "p99_ms": at(0.99), "max_ms": ordered[-1] * 1000}
