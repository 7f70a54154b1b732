"""Waiting on Redis's own view of the layer, always under a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis

from channels_fanout import ChannelLayerUnavailable


async def eventually(check: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll ``check`` until it returns a truthy value; fail with its last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(interval)


async def receive(layer: Any, channel: str, timeout: float = 2.0) -> dict[str, Any]:
    """``layer.receive(channel)``, failing with TimeoutError after ``timeout`` seconds."""
    return await asyncio.wait_for(layer.receive(channel), timeout)  # type: ignore[no-any-return]


def numsub(client: redis.Redis, topic: bytes | str) -> int:
    """How many connections Redis has subscribed to ``topic``."""
    return int(client.pubsub_numsub(topic)[0][1])


def pubsub_clients(client: redis.Redis) -> list[dict[str, Any]]:
    """Connections in subscriber mode, as CLIENT LIST shows them (flag ``P``)."""
    return [c for c in client.client_list() if "P" in c["flags"]]


def command_calls(client: redis.Redis, command: str) -> int:
    """Calls of ``command`` since the server started (INFO commandstats)."""
    return int(client.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


def connections_received(client: redis.Redis) -> int:
    return int(client.info("stats")["total_connections_received"])


#: Layer options that notice a lost connection and reconnect within a second.
FAST = {"heartbeat_interval": 0.3, "reconnect_max_delay": 0.2, "command_timeout": 1}


async def flows_again(sender: Any, receiver: Any, channel: str, group: str, timeout: float = 5.0) -> float:
    """Send directly and to the group until both arrive; returns seconds taken."""
    start = time.monotonic()
    got = set()
    while got != {"direct", "group"}:
        if time.monotonic() - start > timeout:
            raise AssertionError(f"messages did not flow again within {timeout}s (got {got})")
        try:
            await sender.send(channel, {"type": "direct"})
            await sender.group_send(group, {"type": "group"})
        except ChannelLayerUnavailable:
            await asyncio.sleep(0.05)
            continue
        try:
            while True:
                got.add((await asyncio.wait_for(receiver.receive(channel), 0.2))["type"])
        except asyncio.TimeoutError:
            pass
    return time.monotonic() - start


@contextlib.contextmanager
def subscriber_outage(client: redis.Redis) -> Iterator[None]:
    """Kill every pub/sub connection and keep them out until the block ends; other connections keep working.

    New connections are refused meanwhile (``maxclients``), so what is published in the block is missed
    by every subscriber, deterministically.
    """
    maxclients = client.config_get("maxclients")["maxclients"]
    for subscriber in pubsub_clients(client):
        client.client_kill_filter(_id=subscriber["id"])
    client.config_set("maxclients", int(client.info("clients")["connected_clients"]))
    try:
        yield
    finally:
        client.config_set("maxclients", maxclients)


class Numbered:
    """Sends ``{"n": 0, 1, ...}`` to a group until stopped, remembering which sends Redis acknowledged.

    A send that fails (the server is failing over) is not retried: it may or may not have reached the
    history, so the receiver may or may not get it; an acknowledged one must arrive, or its loss be signalled.
    """

    def __init__(self, layer: Any, group: str) -> None:
        self.layer, self.group = layer, group
        self.acknowledged: list[int] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._send())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _send(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                await self.layer.group_send(self.group, {"type": "m", "n": n})
                self.acknowledged.append(n)
            except ChannelLayerUnavailable:
                await asyncio.sleep(0.05)
            n += 1
            await asyncio.sleep(0.002)


class Collector:
    """Receives on a channel from the start, as a consumer would, so its inbox never fills up."""

    def __init__(self, layer: Any, channel: str) -> None:
        self.messages: list[dict[str, Any]] = []
        self._task = asyncio.get_running_loop().create_task(self._collect(layer, channel))

    async def _collect(self, layer: Any, channel: str) -> None:
        while True:
            self.messages.append(await layer.receive(channel))

    async def until_quiet(self, quiet: float = 1.0) -> list[dict[str, Any]]:
        """Everything received, once nothing more has arrived for ``quiet`` seconds; then stop receiving."""
        count = -1
        while count != len(self.messages):
            count = len(self.messages)
            await asyncio.sleep(quiet)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        return self.messages


def assert_no_silent_hole(acknowledged: list[int], received: list[dict[str, Any]], group: str, gaps: list[Any]) -> None:
    """In order, no duplicate, and every acknowledged message received unless a gap named ``group``."""
    numbers = [message["n"] for message in received if "n" in message]
    assert numbers == sorted(set(numbers)), "out of order or duplicated"
    missing = sorted(set(acknowledged) - set(numbers))
    signalled = any(group in groups for report in gaps for groups in report.values())
    assert not missing or signalled, f"acknowledged messages {missing[:10]} missing and no gap named {group!r}"


async def round_trip(layer: Any) -> None:
    """Everything the layer does once: receive, a group (add, send, discard), a direct send, a worker channel, flush."""
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    await layer.group_send("room", {"type": "group"})
    await layer.send(channel, {"type": "direct"})
    await layer.send("jobs", {"type": "job"})
    assert sorted([(await receive(layer, channel))["type"] for _ in range(2)]) == ["direct", "group"]
    assert (await receive(layer, "jobs"))["type"] == "job"
    await layer.group_discard("room", channel)
    await layer.flush()
