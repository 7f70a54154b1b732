"""A round trip through each Redis host and back: publish to a group this process just joined, time the arrival.

Each host gets a private one-host layer, so a host that is down fails its own trip and no other
(in a several-host layer, the process's inbox topic lives on one of them). A group is used because
a group message always travels through Redis, even to a local member; the trip covers SUBSCRIBE,
PUBLISH and the subscriber connection.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import LayerConfig, describe_host
from ..exceptions import ChannelLayerUnavailable
from ..layer import FanoutChannelLayer

__all__ = ["Pong", "ping"]


@dataclass(frozen=True)
class Pong:
    """The outcome for one host: ``seconds`` from group_send to receive, or the ``error``."""

    shard: str
    seconds: float | None
    error: str | None = None


async def ping(
    options: Mapping[str, Any], timeout: float, backend: type[FanoutChannelLayer] = FanoutChannelLayer
) -> list[Pong]:
    """One round trip per host of the layer CONFIG ``options``, each bounded by ``timeout`` seconds."""
    config = LayerConfig.from_options(options)
    command_timeout = min(timeout, config.command_timeout)
    pongs = []
    for host in config.hosts:
        # Stats reports off: a health check must not show up in fanout_status.
        layer = backend(**{**options, "hosts": [host], "stats_interval": 0, "command_timeout": command_timeout})
        try:
            seconds, error = await _trip(layer, timeout)
        finally:
            await layer.close()
        (shard,) = layer.stats()["shards"] or [describe_host(host)]
        pongs.append(Pong(shard, seconds, error))
    return pongs


async def _trip(layer: FanoutChannelLayer, timeout: float) -> tuple[float | None, str | None]:
    group = f"fanout-ping.{os.urandom(6).hex()}"
    try:
        async with asyncio.timeout(timeout):
            channel = await layer.new_channel("fanout-ping")
            await layer.group_add(group, channel)
            started = time.perf_counter()
            await layer.group_send(group, {"type": "fanout.ping"})
            await layer.receive(channel)
            return time.perf_counter() - started, None
    except ChannelLayerUnavailable as exc:
        return None, str(exc)
    except TimeoutError:
        return None, f"no round trip within {timeout}s"
