"""Waiting on Redis's own view of the layer, always under a timeout."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import redis


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
