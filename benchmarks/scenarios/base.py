"""What a scenario declares: its parameters (full and quick), the metrics it reports, how it runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..harness import Run

__all__ = ["Metric", "Outcome", "Scenario"]

# A run's result: "metrics" (name -> number or None) and "details" (anything JSON can hold).
Outcome = dict[str, Any]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    better: str | None = None  # "higher", "lower", or None for context that has no better
    digits: int = 0
    ratio: bool = True  # False for counts that should be zero, where a ratio says nothing
    redis: bool = False  # read off Redis: meaningless for a layer that does not use it


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str  # formatted with the parameters, so a quick run says what it ran
    run: Callable[[Run, dict[str, Any]], Outcome]
    metrics: tuple[Metric, ...]
    full: dict[str, Any]
    quick: dict[str, Any]
    profile_role: str
    # Whether an in-memory layer takes part: it connects only the consumers of one process.
    in_memory: bool = False
    # A Channels extension the layer must list to take part (``"presence"``), or None.
    requires: str | None = None

    def params(self, quick: bool) -> dict[str, Any]:
        return dict(self.quick if quick else self.full)

    def describe(self, quick: bool) -> str:
        return self.title.format(**self.params(quick))
