"""Auto-pipelined commands on a Redis Cluster: one Publisher per primary, each command sent to its key's owner.

The slot map is the cluster client's. A redirected command (MOVED after a slot migrated or a
failover, ASK while a key's slot migrates) is retried once through the cluster client, which
follows the redirection (ASK needs ASKING on the same connection) and updates the map the next
commands use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ClusterError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TryAgainError,
)

from ...exceptions import ChannelLayerRefused, ChannelLayerUnavailable
from ..latency import Latency
from ..publisher import Publisher
from ..refusals import describe_command, refusal

__all__ = ["ClusterPublisher", "primary_of"]

# Where each command the layer sends on a cluster has its key (Redis routes by it).
_KEY_AT = {"SPUBLISH": 1, "EVAL": 3, "EVALSHA": 3, "SET": 1, "HVALS": 1}


class ClusterPublisher:
    """``execute(*command)`` as ``Publisher`` has it, routed by the command's key."""

    def __init__(
        self,
        client: RedisCluster,
        connection_to: Callable[[str], Callable[[], AbstractConnection]],
        timeout: float,
        on_unreachable: Callable[[], None],
        slot_map_ready: Callable[[], Awaitable[None]],
    ) -> None:
        self._client = client
        # Not the client's own initialize(): redis-py before 8.2 leaks a node's connection when that is cancelled
        # half way (a layer closed while its stats reporter's first SET waited for the slot map).
        self._slot_map_ready = slot_map_ready
        self._connection_to = connection_to
        self._timeout = timeout
        self._on_unreachable = on_unreachable
        self._publishers: dict[str, Publisher] = {}
        self._redirected_commands = self._redirected_failed = 0

    async def execute(self, *args: Any) -> Any:
        """Run one command in the next batch to the primary owning its key, and return its reply."""
        key = args[_KEY_AT[args[0]]]
        try:
            await self._slot_map_ready()
            address = primary_of(self._client, key)
        except (RedisError, RedisClusterException, OSError) as exc:
            refused = refusal(exc, "Redis Cluster", *describe_command(args))
            raise refused or ChannelLayerUnavailable(f"Redis Cluster is unavailable: {exc}") from exc
        publisher = self._publishers.get(address)
        if publisher is None:
            publisher = self._publishers[address] = Publisher(self._connection_to(address), address, self._timeout)
        try:
            return await publisher.execute(*args)
        except AskError:
            return await self._redirected(*args)
        except ChannelLayerRefused:
            raise  # the node answered: its slot map stands
        except (ChannelLayerUnavailable, ClusterDownError) as exc:
            self._on_unreachable()  # the owner may have failed over: look the slot map up again
            if isinstance(exc, ChannelLayerUnavailable):
                raise
            raise ChannelLayerUnavailable(f"Redis Cluster at {address} is down: {exc}") from exc

    @property
    def commands(self) -> int:
        """Commands that got a reply (for stats, as ``Publisher.commands``)."""
        return self._redirected_commands + sum(p.commands for p in self._publishers.values())

    @property
    def failed(self) -> int:
        return self._redirected_failed + sum(p.failed for p in self._publishers.values())

    @property
    def latency(self) -> Latency:
        """Batch round trips to every primary, folded into one histogram."""
        total = Latency()
        for publisher in self._publishers.values():
            total.add(publisher.latency)
        return total

    async def close(self) -> None:
        publishers, self._publishers = list(self._publishers.values()), {}
        for publisher in publishers:
            await publisher.close()

    async def _redirected(self, *args: Any) -> Any:
        try:
            reply = await asyncio.wait_for(self._client.execute_command(*args), self._timeout)
        except ResponseError as exc:
            if not isinstance(exc, (ClusterError, AskError, TryAgainError)):
                refused = refusal(exc, "Redis Cluster", *describe_command(args))
                if refused is not None:
                    raise refused from exc
                raise  # the command's own error, as the fast path returns it
            self._redirected_failed += 1
            self._on_unreachable()
            raise ChannelLayerUnavailable(f"Redis Cluster is unavailable: {exc}") from exc
        except (RedisError, RedisClusterException, OSError, asyncio.TimeoutError) as exc:
            self._redirected_failed += 1
            self._on_unreachable()
            raise ChannelLayerUnavailable(f"Redis Cluster is unavailable: {exc or 'timeout'}") from exc
        self._redirected_commands += 1
        return reply


def primary_of(client: RedisCluster, key: bytes | str) -> str:
    """``host:port`` of the primary that owns ``key``'s slot, in the client's slot map."""
    return str(client.nodes_manager.get_node_from_slot(key_slot(key.encode() if isinstance(key, str) else key)).name)
