"""Scenario 5: consumers joining and leaving while messages flow, in one process.

Each group keeps one stable member, as a chat room keeps its other people, and a publisher task
sends to the groups at a fixed rate throughout. Churners repeat what a WebSocket consumer's life
does to the layer: new_channel, group_add, a receive that is cancelled, group_discard.

Redis commands per join are the commands of the churn window minus those of an equally long
window with the same message flow and no churn (measured just before), divided by the joins.

Every cycle is bounded: one that does not finish in time (a layer stuck, or ignoring a
cancellation) is abandoned and counted as stuck.

Correctness is checked afterwards in slower cycles that also wait for a first message (the join
works) and keep receiving on the channel for a while after group_discard returned: a message sent
after that moment must never arrive (one sent before it may still be in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from ..harness import Run
from ..measure import cpu_seconds, percentiles_ms
from ..payload import message_factory
from ..processes import Control
from .base import Metric, Outcome, Scenario, every_layer

__all__ = ["CHURN", "churner"]


class _Counts:
    def __init__(self) -> None:
        self.joins = 0
        self.join_seconds: list[float] = []
        self.got_before_cancel = 0
        self.missed_first = 0
        self.violations = 0
        self.late = 0
        self.stuck = 0


async def churner(layer: Any, params: dict[str, Any], control: Control) -> None:
    groups = [f"bench-{params['run_id']}-{g}" for g in range(params["groups"])]
    counts = _Counts()
    stop = asyncio.Event()
    background = [asyncio.create_task(_publish(layer, groups, params, stop))]
    for group in groups:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        background.append(asyncio.create_task(_drain(layer, channel)))
    await asyncio.sleep(params["warmup"])

    await control.checkpoint("baseline-start")
    await asyncio.sleep(params["baseline"])
    await control.checkpoint("baseline-end")

    await control.checkpoint("churn-start")
    started, cpu = time.monotonic(), cpu_seconds()
    until = started + params["duration"]
    await _repeat(
        params["churners"],
        lambda i: _cycle(layer, groups[i % len(groups)], counts),
        counts,
        params["stuck_after"],
        until=until,
    )
    seconds, cpu = time.monotonic() - started, cpu_seconds() - cpu
    await control.checkpoint("churn-end")

    checks = _Counts()
    await _repeat(
        params["churners"],
        lambda i: _strict_cycle(layer, groups[i % len(groups)], checks, params),
        checks,
        params["stuck_after"] + params["first_timeout"] + params["window"],
        count=params["strict_cycles"],
        until=time.monotonic() + control.remaining() - 10,
    )
    await control.send(
        "measured",
        {
            "joins": counts.joins,
            "seconds": seconds,
            "cpu": cpu,
            "join_seconds": sorted(counts.join_seconds),
            "got_before_cancel": counts.got_before_cancel,
            "strict_cycles": checks.joins,
            "missed_first": checks.missed_first,
            "violations": checks.violations,
            "late": checks.late,
            "stuck": counts.stuck + checks.stuck,
        },
    )
    await control.expect("teardown")
    stop.set()
    for task in background[1:]:
        task.cancel()
    await asyncio.gather(*background, return_exceptions=True)


async def _repeat(
    workers: int,
    cycle: Callable[[int], Coroutine[Any, Any, None]],
    counts: _Counts,
    stuck_after: float,
    until: float,
    count: int | None = None,
) -> None:
    """``workers`` concurrent loops running ``cycle`` until the time (or the total count) is up."""
    started = 0

    async def loop(worker: int) -> None:
        nonlocal started
        while time.monotonic() < until and (count is None or started < count):
            started += 1
            task = asyncio.create_task(cycle(worker + started))
            done, _ = await asyncio.wait({task}, timeout=stuck_after)
            if done:
                task.result()
            else:  # never awaited again: a layer that ignores the cancellation must not hang the run
                task.cancel()
                counts.stuck += 1

    await asyncio.gather(*(loop(worker) for worker in range(workers)))


async def _cycle(layer: Any, group: str, counts: _Counts) -> None:
    began = time.monotonic()
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    counts.join_seconds.append(time.monotonic() - began)
    if await _receive_then_cancel(layer, channel):
        counts.got_before_cancel += 1
    await layer.group_discard(group, channel)
    counts.joins += 1


async def _strict_cycle(layer: Any, group: str, checks: _Counts, params: dict[str, Any]) -> None:
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    try:
        await asyncio.wait_for(layer.receive(channel), params["first_timeout"])
    except asyncio.TimeoutError:
        checks.missed_first += 1
    await _receive_then_cancel(layer, channel)
    await layer.group_discard(group, channel)
    discarded = time.monotonic()
    checks.joins += 1
    while (left := discarded + params["window"] - time.monotonic()) > 0:
        try:
            message = await asyncio.wait_for(layer.receive(channel), left)
        except asyncio.TimeoutError:
            break
        if message["t"] > discarded:  # group_send was called after group_discard returned
            checks.violations += 1
        else:
            checks.late += 1


async def _receive_then_cancel(layer: Any, channel: str) -> bool:
    """Start a receive, let it wait, cancel it (a consumer leaving); True if a message beat the cancel."""
    receiving = asyncio.create_task(layer.receive(channel))
    await asyncio.sleep(0)
    receiving.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await receiving
        return True
    return False


async def _publish(layer: Any, groups: list[str], params: dict[str, Any], stop: asyncio.Event) -> None:
    make, rate = message_factory(params["size"]), params["rate"]
    started, seq = time.monotonic(), 0
    while not stop.is_set():
        delay = started + seq / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await layer.group_send(groups[seq % len(groups)], make(seq))
        seq += 1


async def _drain(layer: Any, channel: str) -> None:
    while True:
        await layer.receive(channel)


def run(run: Run, params: dict[str, Any]) -> Outcome:
    params = dict(params, run_id=uuid.uuid4().hex[:8])
    worker = run.spawn(f"{__name__}:churner", params)
    snaps = run.serve_checkpoints(worker, ["baseline-start", "baseline-end", "churn-start", "churn-end"])
    result = worker.expect("measured", run.left())
    run.finish([worker])
    baseline = snaps["baseline-end"] - snaps["baseline-start"]
    churn = snaps["churn-end"] - snaps["churn-start"]
    joins, scale = result["joins"], churn.seconds / baseline.seconds
    per_join = (
        {
            name: round((calls - baseline.commands.get(name, 0) * scale) / joins, 3)
            for name, calls in churn.commands.items()
        }
        if joins
        else {}
    )
    latency = percentiles_ms(result.pop("join_seconds"))
    return {
        "metrics": {
            "joins_per_s": joins / result["seconds"] if joins else None,
            "commands_per_join": (churn.total_commands - baseline.total_commands * scale) / joins if joins else None,
            "join_p50_ms": latency["p50_ms"],
            "join_p99_ms": latency["p99_ms"],
            "worker_cpu_ms_per_join": result["cpu"] * 1000 / joins if joins else None,
            "redis_cpu_ms_per_1k": (churn.cpu - baseline.cpu * scale) * 1e6 / joins if joins else None,
            "violations": result["violations"],
            "missed_first": result["missed_first"],
            "stuck": result["stuck"],
        },
        "details": {
            "params": params,
            **result,
            "commands_per_join_by_name": per_join,
            "redis_churn": churn.as_dict(),
            "redis_baseline": baseline.as_dict(),
        },
    }


CHURN = Scenario(
    name="churn",
    title="Connection churn: {churners} concurrent consumers joining/leaving G={groups} groups (each with a "
    "stable member) for {duration} s while {rate} group_sends/s flow; then {strict_cycles} checked cycles",
    run=run,
    metrics=(
        Metric("joins_per_s", "joins/s (join + leave cycles)", "higher"),
        Metric("commands_per_join", "Redis commands / join", "lower", 2, redis=True),
        Metric("join_p50_ms", "new_channel + group_add p50 (ms)", "lower", 2),
        Metric("join_p99_ms", "new_channel + group_add p99 (ms)", "lower", 2),
        Metric("worker_cpu_ms_per_join", "process CPU ms / join", "lower", 3),
        Metric("redis_cpu_ms_per_1k", "Redis CPU ms / 1k joins", "lower", 1, redis=True),
        Metric("violations", "deliveries after group_discard returned", "lower", ratio=False),
        Metric("missed_first", "checked joins with no message in 2 s", "lower", ratio=False),
        Metric("stuck", "cycles abandoned as stuck", "lower", ratio=False),
    ),
    full={
        "groups": 10,
        "churners": 50,
        "rate": 200,
        "size": 200,
        "duration": 10,
        "warmup": 0.5,
        "baseline": 2,
        "strict_cycles": 500,
        "window": 0.1,
        "first_timeout": 2.0,
        "stuck_after": 5.0,
    },
    quick={
        "groups": 10,
        "churners": 50,
        "rate": 200,
        "size": 200,
        "duration": 1.5,
        "warmup": 0.3,
        "baseline": 0.75,
        "strict_cycles": 100,
        "window": 0.1,
        "first_timeout": 2.0,
        "stuck_after": 3.0,
    },
    profile_role="churner",
    takes=every_layer,
)
