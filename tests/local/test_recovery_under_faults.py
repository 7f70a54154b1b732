"""Recovery for real: consumer processes lose their subscriber connections over and over, or fall so far behind
that Redis drops them; with history every member still gets every message once and in order."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import FAST, eventually, pubsub_clients
from tests.layer_process import LayerProcess

GROUPS = [f"room.{index}" for index in range(20)]
HISTORY = {"room.*": {"size": 2000, "ttl": 120}}


@contextlib.contextmanager
def consumers(url: str, **options: Any) -> Iterator[list[LayerProcess]]:
    """Two consumer processes holding 500 members over the 20 groups (13 and 12 per group)."""
    processes = [LayerProcess(url, **FAST, gap_message_type="gap", **options) for _ in range(2)]
    try:
        for process, per_group in zip(processes, (13, 12), strict=True):
            for group in GROUPS:
                process.ask(join=group, count=per_group)
        yield processes
    finally:
        for process in processes:
            process.stop()


async def publish(layer: Any, per_group: int) -> None:
    """``per_group`` messages to each group, in order within a group, all groups at once."""

    async def one_group(group: str) -> None:
        for n in range(per_group):
            await layer.group_send(group, {"type": "m", "n": n})

    await asyncio.gather(*(one_group(group) for group in GROUPS))


async def kill_subscribers(client: Any, every: float, stop: asyncio.Event) -> int:
    kills = 0
    while not stop.is_set():
        await asyncio.sleep(every)
        await asyncio.to_thread(client.execute_command, "CLIENT", "KILL", "TYPE", "pubsub")
        kills += 1
    return kills


async def publish_under_kills(make_layer: Any, server: Any, per_group: int, **options: Any) -> int:
    publisher = make_layer(hosts=[server.url], **FAST, **options)
    stop = asyncio.Event()
    with server.client() as client:
        killer = asyncio.create_task(kill_subscribers(client, 0.2, stop))
        try:
            await publish(publisher, per_group)
        finally:
            stop.set()
            kills = await killer
    return kills


def settled(processes: list[LayerProcess], per_group: int) -> list[dict[str, Any]] | None:
    """The tallies once every process has received all it will: subscribed again, and two equal tallies in a row."""
    tallies = [process.ask(tally=per_group) for process in processes]
    if not all(tally["subscribed"] for tally in tallies):
        return None  # an outage is still under way: what it missed is still to be replayed
    time.sleep(0.3)
    return tallies if tallies == [process.ask(tally=per_group) for process in processes] else None


@pytest.mark.timeout(180)
async def test_with_history_every_member_gets_every_message_once_in_order_through_repeated_kills(
    make_layer, private_redis
):
    per_group = 1000  # 20,000 group_sends
    with consumers(private_redis.url, history=HISTORY) as processes:
        kills = await publish_under_kills(make_layer, private_redis, per_group, history=HISTORY)
        assert kills >= 3
        tallies = await eventually(lambda: settled(processes, per_group), timeout=60, interval=0.5)
    for tally in tallies:
        for group, counts in tally["groups"].items():
            assert counts["complete"] == counts["channels"], (group, str(counts), tally["gap_signal_groups"])
            assert counts["duplicates"] == counts["out_of_order"] == 0, (group, counts)
        assert tally["gap_signal_groups"] == [] and tally["gap_message_groups"] == []  # history covered every gap
        assert tally["history"]["replayed"] > 0 and tally["history"]["unrecovered"] == 0
    assert any(tally["gap_signals"] for tally in tallies)  # the process inboxes (direct sends) did lose their topic


@pytest.mark.timeout(180)
async def test_without_history_the_same_run_loses_messages_and_signals_the_gap(make_layer, private_redis):
    per_group = 1000
    with consumers(private_redis.url) as processes:
        await publish_under_kills(make_layer, private_redis, per_group)
        tallies = await eventually(lambda: settled(processes, per_group), timeout=60, interval=0.5)
    incomplete = sum(c["channels"] - c["complete"] for t in tallies for c in t["groups"].values())
    received = sum(c["received"] for t in tallies for c in t["groups"].values())
    assert incomplete > 0 and received < 500 * per_group
    assert all(tally["gap_signal_groups"] for tally in tallies)
    assert set().union(*(tally["gap_message_groups"] for tally in tallies)) <= set(GROUPS)


@pytest.fixture
def small_pubsub_buffer(tmp_path):
    """A redis-server that disconnects a subscriber as soon as 256 KB of output waits for it."""
    from tests.redis_server import RedisServer

    server = RedisServer(tmp_path / "redis", None, "--client-output-buffer-limit", "pubsub 256kb 128kb 1")
    server.start()
    yield server
    server.stop()


@pytest.mark.timeout(120)
async def test_a_frozen_consumer_dropped_by_redis_for_its_output_buffer_gets_everything_after_it_thaws(
    make_layer, small_pubsub_buffer
):
    server = small_pubsub_buffer
    history = {"room.*": {"size": 100_000, "ttl": 120}}
    consumer = LayerProcess(server.url, **FAST, history=history)
    publisher = make_layer(hosts=[server.url], **FAST, history=history)
    pad = "x" * 1000
    sent = 0

    async def hundred_more() -> int:
        await asyncio.gather(*(publisher.group_send("room.0", {"n": n, "pad": pad}) for n in range(sent, sent + 100)))
        return sent + 100

    try:
        consumer.ask(join="room.0", count=3)
        pid = consumer.ask(pid=True)
        os.kill(pid, signal.SIGSTOP)
        try:
            with server.client() as client:
                while pubsub_clients(client) and sent < 60_000:  # until Redis drops it, kernel buffers full too
                    sent = await hundred_more()
                assert not pubsub_clients(client), "Redis never dropped the frozen subscriber"
            for _ in range(5):  # and more while it is gone
                sent = await hundred_more()
        finally:
            os.kill(pid, signal.SIGCONT)
        tally = await eventually(lambda: settled([consumer], sent), timeout=60, interval=0.5)
    finally:
        consumer.stop()
    counts = tally[0]["groups"]["room.0"]
    assert counts["complete"] == counts["channels"] == 3, str(counts)
    assert tally[0]["gap_signal_groups"] == []
    assert tally[0]["history"]["replayed"] > 500  # what Redis had to throw away came back from the history
