"""Scenario 3: publish throughput of one process with many concurrent tasks calling ``group_send``.

A second process holds one member in each group, so every group_send has somewhere to go (and the
core layer does its real per-member work); what it receives is counted but is not the point.
Connections are counted from before the publisher's first command to the end of its burst.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ..harness import Run
from ..measure import Tally, cpu_seconds, merge
from ..payload import message_factory, probe
from ..priming import prime, probe_until_quiet
from ..processes import Control, Worker
from ..receiving import receive_forever, receive_measured
from ..redisstats import RedisDelta
from .base import Metric, Outcome, Scenario

__all__ = ["PUBLISH", "Burst", "burst", "measure_burst", "outcome", "publisher", "receiver"]


def _groups(params: dict[str, Any]) -> list[str]:
    return [f"bench-{params['run_id']}-{g}" for g in range(params["groups"])]


def _sends(params: dict[str, Any]) -> int:
    return int(params["tasks"] * params["per_task"])


async def receiver(layer: Any, params: dict[str, Any], control: Control) -> None:
    sends, groups = _sends(params), _groups(params)
    tally = Tally(sends)
    tasks = []
    for g, group in enumerate(groups):
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        index = tally.add_channel(expected=len(range(g, sends, len(groups))))
        tasks.append(asyncio.create_task(receive_forever(layer, channel, tally, index)))
    await receive_measured(control, tally, tasks, params["idle"])


async def publisher(layer: Any, params: dict[str, Any], control: Control) -> None:
    await burst(layer, params, control)
    await control.expect("teardown")


async def burst(layer: Any, params: dict[str, Any], control: Control) -> None:
    """probe -> go -> measured: ``tasks`` concurrent tasks, each sending its ``per_task`` group_sends."""
    groups, per_task = _groups(params), params["per_task"]
    make = message_factory(params["size"])
    errors: dict[str, int] = {}

    async def send_probes() -> None:
        for group in groups:
            await layer.group_send(group, probe())

    async def send_many(task: int) -> None:
        for seq in range(task * per_task, (task + 1) * per_task):
            try:
                await layer.group_send(groups[seq % len(groups)], make(seq))
            except Exception as exc:  # counted and reported; the others carry on
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

    await probe_until_quiet(control, send_probes)
    await control.expect("go")
    started, cpu = time.monotonic(), cpu_seconds()
    await asyncio.wait_for(
        asyncio.gather(*(send_many(task) for task in range(params["tasks"]))), control.remaining() - 10
    )
    finished = time.monotonic()
    sent = _sends(params) - sum(errors.values())
    cpu = cpu_seconds() - cpu
    measured = {"started": started, "finished": finished, "sent": sent, "errors": errors, "cpu": cpu}
    await control.send("measured", measured)


@dataclass(frozen=True)
class Burst:
    """What one burst measured, before its workers tear down."""

    receiver: Worker
    publisher: Worker
    published: dict[str, Any]  # the publisher's "measured"
    tally: dict[str, Any]  # the receiver's, merged
    receiver_cpu: float  # seconds
    redis: RedisDelta  # from the first measured send to the end of the burst
    connections: RedisDelta  # from before the publisher's first command to the end of the burst


def measure_burst(run: Run, params: dict[str, Any], publisher_role: str = f"{__name__}:publisher") -> Burst:
    """Start a receiver and a publisher (running ``burst``), and measure one burst; the caller finishes them."""
    receiving = run.spawn(f"{__name__}:receiver", params)
    sender = run.spawn(publisher_role, params)
    receiving.expect("joined", run.left())
    untouched = run.snapshot()  # the publisher has not connected yet: every layer connects lazily
    prime([sender], [receiving], run.left())
    before = run.snapshot()
    for worker in (receiving, sender):
        worker.send("go")
    published = sender.expect("measured", run.left())
    burst_end = run.snapshot()  # the publisher still holds its connections
    received = receiving.expect("measured", run.left())
    return Burst(
        receiving, sender, published, merge([received]), received["cpu"], burst_end - before, burst_end - untouched
    )


def run(run: Run, params: dict[str, Any]) -> Outcome:
    params = dict(params, run_id=uuid.uuid4().hex[:8])
    measured = measure_burst(run, params)
    run.finish([measured.receiver, measured.publisher])
    return outcome(params, measured)


def outcome(params: dict[str, Any], measured: Burst) -> Outcome:
    published, tally, redis, connections = measured.published, measured.tally, measured.redis, measured.connections
    sent, seconds = published["sent"], published["finished"] - published["started"]
    return {
        "metrics": {
            "sends_per_s": sent / seconds if sent and seconds > 0 else None,
            "connections_opened": connections.connections_opened,
            "connections_held": connections.clients,
            "commands_per_send": redis.total_commands / sent if sent else None,
            "publisher_cpu_ms_per_1k": published["cpu"] * 1e6 / sent if sent else None,
            "redis_cpu_ms_per_1k": redis.cpu * 1e6 / sent if sent else None,
            "errors": sum(published["errors"].values()),
            "lost": tally["lost"],
        },
        "details": {
            "params": params,
            "publisher": published,
            "received": tally["received"],
            "duplicates": tally["duplicates"],
            "redis": redis.as_dict(),
            "connections": connections.as_dict(),
        },
    }


PUBLISH = Scenario(
    name="publish",
    title="Publish throughput: one process, {tasks:,} concurrent tasks x {per_task} group_sends of {size} B, "
    "G={groups} groups with one member each in another process",
    run=run,
    metrics=(
        Metric("sends_per_s", "group_sends/s", "higher"),
        Metric("connections_opened", "connections opened", "lower"),
        Metric("connections_held", "connections held at the end", "lower"),
        Metric("commands_per_send", "Redis commands / group_send", "lower", 2),
        Metric("publisher_cpu_ms_per_1k", "publisher CPU ms / 1k group_sends", "lower", 1),
        Metric("redis_cpu_ms_per_1k", "Redis CPU ms / 1k group_sends", "lower", 1),
        Metric("errors", "group_send errors", "lower", ratio=False),
        Metric("lost", "lost at the receiver (context)", None, ratio=False),
    ),
    full={"tasks": 1000, "per_task": 20, "groups": 10, "size": 200, "idle": 3.0},
    quick={"tasks": 1000, "per_task": 10, "groups": 10, "size": 200, "idle": 1.5},
    profile_role="publisher",
)
