"""Scenario 9: group messages through repeated ``CLIENT KILL TYPE pubsub`` under load (issue 13).

P consumer processes x C members over G groups (as in ``fanout``), a publisher at a fixed rate, and
a killer process that runs ``CLIENT KILL TYPE pubsub`` every ``kill_every`` seconds while the
publisher sends; then the receivers settle. Every layer gets the same schedule and the same kills.
Counted: messages lost, duplicated and delivered out of order (a message after a later one of its
group, on one channel), and what each layer says about it.

A kill only hits subscriber connections: channels_redis' core layer has none (its messages wait in
Redis lists, read with BZPOPMIN), which the count of connections killed shows.

For channels_fanout, each process's outages are the layer's own: its hub logs when it resubscribed
and after how long without the subscription. The messages of an outage are those whose group_send
was called within it; *catch-up* is from the resubscription to when the last of them had reached
every local member of its group: the replay's read, its delivery, and the live traffic held meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
import uuid
from array import array
from collections.abc import Iterator
from typing import Any, cast

import redis.asyncio

from channels_fanout import FanoutChannelLayer, signals

from ..harness import Run
from ..measure import OrderedTally, merge, percentiles_ms
from ..priming import prime
from ..processes import Control, expect_all
from ..receiving import receive_forever, receive_measured
from ..redisstats import RedisDelta
from .base import Metric, Outcome, Scenario, redis_layers_and_history
from .fanout import group_name

__all__ = ["RECOVERY", "consumer", "killer"]

_HUB_LOGGER = "channels_fanout.transport.hub"


class _LayerWatch(logging.Handler):
    """What a layer of this process says about the kills: the warnings and errors its package logs and,
    for channels_fanout, its outages and gap signals.

    channels_fanout's hub logs "Resubscribed ... after <outage>" the moment Redis confirmed the
    subscriptions again, before any replay: that moment, and the outage, are taken from its record.
    """

    def __init__(self, layer: Any) -> None:
        super().__init__(logging.WARNING)
        self.layer = layer
        self.logged = 0
        self.resubscribed: list[tuple[float, float]] = []  # (time.monotonic(), seconds without the subscription)
        self.gap_signals = 0
        self.gap_groups = 0  # groups the gap signals named as possibly incomplete, summed over signals

    def emit(self, record: logging.LogRecord) -> None:
        self.logged += 1
        if record.name == _HUB_LOGGER and str(record.msg).startswith("Resubscribed"):
            outage = cast(tuple[Any, ...], record.args)[2]  # "... after %.2fs without a subscription ..."
            self.resubscribed.append((time.monotonic(), float(outage)))

    def on_gap(self, groups: dict[str, list[str]], **_: Any) -> None:
        self.gap_signals += 1
        self.gap_groups += len({group for names in groups.values() for group in names})

    def report(self) -> dict[str, Any]:
        if not isinstance(self.layer, FanoutChannelLayer):
            return {"logged": self.logged}
        stats = self.layer.stats()
        return {
            "logged": self.logged,
            "resubscribed": self.resubscribed,
            "gap_signals": self.gap_signals,
            "gap_groups": self.gap_groups,
            "history": stats["history"],
            "reconnects": stats["reconnects"],
        }


@contextlib.contextmanager
def _watching(layer: Any) -> Iterator[_LayerWatch]:
    """Watch the layer's package logger, its records kept out of the run's output (one or more per deliberate
    kill would drown the progress lines), and channels_fanout's gap signal."""
    watch, logger = _LayerWatch(layer), logging.getLogger(type(layer).__module__.split(".")[0])
    logger.addHandler(watch)
    logger.propagate = False
    fanout = isinstance(layer, FanoutChannelLayer)
    if fanout:
        signals.gap.connect(watch.on_gap, sender=layer, weak=False)
    try:
        yield watch
    finally:
        if fanout:
            signals.gap.disconnect(watch.on_gap, sender=layer)
        logger.removeHandler(watch)
        logger.propagate = True


async def consumer(layer: Any, params: dict[str, Any], control: Control) -> None:
    sends, groups = params["sends"], params["groups"]
    tally = OrderedTally(sends, groups)
    tasks = []
    with _watching(layer) as watch:
        for i in range(params["consumers"]):
            group = (params["first"] + i) % groups
            channel = await layer.new_channel()
            await layer.group_add(group_name(params["run_id"], group), channel)
            index = tally.add_member(group, expected=len(range(group, sends, groups)))
            tasks.append(asyncio.create_task(receive_forever(layer, channel, tally, index)))
        await receive_measured(control, tally, tasks, params["idle"], report=watch.report)


async def killer(_: Any, params: dict[str, Any], control: Control) -> None:
    """From "go" to "stop": CLIENT KILL TYPE pubsub every ``kill_every`` seconds; reports (time, connections killed)."""
    client = redis.asyncio.Redis.from_url(params["redis_url"])
    kills: list[tuple[float, int]] = []
    try:
        await control.expect("go")
        while True:
            try:
                await control.expect("stop", params["kill_every"])
                break
            except TimeoutError:
                killed = await client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
                kills.append((time.monotonic(), int(killed)))
        await control.send("measured", kills)
        await control.expect("teardown")
    finally:
        await client.aclose()


def run(run: Run, params: dict[str, Any]) -> Outcome:
    if params["consumers"] < params["groups"]:
        raise ValueError("recovery needs members of every group in each process: consumers >= groups")
    params = dict(params, run_id=uuid.uuid4().hex[:8], redis_url=run.redis_url)
    consumers = [
        run.spawn(f"{__name__}:consumer", dict(params, first=i * params["consumers"]))
        for i in range(params["processes"])
    ]
    sender = run.spawn("benchmarks.scenarios.fanout:publisher", params)
    kill = run.spawn(f"{__name__}:killer", params, layer=False)
    expect_all(consumers, "joined", run.left())
    prime([sender], consumers, run.left())
    before = run.snapshot()
    for worker in [*consumers, sender, kill]:
        worker.send("go")
    published = sender.expect("measured", run.left())
    kill.send("stop")
    kills = kill.expect("measured", run.left())
    measured = expect_all(consumers, "measured", run.left())
    redis_delta = run.snapshot() - before
    run.finish([*consumers, sender, kill])
    return _outcome(params, published, kills, measured, redis_delta)


def _outcome(
    params: dict[str, Any],
    published: dict[str, Any],
    kills: list[tuple[float, int]],
    measured: list[dict[str, Any]],
    redis_delta: RedisDelta,
) -> Outcome:
    tally = merge(measured)
    sent_at = array("d")
    sent_at.frombytes(published.pop("sent_at"))
    outages = _catch_up(sent_at, measured)
    fanout = [part for part in measured if "resubscribed" in part]
    history = [part["history"] for part in fanout]
    return {
        "metrics": {
            "killed": sum(killed for _, killed in kills),
            "logged": sum(part["logged"] for part in measured),
            "lost": tally["lost"],
            "duplicates": tally["duplicates"],
            "out_of_order": sum(part["out_of_order"] for part in measured),
            "gap_groups": sum(part["gap_groups"] for part in fanout) if fanout else None,
            "replayed": sum(h["replayed"] for h in history) if fanout else None,
            "unrecovered": sum(h["unrecovered"] for h in history) if fanout else None,
            **outages["metrics"],
            "p99_ms": percentiles_ms(tally.pop("latencies"))["p99_ms"],
        },
        "details": {
            "params": params,
            "expected": tally["expected"],
            "received": tally["received"],
            "publisher": {key: published[key] for key in ("started", "finished", "sent", "errors")},
            "kills": kills,
            "outages": outages["details"],
            "layer": [{key: part[key] for key in ("gap_signals", "history", "reconnects")} for part in fanout],
            "redis": redis_delta.as_dict(),
        },
    }


def _catch_up(sent_at: array[float], measured: list[dict[str, Any]]) -> dict[str, Any]:
    """Per process and outage: whether its messages all arrived, and the catch-up time if they did."""
    seen, lossy, times = [], 0, []
    for part in measured:
        complete_at = array("d")
        complete_at.frombytes(part.pop("complete_at"))
        for at, outage in part.get("resubscribed", []):
            seen.append(outage)
            window = [seq for seq, t in enumerate(sent_at) if at - outage <= t <= at]
            if not window:
                continue
            if any(complete_at[seq] == 0.0 for seq in window):
                lossy += 1
            else:
                times.append(max(complete_at[seq] for seq in window) - at)
    observed = any("resubscribed" in part for part in measured)
    times.sort()
    return {
        "metrics": {
            "outages": len(seen) if observed else None,
            "outage_p50_ms": statistics.median(seen) * 1000 if seen else None,
            "lossy_outages": lossy if observed else None,
            "catch_up_p50_ms": statistics.median(times) * 1000 if times else None,
            "catch_up_max_ms": times[-1] * 1000 if times else None,
        },
        "details": {"outage_s": sorted(seen), "catch_up_s": times},
    }


RECOVERY = Scenario(
    name="recovery",
    title="Recovery: CLIENT KILL TYPE pubsub every {kill_every} s while {rate} group_sends/s flow ({sends:,} of "
    "{size} B) to P={processes} x C={consumers} consumers in G={groups} groups",
    run=run,
    metrics=(
        Metric("killed", "subscriber connections killed (context)", None, ratio=False, redis=True),
        Metric("logged", "warnings and errors the layer logged (context)", None, ratio=False),
        Metric("lost", "lost", "lower", ratio=False),
        Metric("duplicates", "duplicates", "lower", ratio=False),
        Metric("out_of_order", "delivered out of order", "lower", ratio=False),
        Metric("gap_groups", "groups named by gap signals", None, ratio=False),
        Metric("replayed", "messages replayed (stats)", None, ratio=False),
        Metric("unrecovered", "gaps history could not cover (stats)", "lower", ratio=False),
        Metric("outages", "outages seen by the layer", None, ratio=False),
        Metric("outage_p50_ms", "outage p50 (ms)", None, 1, ratio=False),
        Metric("lossy_outages", "outages with a message not delivered", "lower", ratio=False),
        Metric("catch_up_p50_ms", "resubscribed -> outage's last message p50 (ms)", "lower", 1),
        Metric("catch_up_max_ms", "resubscribed -> outage's last message max (ms)", "lower", 1),
        Metric("p99_ms", "latency p99, every delivery (ms)", "lower", 1),
    ),
    full={
        "processes": 2, "consumers": 250, "groups": 20, "sends": 2000, "rate": 200, "in_flight": 10,
        "size": 200, "kill_every": 0.2, "idle": 3.0,
    },
    quick={
        "processes": 2, "consumers": 50, "groups": 20, "sends": 200, "rate": 200, "in_flight": 10,
        "size": 200, "kill_every": 0.2, "idle": 1.0,
    },
    profile_role="consumer",
    takes=redis_layers_and_history,
    references=(),  # counts that should be zero, and times only one layer has: no ratio says more
)  # fmt: skip
