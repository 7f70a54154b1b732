"""Where a Redis Cluster's slots live, as one event loop knows it: redis-py's cluster client and its slot map.

The map is read once before the first command and again only on evidence (a MOVED, an unreachable
node, a publish that found no primary). A read is never cancelled half way, since redis-py leaks the
connection of one that is: callers time out waiting for it, and the next caller waits for the same read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff

__all__ = ["BACKOFF_BASE", "SlotMap"]

BACKOFF_BASE = 0.05


class SlotMap:
    """The cluster client of one hub, the reads of its slot map, and connections to its nodes."""

    def __init__(self, urls: tuple[str, ...], kwargs: dict[str, Any], command_timeout: float, max_delay: float) -> None:
        self._urls = urls
        self._kwargs = kwargs
        self._command_timeout = command_timeout
        self._max_delay = max_delay
        self.client = self.make_client(socket_timeout=command_timeout)
        self.stale = False  # read it again before routing
        self.known = False  # read at least once: commands can be routed
        self._read: asyncio.Task[None] | None = None

    def make_client(self, *, socket_timeout: float) -> RedisCluster:
        startup = [
            ClusterNode(parts.hostname or "localhost", parts.port or 6379) for parts in map(urlsplit, self._urls)
        ]
        # A few quick retries (redis-py's default is ten): a failover shows as ChannelLayerUnavailable
        # within about ``command_timeout``, as on one server, and the router re-reads the slot map.
        retry = Retry(ExponentialWithJitterBackoff(cap=self._max_delay, base=BACKOFF_BASE), 2)
        kwargs = {"retry": retry, **self._kwargs, "socket_timeout": socket_timeout}
        return RedisCluster.from_url(self._urls[0], startup_nodes=startup[1:], **kwargs)

    def connection_to(self, address: str) -> Callable[[], AbstractConnection]:
        """A factory of owned connections to one node, with the cluster client's settings and no retries."""
        host, _, port = address.rpartition(":")
        node = ClusterNode(host, int(port), **cast(dict[str, Any], self.client.get_connection_kwargs()))
        # No socket timeout: an idle subscriber waits for minutes (the heartbeat catches a dead peer),
        # and the publisher sets one deadline per batch. Retrying is the supervisor's job.
        kwargs = {**node.connection_kwargs, "socket_timeout": None, "retry": Retry(NoBackoff(), 0)}
        return lambda: cast(AbstractConnection, node.connection_class(**kwargs))

    async def read(self) -> None:
        """Read the map (again, if stale), waiting at most ``command_timeout`` for the read under way."""
        read = self._read
        if read is None or read.done():
            read = self._read = asyncio.get_running_loop().create_task(self._fetch())
            read.add_done_callback(lambda task: task.cancelled() or task.exception())
        async with asyncio.timeout(self._command_timeout):
            await asyncio.shield(read)

    async def ready(self) -> None:
        """Before the first command: the map, read by the same shielded read as the router's."""
        if not self.known:
            await self.read()

    async def _fetch(self) -> None:
        await self.client.initialize()  # the first time only
        self.known = True
        if self.stale:
            self.stale = False
            await self.client.nodes_manager.initialize()

    async def stop_reading(self) -> None:
        """Let a read under way end (or cancel it after ``command_timeout``): it may still add nodes."""
        read, self._read = self._read, None
        if read is not None and not read.done():
            await asyncio.wait([read], timeout=self._command_timeout)
            read.cancel()
            await asyncio.gather(read, return_exceptions=True)

    async def close(self) -> None:
        # redis-py disconnects nodes dropped from its slot map in background tasks of its own; a
        # close that does not wait for them leaves their sockets open.
        await asyncio.gather(*getattr(self.client.nodes_manager, "_background_tasks", ()), return_exceptions=True)
        await self.client.aclose()
