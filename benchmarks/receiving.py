"""The receiving side of a measured run, shared by the scenarios whose workers receive and count."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from .measure import Tally, cpu_seconds
from .processes import Control

__all__ = ["receive_forever", "receive_measured"]


async def receive_forever(layer: Any, channel: str, tally: Tally, index: int) -> None:
    """A consumer: receive on ``channel`` and count every message until cancelled."""
    while True:
        tally.record(index, await layer.receive(channel))


async def receive_measured(
    control: Control,
    tally: Tally,
    tasks: list[asyncio.Task[None]],
    idle: float,
    joined: Any = None,
    report: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """joined -> primed -> go -> measured -> teardown, with the consumers in ``tasks`` running.

    ``joined`` carries data for the runner (a receiver's channel names, say). "measured" reports the
    tally, this process's CPU time from "go" to the end, and what ``report`` returns; the consumers
    stop only at "teardown", after the runner's Redis snapshot, so their cleanup is not counted.
    """
    await control.send("joined", joined)
    await asyncio.wait_for(tally.primed.wait(), control.remaining())
    await control.send("primed")
    await control.expect("go")
    started, cpu = time.monotonic(), cpu_seconds()
    await tally.settle(started, idle, control.deadline - 5)
    extra = report() if report else {}
    await control.send("measured", {**tally.summary(), "cpu": cpu_seconds() - cpu, **extra})
    await control.expect("teardown")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
