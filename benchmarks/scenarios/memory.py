"""Scenario 6: memory of N idle consumers, each in one group and waiting in ``receive()``.

In the process, tracemalloc counts what was allocated between before and after the consumers
joined. "Layer" bytes are the allocations made with the layer's code (its package or redis-py)
anywhere on the allocating stack; the rest is what any consumer costs whatever the layer: its
task, the ``receive()`` coroutine object it awaits, the harness's list. In Redis, the delta of
``used_memory``. Afterwards one message to each group must wake every consumer: idle, not dead.

The in-memory layer sits this one out: its ``receive()`` sweeps every channel for expired
messages, so starting 10,000 receivers under tracemalloc takes many minutes.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

from ..harness import Run
from ..payload import probe
from ..processes import Control
from .base import Metric, Outcome, Scenario

__all__ = ["MEMORY", "holder"]

_FRAMES = 8  # enough to reach the layer's frame above asyncio's or redis-py's own


async def holder(layer: Any, params: dict[str, Any], control: Control) -> None:
    consumers = params["consumers"]
    groups = [f"bench-{params['run_id']}-{g}" for g in range(params["groups"])]
    tracemalloc.start(_FRAMES)
    # One consumer first, in a group of its own: connections and per-process state are not per consumer.
    warm = await layer.new_channel()
    await layer.group_add(f"bench-{params['run_id']}-warm", warm)
    before = _settled_snapshot()
    await control.checkpoint("before")

    channels = []
    for i in range(consumers):
        channel = await layer.new_channel()
        await layer.group_add(groups[i % len(groups)], channel)
        channels.append(channel)
    waiting = [asyncio.create_task(layer.receive(channel)) for channel in channels]
    await asyncio.sleep(params["settle"])
    after = _settled_snapshot()
    await control.checkpoint("joined")
    tracemalloc.stop()

    for group in groups:
        await layer.group_send(group, probe())
    _, pending = await asyncio.wait(waiting, timeout=params["wake_timeout"])
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)

    total, in_layer, by_line = _attribute(after.compare_to(before, "traceback"), _layer_code(layer))
    measured = {
        "process_bytes": total / consumers,
        "layer_bytes": in_layer / consumers,
        "not_woken": len(pending),
        "layer_bytes_by_line": {line: round(size / consumers) for line, size in by_line[:10]},
    }
    await control.send("measured", measured)
    await control.expect("teardown")


def _settled_snapshot() -> tracemalloc.Snapshot:
    gc.collect()
    return tracemalloc.take_snapshot()


def _layer_code(layer: Any) -> tuple[str, ...]:
    """Directories of the layer's top-level package and of redis-py (which a Redis layer is made of)."""
    packages = {type(layer).__module__.split(".")[0], "redis"}
    return tuple(str(Path(sys.modules[name].__file__ or "").parent) + "/" for name in packages if name in sys.modules)


def _attribute(
    growth: list[tracemalloc.StatisticDiff], code: tuple[str, ...]
) -> tuple[int, int, list[tuple[str, int]]]:
    """Total growth, the layer's part, and the layer's part by its innermost line on the stack."""
    total = in_layer = 0
    by_line: dict[str, int] = {}
    for stat in growth:
        total += stat.size_diff
        line = next((f"{f.filename}:{f.lineno}" for f in reversed(stat.traceback) if f.filename.startswith(code)), None)
        if line is not None:
            in_layer += stat.size_diff
            by_line[line] = by_line.get(line, 0) + stat.size_diff
    return total, in_layer, sorted(by_line.items(), key=lambda item: -item[1])


def run(run: Run, params: dict[str, Any]) -> Outcome:
    params = dict(params, run_id=uuid.uuid4().hex[:8])
    worker = run.spawn(f"{__name__}:holder", params)
    snaps = run.serve_checkpoints(worker, ["before", "joined"])
    result = worker.expect("measured", run.left())
    run.finish([worker])
    redis = snaps["joined"] - snaps["before"]
    consumers = params["consumers"]
    return {
        "metrics": {
            "layer_bytes": result["layer_bytes"],
            "process_bytes": result["process_bytes"],
            "redis_bytes": redis.memory / consumers,
            "commands_per_consumer": redis.total_commands / consumers,
            "not_woken": result["not_woken"],
        },
        "details": {"params": params, **result, "redis": redis.as_dict()},
    }


MEMORY = Scenario(
    name="memory",
    title="Memory: {consumers:,} idle consumers waiting in receive(), each in one of {groups:,} groups",
    run=run,
    metrics=(
        Metric("layer_bytes", "process bytes / consumer, layer (tracemalloc)", "lower"),
        Metric("process_bytes", "process bytes / consumer, with its task (tracemalloc)", "lower"),
        Metric("redis_bytes", "Redis bytes / consumer (used_memory)", "lower", redis=True),
        Metric("commands_per_consumer", "Redis commands / consumer joined", "lower", 2, redis=True),
        Metric("not_woken", "consumers not woken by a group_send", "lower", ratio=False),
    ),
    full={"consumers": 10000, "groups": 1000, "settle": 1.0, "wake_timeout": 10.0},
    quick={"consumers": 1000, "groups": 100, "settle": 0.5, "wake_timeout": 5.0},
    profile_role="holder",
)
