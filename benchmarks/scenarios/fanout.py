"""Scenarios 1 and 2: group fan-out to P processes x C consumers in G groups from a separate publisher.

Consumer ``i`` (counted over all processes) joins group ``i % G``; message ``seq`` goes to group
``seq % G``. Saturated: the publisher sends as fast as it can, with ``in_flight`` group_sends
awaited at once (as a server handling many requests does); ``fanout-serial`` awaits one after
another, which a loopback round trip per call bounds. Fixed rate: a schedule of ``rate`` per second.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from array import array
from typing import Any

from ..harness import Run
from ..measure import Tally, cpu_seconds, merge, percentiles_ms
from ..payload import message_factory, probe
from ..priming import prime, probe_until_quiet
from ..processes import Control, expect_all
from ..receiving import receive_forever, receive_measured
from ..redisstats import RedisDelta
from .base import DELIVERY, LATENCY, Metric, Outcome, Scenario

__all__ = ["FANOUT_ONE_GROUP", "FANOUT_RATE", "FANOUT_SATURATED", "FANOUT_SERIAL", "consumer", "publisher"]


def group_name(run_id: str, index: int) -> str:
    return f"bench-{run_id}-{index}"


async def consumer(layer: Any, params: dict[str, Any], control: Control) -> None:
    sends, groups = params["sends"], params["groups"]
    tally = Tally(sends)
    tasks = []
    for i in range(params["consumers"]):
        group = (params["first"] + i) % groups
        channel = await layer.new_channel()
        await layer.group_add(group_name(params["run_id"], group), channel)
        index = tally.add_channel(expected=len(range(group, sends, groups)))
        tasks.append(asyncio.create_task(receive_forever(layer, channel, tally, index)))
    await receive_measured(control, tally, tasks, params["idle"])


async def publisher(layer: Any, params: dict[str, Any], control: Control) -> None:
    groups = [group_name(params["run_id"], g) for g in range(params["groups"])]

    async def send_probes() -> None:
        for group in groups:
            await layer.group_send(group, probe())

    await probe_until_quiet(control, send_probes)
    make, rate, deadline = message_factory(params["size"]), params.get("rate"), control.deadline - 10
    errors: dict[str, int] = {}
    sent = 0
    sequence = iter(range(params["sends"]))
    sent_at = array("d", bytes(8 * params["sends"]))  # when each group_send was called (0.0: never)

    async def sender() -> None:
        """One of ``in_flight`` coroutines that share the sequence numbers."""
        nonlocal sent
        for seq in sequence:
            if rate:
                delay = started + seq / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            message = make(seq)
            sent_at[seq] = message["t"]
            try:
                await layer.group_send(groups[seq % len(groups)], message)
                sent += 1
            except Exception as exc:  # reported, never hidden: a benchmark of a failing layer still finishes
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            if time.monotonic() > deadline:
                break

    await control.expect("go")
    started, cpu = time.monotonic(), cpu_seconds()
    await asyncio.gather(*(sender() for _ in range(params.get("in_flight", 1))))
    finished = time.monotonic()
    cpu = cpu_seconds() - cpu
    measured = {"started": started, "finished": finished, "sent": sent, "errors": errors, "cpu": cpu}
    await control.send("measured", {**measured, "sent_at": sent_at.tobytes()})
    await control.expect("teardown")


def run(run: Run, params: dict[str, Any]) -> Outcome:
    params = dict(params, run_id=uuid.uuid4().hex[:8])
    consumers = [
        run.spawn(f"{__name__}:consumer", dict(params, first=i * params["consumers"]))
        for i in range(params["processes"])
    ]
    sender = run.spawn(f"{__name__}:publisher", params)
    expect_all(consumers, "joined", run.left())
    prime([sender], consumers, run.left())
    before = run.snapshot()
    for worker in [*consumers, sender]:
        worker.send("go")
    published = sender.expect("measured", run.left())
    measured = expect_all(consumers, "measured", run.left())
    redis = run.snapshot() - before
    run.finish([*consumers, sender])
    return outcome(params, published, merge(measured), redis, consumers_cpu=sum(part["cpu"] for part in measured))


def outcome(
    params: dict[str, Any], published: dict[str, Any], tally: dict[str, Any], redis: RedisDelta, consumers_cpu: float
) -> Outcome:
    deliveries = tally["received"]
    duration = tally["last_at"] - published["started"]
    per_1k_ms = 1e6 / deliveries if deliveries else None
    return {
        "metrics": {
            "deliveries_per_s": deliveries / duration if deliveries and duration > 0 else None,
            **percentiles_ms(tally.pop("latencies")),
            "lost": tally["lost"],
            "duplicates": tally["duplicates"],
            "commands_per_send": redis.total_commands / published["sent"] if published["sent"] else None,
            "commands_per_delivery": redis.total_commands / deliveries if deliveries else None,
            "redis_cpu_ms_per_1k": redis.cpu * per_1k_ms if per_1k_ms else None,
            "worker_cpu_ms_per_1k": consumers_cpu * per_1k_ms if per_1k_ms else None,
        },
        "details": {
            "params": params,
            "expected": tally["expected"],
            "received": deliveries,
            "duration_s": duration,
            "publisher": {
                "sent": published["sent"],
                "errors": published["errors"],
                "sends_per_s": published["sent"] / max(published["finished"] - published["started"], 1e-9),
                "cpu_s": published["cpu"],
            },
            "consumers_cpu_s": consumers_cpu,
            "redis": redis.as_dict(),
        },
    }


_COMMON = {"processes": 2, "size": 200, "idle": 3.0}
_LOAD = (
    *DELIVERY,
    Metric("commands_per_send", "Redis commands / group_send", "lower", 2),
    Metric("commands_per_delivery", "Redis commands / delivery", "lower", 3),
    Metric("redis_cpu_ms_per_1k", "Redis CPU ms / 1k deliveries", "lower", 2),
    Metric("worker_cpu_ms_per_1k", "consumer CPU ms / 1k deliveries", "lower", 1),
)
_THROUGHPUT = (Metric("deliveries_per_s", "deliveries/s", "higher"),)


def _bursts(name: str, title: str, *, groups: int, in_flight: int, quick_sends: int) -> Scenario:
    """A saturated scenario: 2,000 group_sends (fewer with --quick) as fast as ``in_flight`` senders go."""
    shape = {**_COMMON, "groups": groups, "in_flight": in_flight}
    return Scenario(
        name=name,
        title=title,
        run=run,
        metrics=_THROUGHPUT + LATENCY + _LOAD,
        full={**shape, "consumers": 500, "sends": 2000},
        quick={**shape, "consumers": 100, "sends": quick_sends, "idle": 1.5},
        profile_role="consumer",
    )


FANOUT_SATURATED = _bursts(
    "fanout",
    "Group fan-out, saturated: P={processes} x C={consumers} consumers, G={groups} groups, "
    "{sends:,} group_sends of {size} B, {in_flight} in flight",
    groups=10, in_flight=50, quick_sends=300,
)
FANOUT_ONE_GROUP = _bursts(
    "fanout-1g",
    "Group fan-out, saturated: one group, P={processes} x C={consumers} consumers, "
    "{sends:,} group_sends of {size} B, {in_flight} in flight",
    groups=1, in_flight=50, quick_sends=200,
)
FANOUT_SERIAL = _bursts(
    "fanout-serial",
    "Group fan-out, one group_send at a time: P={processes} x C={consumers} consumers, G={groups} groups, "
    "{sends:,} group_sends of {size} B",
    groups=10, in_flight=1, quick_sends=300,
)

FANOUT_RATE = Scenario(
    name="fanout-rate",
    title="Group fan-out at {rate} group_sends/s, {sends:,} in all: P={processes} x C={consumers} consumers, "
    "G={groups} groups",
    run=run,
    metrics=LATENCY + _LOAD,
    full={**_COMMON, "consumers": 500, "groups": 10, "sends": 1000, "rate": 100},
    quick={**_COMMON, "consumers": 100, "groups": 10, "sends": 150, "rate": 100, "idle": 1.5},
    profile_role="consumer",
)
