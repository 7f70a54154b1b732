"""What the node needs from one entry of ``hosts``, and which kind of hub serves it.

A Redis server and a Sentinel-monitored master are served by ``Hub`` (for the latter, every new
connection asks the sentinels where the master is); a Redis Cluster by ``ClusterHub``, on sharded
pub/sub. The node picks a shard by name and never learns which kind it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

from ..exceptions import ChannelLayerRefused
from .cluster.hub import ClusterHub
from .hub import Hub
from .latency import Latency
from .sentinel import master_host
from .supervised import MessageHandler

__all__ = ["PublisherCounters", "Shard", "ShardCounters", "open_shard"]


class PublisherCounters(Protocol):
    """What a shard's publisher counts, for stats(); read-only, since a cluster's sums its per-primary publishers."""

    @property
    def latency(self) -> Latency: ...

    @property
    def commands(self) -> int: ...

    @property
    def failed(self) -> int: ...


class ShardCounters(Protocol):
    """What a shard counts and shows, for stats() and the stats reports."""

    description: str
    reconnects: int
    gaps: int

    @property
    def refusal(self) -> ChannelLayerRefused | None:
        """Why Redis refuses this shard's subscriber connection or some of its subscriptions now, if it does."""

    @property
    def topic_count(self) -> int: ...

    @property
    def subscribed(self) -> bool: ...

    @property
    def publisher(self) -> PublisherCounters: ...


class ShardPublisher(PublisherCounters, Protocol):
    """Auto-pipelined commands, and the counters stats() reads."""

    async def execute(self, *args: Any) -> Any: ...


class Shard(ShardCounters, Protocol):
    """Publishing, reference-counted subscriptions and worker-queue commands on one entry of ``hosts``.

    Also what the stats reporter reads (``monitoring.reports.ReportStore``).
    """

    client: Any  # redis.asyncio.Redis or RedisCluster: both SCAN every node and route commands by key
    #: What publishes on this shard's topics: PUBLISH, or SPUBLISH on a cluster (scripts need to know).
    publish_command: str

    @property
    def publisher(self) -> ShardPublisher: ...

    async def publish(self, topic: bytes, data: bytes) -> None: ...

    async def subscribe(self, topic: bytes) -> None: ...

    def release(self, topic: bytes) -> None: ...

    async def push(self, key: str, item: bytes, capacity: int, ttl: float) -> bool: ...

    async def pop(self, key: str, timeout: float) -> bytes | None: ...

    async def delete_keys(self, pattern: str) -> None: ...

    async def close(self) -> None: ...


def open_shard(
    host: Mapping[str, Any],
    *,
    on_message: MessageHandler,
    on_lost: Callable[[Collection[bytes]], None],
    on_gap: Callable[[Collection[bytes], float], None],
    heartbeat_interval: float,
    command_timeout: float,
    reconnect_max_delay: float,
) -> Shard:
    """The hub for one normalised entry of ``hosts`` (see ``LayerConfig``), on the running loop."""
    if "cluster" in host:
        kind: type[Hub] | type[ClusterHub] = ClusterHub
    else:
        kind = Hub
        if "sentinels" in host:
            host = master_host(host, command_timeout)
    return kind(
        host,
        on_message=on_message,
        on_lost=on_lost,
        on_gap=on_gap,
        heartbeat_interval=heartbeat_interval,
        command_timeout=command_timeout,
        reconnect_max_delay=reconnect_max_delay,
    )
