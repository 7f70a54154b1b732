"""``FanoutChannelLayer``: the Channels layer API, validated here and carried out by a per-loop node."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from channels.exceptions import ChannelFull, MessageTooLarge
from channels.layers import BaseChannelLayer

from . import signals
from .config import LayerConfig
from .history.positions import Position
from .local.loop_thread import LoopThread, is_single_call_loop
from .local.node import Node
from .local.recovery import GroupHistory
from .monitoring.reports import Reporter, read_reports
from .monitoring.stats import LayerStats
from .naming import Names, is_specific
from .presence.entries import Metas, encode_entry
from .serializers import Serializer

__all__ = ["FanoutChannelLayer"]

#: The most messages one group_history() call returns; page with ``since`` for more.
MAX_HISTORY_READ = 10_000

P = ParamSpec("P")
T = TypeVar("T")


class FanoutChannelLayer(BaseChannelLayer):  # type: ignore[misc]
    """A Channels layer on Redis pub/sub with one subscriber connection per process and local fan-out.

    Takes the CONFIG options of ``LayerConfig`` as keyword arguments (the README lists them).
    """

    extensions = ["groups", "flush", "history", "presence"]

    def __init__(self, **options: Any) -> None:
        config = LayerConfig.from_options(options)
        super().__init__(expiry=config.expiry, capacity=config.capacity)
        self.config = config
        self.channel_capacity = list(config.channel_capacity)
        self.group_expiry = config.group_expiry
        self._serializer = Serializer(config.serializer_format, config.symmetric_encryption_keys)
        self._names = Names(config.prefix)
        self._nodes: dict[asyncio.AbstractEventLoop, Node] = {}
        self._loop_thread = LoopThread()
        # Messages refused before they reach a node, for stats().
        self.too_large = 0
        self.channel_full = 0
        self._stats = LayerStats(self._nodes, self, config.prefix)
        self._reporter = (
            Reporter(self._names.stats_key(self._stats.reporter_id), config.stats_interval, self._stats.collect)
            if config.stats_interval
            else None
        )

    # Channel layer API

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Send ``message`` to ``channel``; ChannelFull if a local inbox or a worker queue is full."""
        self.require_valid_channel_name(channel)
        try:
            await self._on_node(Node.send, channel, self._encode(message))
        except ChannelFull:
            self.channel_full += 1
            raise

    async def receive(self, channel: str) -> dict[str, Any]:
        """Wait for the next message on ``channel`` (made by new_channel() on this loop, or a normal channel)."""
        # Hot path: a consumer receives on its open inbox over and over; its name was checked when
        # the inbox was opened, and a loop with a node is never a single-call loop.
        node = self._nodes.get(asyncio.get_running_loop())
        if node is not None and type(channel) is str:
            inbox = node.fanout.inboxes.get(channel)
            if inbox is not None:
                message = inbox.take()
                return message if message is not None else await inbox.get()
        self.require_valid_channel_name(channel)
        return await self._on_node(Node.receive, channel)

    async def new_channel(self, prefix: str = "specific") -> str:
        """A new process-specific channel name whose messages this loop receives."""
        if not isinstance(prefix, str) or "!" in prefix:
            raise TypeError(f"new_channel() prefix must be a channel name part without '!', not {prefix!r}")
        channel = await self._on_node(Node.new_channel, prefix)
        self.require_valid_channel_name(channel)
        return channel

    # Groups extension

    async def group_add(self, group: str, channel: str) -> None:
        """Add ``channel`` to ``group`` in the process that owns the channel."""
        self._require_member(group, channel)
        await self._on_node(Node.group_add, group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        """Remove ``channel`` from ``group``; no message of the group reaches it after this returns."""
        self._require_member(group, channel)
        await self._on_node(Node.group_discard, group, channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Send ``message`` to every member of ``group``, in every process: one PUBLISH."""
        self.require_valid_group_name(group)
        await self._on_node(Node.group_send, group, self._encode(message))

    # History extension: groups matching CONFIG["history"]

    async def group_history(self, group: str, since: str | None = None, limit: int = 100) -> GroupHistory:
        """The messages of ``group`` after position ``since`` (or its newest ``limit``), for a client catching up.

        The result says where the group is now and whether its history covers ``since``: if not (trimmed,
        expired, or a new epoch), messages were lost in between, and the client must resync otherwise.
        """
        self.require_valid_group_name(group)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY_READ:
            raise ValueError(f"group_history() limit must be an integer from 1 to {MAX_HISTORY_READ}, not {limit!r}")
        position = None if since is None else Position.parse(since)
        return await self._on_node(Node.group_history, group, position, limit)

    # Presence extension (README, "Presence")

    async def presence_track(self, group: str, channel: str, key: str, meta: dict[str, Any] | None = None) -> None:
        """Track ``channel`` (made by new_channel() on this loop) in ``group``'s presence under ``key``, with ``meta``.

        Tracking it again replaces its key and meta. The channel is untracked by itself when its
        consumer goes away (its inbox is dropped) and when this loop's layer closes.
        """
        self._require_member(group, channel)
        await self._on_node(Node.presence_track, group, channel, encode_entry(key, meta))

    async def presence_untrack(self, group: str, channel: str) -> None:
        """Stop tracking ``channel`` in ``group``; nothing happens if it is not tracked."""
        self._require_member(group, channel)
        await self._on_node(_untrack, group, channel)

    async def presence_list(self, group: str) -> Metas:
        """Every key tracked in ``group`` by any process, with the metas of its channels: one round trip."""
        self.require_valid_group_name(group)
        return await self._on_node(_list, group)

    # Flush extension

    async def flush(self) -> None:
        """Delete this layer's keys in Redis and empty every process's inboxes and memberships."""
        await self._on_node(Node.flush)

    async def close(self) -> None:
        """Close this loop's connections and tasks, and the private loop thread; idempotent.

        The layer stays usable: a later call connects again. Nodes on other running loops close on
        their own loop, and are waited for (up to ``command_timeout``): stopping the loop thread
        under a close still in progress would leave its connections open.
        """
        loop = asyncio.get_running_loop()
        node = self._nodes.get(loop)
        if node is not None:
            await node.close()
        others = [other for other in list(self._nodes.values()) if other.loop is not loop and other.loop.is_running()]
        if others:
            closing = [asyncio.wrap_future(asyncio.run_coroutine_threadsafe(o.close(), o.loop)) for o in others]
            await asyncio.wait(closing, timeout=self.config.command_timeout)
        self._loop_thread.stop()

    # Operability

    def stats(self) -> dict[str, Any]:
        """This process's counters and gauges for this layer, summed over its event loops, as a plain dict.

        The shape is documented in docs/operations.md; counters only grow for the life of the layer.
        """
        return self._stats.collect()

    async def cluster_stats(self) -> list[dict[str, Any]]:
        """The latest ``stats()`` of every live process on this prefix, as reported to Redis (``stats_interval``)."""
        return await self._on_node(_read_reports, self._names.stats_pattern())

    # Internals

    def _require_member(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        if not is_specific(channel):
            raise ValueError(
                f"Channel {channel!r} is a normal channel: groups fan out through the process that owns "
                "a channel, and only names from new_channel() (with a '!') have one"
            )

    def _encode(self, message: dict[str, Any]) -> bytes:
        if not isinstance(message, dict):
            raise TypeError(f"A message must be a dict, not {type(message).__name__}")
        body = self._serializer.dumps(message)
        if len(body) > self.config.max_message_size:
            self.too_large += 1
            raise MessageTooLarge(
                f"The message is {len(body)} bytes encoded, over max_message_size "
                f"({self.config.max_message_size}); send a reference to the data instead, or raise the limit"
            )
        return body

    async def _on_node(
        self, method: Callable[Concatenate[Node, P], Awaitable[T]], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``method`` on this loop's node, or on the loop thread's for a single-call loop."""
        loop = asyncio.get_running_loop()
        if is_single_call_loop(loop):
            return await self._loop_thread.run(self._on_node(method, *args, **kwargs))
        node = self._nodes.get(loop)
        if node is None:
            node = self._nodes[loop] = Node(
                self.config, self._serializer, self._names, self.get_capacity, self._gap, self._forget
            )
            if self._reporter is not None:
                node.adopt(self._reporter.start(loop, node.hub_for(self._reporter.key.encode())))
        return await method(node, *args, **kwargs)

    def _forget(self, node: Node) -> None:
        if self._nodes.get(node.loop) is node:
            del self._nodes[node.loop]
        self._stats.retire(node)

    def _gap(self, groups: dict[str, list[str]], outage: float) -> None:
        signals.gap.send(sender=self, channels=set(groups), outage=outage, groups=groups)


async def _read_reports(node: Node, pattern: str) -> list[dict[str, Any]]:
    return await read_reports(node.hubs, pattern)


async def _untrack(node: Node, group: str, channel: str) -> None:
    await node.presence.untrack(group, channel)


async def _list(node: Node, group: str) -> Metas:
    return await node.presence.read(group)
