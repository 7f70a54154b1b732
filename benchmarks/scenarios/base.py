"""What a scenario declares: its parameters (full and quick), the metrics it reports, how it runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..backends import REFERENCES, Backend
from ..harness import Run

__all__ = [
    "DELIVERY", "LATENCY", "Metric", "Outcome", "Scenario", "every_layer", "presence_layers", "redis_layers",
    "redis_layers_and_history",
]

# A run's result: "metrics" (name -> number or None) and "details" (anything JSON can hold).
Outcome = dict[str, Any]


def redis_layers(backend: Backend) -> bool:
    """Who takes part by default: the layers on Redis, as they come (an in-memory layer connects only the
    consumers of one process; the history variant is measured where history is the point)."""
    return not backend.in_memory and not backend.history


def redis_layers_and_history(backend: Backend) -> bool:
    """The layers on Redis and channels_fanout with history: for scenarios about history."""
    return not backend.in_memory


def presence_layers(backend: Backend) -> bool:
    """channels_fanout as it comes: the layer with the presence extension, for the presence scenario."""
    return backend.fanout and not backend.history


def every_layer(backend: Backend) -> bool:
    """The in-memory layer too: for scenarios that run in one process (not the floor, which has no group_discard)."""
    return not backend.history and not backend.floor


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    better: str | None = None  # "higher", "lower", or None for context that has no better
    digits: int = 0
    ratio: bool = True  # False for counts that should be zero, where a ratio says nothing
    redis: bool = False  # read off Redis: meaningless for a layer that does not use it


# What every scenario that counts its messages reports: latency, then what went missing or twice.
LATENCY = (
    Metric("p50_ms", "latency p50 (ms)", "lower", 1),
    Metric("p99_ms", "latency p99 (ms)", "lower", 1),
    Metric("max_ms", "latency max (ms)", "lower", 1),
)
DELIVERY = (
    Metric("lost", "lost", "lower", ratio=False),
    Metric("duplicates", "duplicates", "lower", ratio=False),
)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str  # formatted with the parameters, so a quick run says what it ran
    run: Callable[[Run, dict[str, Any]], Outcome]
    metrics: tuple[Metric, ...]
    full: dict[str, Any]
    quick: dict[str, Any]
    profile_role: str
    # Which of the chosen backends take part.
    takes: Callable[[Backend], bool] = redis_layers
    # The backends whose medians the others' are divided by in the table.
    references: tuple[str, ...] = REFERENCES
    # Whether --quick runs it when no scenarios are named (named ones run at their quick sizes anyway).
    smoke: bool = True

    def params(self, quick: bool) -> dict[str, Any]:
        return dict(self.quick if quick else self.full)

    def describe(self, quick: bool) -> str:
        return self.title.format(**self.params(quick))
