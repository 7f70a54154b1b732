"""Presence across OS processes: one killed, one cut off from Redis, Redis itself restarted.

A short ``presence_timeout`` keeps these fast; every bound is asserted relative to it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from channels_fanout import FanoutChannelLayer
from tests.helpers import FAST, command_calls, eventually, numsub, receive
from tests.layer_process import LayerProcess
from tests.redis_server import RedisServer

TIMEOUT = 1.5
INTERVAL = TIMEOUT / 3  # the beat
SLACK = 0.5  # scheduling on a shared 2-core machine
OPTIONS = {"presence_timeout": TIMEOUT, "presence_message_type": "presence", "stats_interval": 0}


@pytest.fixture
def spawn() -> Iterator[Callable[..., LayerProcess]]:
    """Layer processes, stopped (cleanly) after the test; ask for a private Redis before this fixture."""
    children: list[LayerProcess] = []

    def start(url: str, **options: Any) -> LayerProcess:
        child = LayerProcess(url, **{**OPTIONS, **options})
        children.append(child)
        return child

    yield start
    for child in children:
        child.stop()


@pytest.fixture
async def listener_on(make_layer):
    """A layer in the test process with a member of ``group`` that tracks nothing: it hears the events."""

    async def make(url: str, group: str = "room", **options: Any) -> tuple[FanoutChannelLayer, str]:
        layer = make_layer(hosts=[url], **{**OPTIONS, **FAST, **options})
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        return layer, channel

    return make


async def events(layer: FanoutChannelLayer, channel: str, count: int, timeout: float = 2.0) -> list[dict[str, Any]]:
    return [await receive(layer, channel, timeout) for _ in range(count)]


async def nothing_more(layer: FanoutChannelLayer, channel: str, timeout: float) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await receive(layer, channel, timeout)


def sorted_metas(metas: dict[str, Any]) -> dict[str, list[Any]]:
    return {key: sorted(value["metas"], key=repr) for key, value in metas.items()}


def presence_events(process: LayerProcess, channel: str) -> list[dict[str, Any]]:
    return [m for m in process.ask(report=True).get(channel, []) if m["type"] == "presence"]


async def test_three_processes_track_and_every_one_lists_them_all(spawn, redis_url, listener_on):
    processes = [spawn(redis_url) for _ in range(3)]
    listener, ear = await listener_on(redis_url)
    processes[0].ask(track="room", key="alice", meta={"tab": 1})
    processes[1].ask(track="room", key="alice", meta={"tab": 2})
    (bob,) = processes[2].ask(track="room", key="bob")
    expected = {"alice": [{"tab": 1}, {"tab": 2}], "bob": [{}]}
    for process in processes:
        listed = process.ask(list="room")
        assert {key: sorted(metas, key=repr) for key, metas in listed.items()} == expected
    # Joins: alice's first channel and bob's, not alice's second.
    joined = await events(listener, ear, 2)
    assert [list(event["joins"]) for event in joined] == [["alice"], ["bob"]]
    processes[2].ask(untrack="room", channel=bob)
    assert (await receive(listener, ear))["leaves"] == {"bob": {"metas": [{}]}}
    assert sorted(await listener.presence_list("room")) == ["alice"]
    assert [process.ask(stats=True)["tracked"] for process in processes] == [1, 1, 0]


async def test_a_killed_process_leaves_once_within_the_bound_announced_by_one_of_two_survivors(
    spawn, redis_url, listener_on
):
    victim, one, two = spawn(redis_url), spawn(redis_url), spawn(redis_url)
    listener, ear = await listener_on(redis_url)
    victim.ask(track="room", key="alice", meta={"tab": 1})
    victim.ask(track="room", key="alice", meta={"tab": 2})
    victim.ask(track="room", key="dave", meta={"on": "victim"})
    (bob,) = one.ask(track="room", key="bob")
    (dave,) = two.ask(track="room", key="dave", meta={"on": "two"})
    await events(listener, ear, 3)  # alice, dave, bob joined
    await asyncio.sleep(INTERVAL)  # the victim has beaten since its last track

    victim.process.kill()
    killed = time.monotonic()
    (left,) = await events(listener, ear, 1, timeout=TIMEOUT + INTERVAL + 2)
    took = time.monotonic() - killed
    # Its deadline was set at most one beat before the kill; a survivor's beat comes within one more.
    assert TIMEOUT - INTERVAL - 0.1 <= took <= TIMEOUT + INTERVAL + SLACK
    assert left["joins"] == {} and sorted_metas(left["leaves"]) == {"alice": [{"tab": 1}, {"tab": 2}]}  # not dave
    await nothing_more(listener, ear, TIMEOUT + INTERVAL)  # never twice

    assert sorted(await listener.presence_list("room")) == ["bob", "dave"]
    assert one.ask(stats=True)["presence"]["reaped"] + two.ask(stats=True)["presence"]["reaped"] == 1
    for process, channel in ((one, bob), (two, dave)):  # the survivors' own members heard it once too
        assert [event["leaves"] for event in presence_events(process, channel) if event["leaves"]] == [left["leaves"]]


async def test_a_process_stopped_cleanly_leaves_at_once(spawn, redis_url, listener_on):
    leaving = spawn(redis_url, presence_timeout=30)
    listener, ear = await listener_on(redis_url)
    leaving.ask(track="room", key="alice")
    await events(listener, ear, 1)
    started = time.monotonic()
    await asyncio.to_thread(leaving.stop)  # stdin closed: the process closes its layer and exits
    (left,) = await events(listener, ear, 1)
    assert left["leaves"] == {"alice": {"metas": [{}]}} and time.monotonic() - started < 5
    assert await listener.presence_list("room") == {}


@pytest.fixture
def partitionable(private_redis: RedisServer) -> str:
    """A URL for a Redis user the test can lock out: ``ACL SETUSER cut off`` plus ``CLIENT KILL``."""
    with private_redis.client() as client:
        client.execute_command("ACL", "SETUSER", "cut", "on", ">secret", "~*", "&*", "+@all")
    return f"redis://cut:secret@127.0.0.1:{private_redis.port}/0"


def cut_off(server: RedisServer, cut: bool) -> None:
    with server.client() as client:
        client.execute_command("ACL", "SETUSER", "cut", "off" if cut else "on")
        if cut:
            client.execute_command("CLIENT", "KILL", "USER", "cut")


async def test_a_partitioned_process_is_reaped_and_comes_back_with_joins(
    private_redis, partitionable, spawn, listener_on
):
    stranded, other = spawn(partitionable, **FAST), spawn(private_redis.url, **FAST)
    listener, ear = await listener_on(private_redis.url)
    stranded.ask(track="room", key="alice", meta={"tab": 1})
    other.ask(track="room", key="bob")
    await events(listener, ear, 2)

    cut_off(private_redis, True)
    (left,) = await events(listener, ear, 1, timeout=TIMEOUT + INTERVAL + 2)
    assert left["leaves"] == {"alice": {"metas": [{"tab": 1}]}}
    assert await listener.presence_list("room") == {"bob": [{}]}

    cut_off(private_redis, False)
    # Its next beat finds its tombstone: it was reaped, so it re-asserts with a join.
    (back,) = await events(listener, ear, 1, timeout=INTERVAL + 3)
    assert back == {"type": "presence", "group": "room", "joins": {"alice": {"metas": [{"tab": 1}]}}, "leaves": {}}
    assert await listener.presence_list("room") == {"alice": [{"tab": 1}], "bob": [{}]}
    await nothing_more(listener, ear, TIMEOUT + INTERVAL)
    assert stranded.ask(stats=True)["presence"]["resyncs"] >= 1


async def test_after_a_redis_restart_entries_are_reasserted_without_leave_or_join_events(
    private_redis, spawn, listener_on
):
    processes = [spawn(private_redis.url, **FAST) for _ in range(2)]
    listener, ear = await listener_on(private_redis.url)
    processes[0].ask(track="room", key="alice")
    processes[1].ask(track="room", key="bob", count=2)
    await events(listener, ear, 2)
    expected = {"alice": [{}], "bob": [{}, {}]}

    private_redis.restart()  # no persistence: every entry is gone, and nobody was told
    with private_redis.client() as client:
        await eventually(lambda: numsub(client, "asgi:group:{room}") == 3, timeout=5)  # everyone resubscribed

        async def listed() -> dict[str, Any]:
            return await listener.presence_list("room")

        deadline = time.monotonic() + INTERVAL + 3
        while await listed() != expected:
            assert time.monotonic() < deadline, f"not re-asserted: {await listed()}"
            await asyncio.sleep(0.05)
        await nothing_more(listener, ear, TIMEOUT + INTERVAL)
        assert command_calls(client, "publish") == 0  # no presence event at all: no false leave or join storm
