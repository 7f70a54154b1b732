"""Scenario 4: point-to-point, N sender tasks in one process each streaming to its own receiver in another.

Each sender awaits one ``send`` after another; a ``ChannelFull`` (the receiver is behind) is counted
and the same message is sent again a millisecond later, as a careful application would.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from channels.exceptions import ChannelFull

from ..harness import Run
from ..measure import Tally, cpu_seconds, merge, percentiles_ms
from ..payload import message_factory, probe
from ..priming import prime, probe_until_quiet
from ..processes import Control
from ..receiving import receive_forever, receive_measured
from .base import DELIVERY, LATENCY, Metric, Outcome, Scenario

__all__ = ["P2P", "receiver", "sender"]


async def receiver(layer: Any, params: dict[str, Any], control: Control) -> None:
    tally = Tally(params["per_pair"])
    channels, tasks = [], []
    for _ in range(params["pairs"]):
        channel = await layer.new_channel()
        index = tally.add_channel(expected=params["per_pair"])
        channels.append(channel)
        tasks.append(asyncio.create_task(receive_forever(layer, channel, tally, index)))
    await receive_measured(control, tally, tasks, params["idle"], joined=channels)


async def sender(layer: Any, params: dict[str, Any], control: Control) -> None:
    channels: list[str] = await control.expect("channels")
    make, deadline = message_factory(params["size"]), control.deadline - 10
    full = 0

    async def send_probes() -> None:
        for channel in channels:
            try:
                await layer.send(channel, probe())
            except ChannelFull:
                pass

    async def stream(channel: str) -> None:
        nonlocal full
        for seq in range(params["per_pair"]):
            message = make(seq)
            while True:
                try:
                    await layer.send(channel, message)
                    break
                except ChannelFull:
                    full += 1
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.001)

    await probe_until_quiet(control, send_probes)
    await control.expect("go")
    started, cpu = time.monotonic(), cpu_seconds()
    await asyncio.gather(*(stream(channel) for channel in channels))
    finished = time.monotonic()
    await control.send("measured", {"started": started, "finished": finished, "full": full, "cpu": cpu_seconds() - cpu})
    await control.expect("teardown")


def run(run: Run, params: dict[str, Any]) -> Outcome:
    receiving = run.spawn(f"{__name__}:receiver", params)
    sending = run.spawn(f"{__name__}:sender", params)
    sending.send("channels", receiving.expect("joined", run.left()))
    prime([sending], [receiving], run.left())
    before = run.snapshot()
    for worker in (receiving, sending):
        worker.send("go")
    sent = sending.expect("measured", run.left())
    received = receiving.expect("measured", run.left())
    redis = run.snapshot() - before
    run.finish([receiving, sending])
    tally = merge([received])
    messages, sends = tally["received"], params["pairs"] * params["per_pair"]
    duration = tally["last_at"] - sent["started"]
    per_1k_ms = 1e6 / messages if messages else None
    return {
        "metrics": {
            "messages_per_s": messages / duration if messages and duration > 0 else None,
            **percentiles_ms(tally.pop("latencies")),
            "lost": tally["lost"],
            "duplicates": tally["duplicates"],
            "commands_per_send": redis.total_commands / sends,
            "channel_full": sent["full"],
            "redis_cpu_ms_per_1k": redis.cpu * per_1k_ms if per_1k_ms else None,
            "worker_cpu_ms_per_1k": (sent["cpu"] + received["cpu"]) * per_1k_ms if per_1k_ms else None,
        },
        "details": {"params": params, "sender": sent, "received": messages, "redis": redis.as_dict()},
    }


P2P = Scenario(
    name="p2p",
    title="Point-to-point: {pairs} sender/receiver pairs across two processes, {per_pair} sends each of {size} B",
    run=run,
    metrics=(
        Metric("messages_per_s", "messages/s", "higher"),
        *LATENCY,
        *DELIVERY,
        Metric("commands_per_send", "Redis commands / send", "lower", 2),
        Metric("channel_full", "ChannelFull retries (context)", None, ratio=False),
        Metric("redis_cpu_ms_per_1k", "Redis CPU ms / 1k messages", "lower", 2),
        Metric("worker_cpu_ms_per_1k", "sender+receiver CPU ms / 1k messages", "lower", 1),
    ),
    full={"pairs": 50, "per_pair": 400, "size": 200, "idle": 3.0},
    quick={"pairs": 50, "per_pair": 60, "size": 200, "idle": 1.5},
    profile_role="receiver",
)
