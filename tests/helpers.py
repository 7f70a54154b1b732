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
