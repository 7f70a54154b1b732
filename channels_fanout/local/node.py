"""Everything the layer holds on one running event loop: inboxes, memberships, hubs and tasks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from channels.exceptions import ChannelFull

from .. import envelope
from ..config import LayerConfig
from ..history.positions import Position
from ..naming import Names, client_id_of, is_specific
from ..presence.tracker import Presence
from ..serializers import Serializer
from ..transport.shard import Shard, open_shard
from ..transport.sharding import shard_of
from .fanout import Fanout
from .gaps import GapCallback, Gaps
from .reactor_shutdown import on_reactor_shutdown
from .recovery import GroupHistory, Recovery
from .worker_channels import WorkerChannels

__all__ = ["Node"]

logger = logging.getLogger(__name__)



class Node:
    """The layer on one event loop, known to other processes by its client id.

    Created on first use on a loop; closes itself when the loop cancels its tasks at shutdown
    (as ``asyncio.run`` does), or when the layer is closed.
    """

    def __init__(
        self,
        config: LayerConfig,
        serializer: Serializer,
        names: Names,
        capacity_of: Callable[[str], int],
        on_gap: GapCallback,
        on_closed: Callable[[Node], None],
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.client_id = names.new_client_id()
        self.inbox_topic = names.inbox_topic(self.client_id)
        self._config = config
        self._serializer = serializer
        self._names = names
        self._on_closed = on_closed
        self.fanout = Fanout(names, serializer, capacity_of, self.client_id)
        self.gaps = Gaps(config, self.fanout, self.inbox_topic, on_gap)
        self.recovery = Recovery(config, names, serializer, self.fanout, self.hub_for, self.gaps.history_lost)
        self.hubs = [
            open_shard(
                host,
                on_message=self._on_message,
                on_lost=self.recovery.lose,
                on_gap=self._on_gap,
                heartbeat_interval=config.heartbeat_interval,
                command_timeout=config.command_timeout,
                reconnect_max_delay=config.reconnect_max_delay,
            )
            for host in config.hosts
        ]
        self.worker_channels = WorkerChannels(names, self.fanout, self.hub_for, capacity_of, config.expiry)
        self.presence = Presence(
            names, self.client_id, self.hub_for, config.presence_timeout, config.presence_message_type
        )
        self._receiving = False
        self._subscribing: asyncio.Task[None] | None = None
        self._janitor: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # forwarded group changes
        self._adopted: list[asyncio.Task[None]] = []
        self._closed = False
        self.published = 0  # messages handed to Redis (PUBLISH or a worker-list push), for stats()
        self._guard = self.loop.create_task(self._close_with_loop(), name="channels_fanout loop guard")
        self._forget_shutdown = on_reactor_shutdown(self.loop, self.close)

    def hub_for(self, name: bytes) -> Shard:
        return self.hubs[shard_of(name, len(self.hubs))]

    def adopt(self, task: asyncio.Task[None]) -> None:
        """Own a task started on this loop by someone else (the stats reporter): ``close()`` cancels it."""
        self._adopted.append(task)

    # Channel layer API, after validation and encoding by the layer

    async def new_channel(self, prefix: str) -> str:
        await self._start_receiving()
        channel = self._names.new_channel(prefix, self.client_id)
        self.fanout.open_inbox(channel)
        return channel

    async def send(self, channel: str, body: bytes) -> None:
        expires_at = time.time() + self._config.expiry
        if not is_specific(channel):
            await self.worker_channels.push(channel, envelope.pack(envelope.MESSAGE, channel, expires_at, body))
            self.published += 1
            return
        client_id = client_id_of(channel)
        if client_id == self.client_id:
            self._send_local(channel, body, expires_at)
            return
        topic = self._names.inbox_topic(client_id)
        await self.hub_for(topic).publish(topic, envelope.pack(envelope.MESSAGE, channel, expires_at, body))
        self.published += 1

    async def receive(self, channel: str) -> dict[str, Any]:
        if is_specific(channel):
            if client_id_of(channel) != self.client_id:
                raise ValueError(
                    f"Channel {channel!r} was not made by new_channel() on this process's event loop, "
                    "so it cannot be received here; receive it where it was made"
                )
            await self._start_receiving()
            inbox = self.fanout.open_inbox(channel)
        else:
            inbox = self.worker_channels.open(channel)
        return await inbox.get()

    async def group_send(self, group: str, body: bytes) -> None:
        expires_at = time.time() + self._config.expiry
        plan = self.recovery.plan(group)
        if plan is None:
            topic = self._names.group_topic(group)
            await self.hub_for(topic).publish(topic, envelope.pack(envelope.GROUP, expires_at, body))
        else:
            await self.recovery.send(plan, expires_at, body)
        self.published += 1

    async def group_history(self, group: str, since: Position | None, limit: int) -> GroupHistory:
        if self.recovery.plan(group) is None:
            raise ValueError(
                f"Group {group!r} keeps no history: give it a pattern in CONFIG['history'], "
                "for example {'chat.*': {'size': 100, 'ttl': 300}}"
            )
        return await self.recovery.history(group, since, limit)

    async def group_add(self, group: str, channel: str) -> None:
        if client_id_of(channel) != self.client_id:
            await self._forward(envelope.JOIN, group, channel)
            return
        await self._start_receiving()
        self.fanout.open_inbox(channel)
        if not self.fanout.join(group, channel):
            return
        topic = self._names.group_topic(group)
        try:
            if self.recovery.plan(group) is not None:
                await self.recovery.start(group)  # before subscribing: from here on, nothing goes missing
            await self.hub_for(topic).subscribe(topic)
        except BaseException:
            # All or nothing; a group_discard that raced us already released the reference.
            self._leave(group, channel)
            raise

    async def group_discard(self, group: str, channel: str) -> None:
        if client_id_of(channel) != self.client_id:
            await self._forward(envelope.LEAVE, group, channel)
            return
        self._leave(group, channel)

    async def presence_track(self, group: str, channel: str, entry: bytes) -> None:
        """Track a channel of this loop; its inbox opens, so that its consumer going away untracks it."""
        await self.presence.track(group, channel, entry)
        if self.presence.tracks(channel):
            self.fanout.open_inbox(channel)

    async def flush(self) -> None:
        for hub in self.hubs:
            await hub.delete_keys(self._names.key_pattern())
        topic = self._names.control_topic
        await self.hub_for(topic).publish(topic, envelope.pack(envelope.FLUSH, self.client_id))
        self._clear()

    async def close(self) -> None:
        """Cancel every task of this node and close its connections; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._on_closed(self)
        self._forget_shutdown()
        owned = (self._guard, self._subscribing, self._janitor, *self._adopted, *self._tasks)
        tasks = [task for task in owned if task is not None]
        current = asyncio.current_task()
        for task in tasks:
            if task is not current:
                task.cancel()
        await asyncio.gather(*(task for task in tasks if task is not current), return_exceptions=True)
        await self.presence.close()  # before the hubs: it takes this loop's entries off Redis
        await self.worker_channels.close()
        await self.recovery.close()
        for hub in self.hubs:
            await hub.close()
        logger.info("Closed the channel layer's tasks and connections of client %s", self.client_id)

    # Receiving side: started by the first new_channel, receive or local group_add

    async def _start_receiving(self) -> None:
        """Subscribe this node's inbox and the control topic once; concurrent callers share the wait."""
        if self._receiving:
            return
        if self._subscribing is None:
            self._subscribing = self.loop.create_task(self._subscribe_own_topics(), name="channels_fanout start")
            self._subscribing.add_done_callback(_retrieve)
        await asyncio.shield(self._subscribing)

    async def _subscribe_own_topics(self) -> None:
        acquired = []
        try:
            for topic in (self.inbox_topic, self._names.control_topic):
                acquired.append(topic)
                await self.hub_for(topic).subscribe(topic)
        except BaseException:
            for topic in acquired:
                self.hub_for(topic).release(topic)
            self._subscribing = None
            raise
        self._receiving = True
        self._janitor = self.loop.create_task(self._sweep(), name="channels_fanout janitor")

    async def _sweep(self) -> None:
        """Drop inboxes nobody received from for ``receive_grace``, and memberships past ``group_expiry``.

        Channels cancels a consumer's receive() when it exits and has no other "channel gone" signal;
        the grace period keeps a receive() cancelled by a timeout (polling) from losing anything. An
        inbox that holds nothing to lose goes at the next pass, without waiting for the grace period.
        """
        grace, group_expiry = self._config.receive_grace, self._config.group_expiry
        period = min(max(min(grace, group_expiry) / 4, 0.05), 5.0)
        while True:
            await asyncio.sleep(period)
            cutoff = time.monotonic() - grace
            for channel, inbox in list(self.fanout.inboxes.items()):
                holds_nothing = self.fanout.holds_nothing(channel) and not self.presence.tracks(channel)
                if not inbox.receivers and (inbox.idle_since < cutoff or holds_nothing):
                    self._drop(channel)
            for group, channel in self.fanout.memberships_older_than(group_expiry):
                self._leave(group, channel)

    def _send_local(self, channel: str, body: bytes, expires_at: float) -> None:
        inbox = self.fanout.open_inbox(channel)
        if not inbox.put(self._serializer.loads(body), expires_at):
            raise ChannelFull(f"Channel {channel!r} is full ({inbox.capacity} messages waiting)")

    async def _forward(self, kind: int, group: str, channel: str) -> None:
        """group_add/group_discard of another process's channel takes effect in that process."""
        topic = self._names.inbox_topic(client_id_of(channel))
        await self.hub_for(topic).publish(topic, envelope.pack(kind, group, channel))

    def _leave(self, group: str, channel: str) -> None:
        if self.fanout.leave(group, channel):
            self._release(group)

    def _drop(self, channel: str) -> None:
        self.presence.forget(channel)
        _, groups = self.fanout.close_inbox(channel)
        for group in groups:
            self._release(group)
        self.worker_channels.forget(channel)

    def _release(self, group: str) -> None:
        """A membership of ``group`` ended: drop its reference to the topic, and its history cursor with the last."""
        topic = self._names.group_topic(group)
        self.hub_for(topic).release(topic)
        if not self.fanout.has_members(group):
            self.recovery.forget(group)

    def _clear(self) -> None:
        """Flush: every membership left, every inbox emptied; inboxes with a waiting receiver stay open."""
        self.presence.clear()
        for group, channel in self.fanout.memberships():
            self._leave(group, channel)
        for channel, inbox in list(self.fanout.inboxes.items()):
            inbox.drain()
            if not inbox.receivers:
                self._drop(channel)

    # Callbacks from the hubs (run in the reader task: no awaiting)

    def _on_message(self, topic: bytes, data: bytes) -> bool:
        """Deliver a frame; True if an inbox is half full, so the reader should let receivers run."""
        control = self.fanout.deliver(topic, data)
        if control is not None:
            self._on_control(topic, control)
        crowded, self.fanout.crowded = self.fanout.crowded, False
        return crowded

    def _on_control(self, topic: bytes, control: list[Any]) -> None:
        kind = control[0]
        if kind == envelope.HISTORY:
            self.recovery.live(topic, control)
        elif kind == envelope.FLUSH and topic == self._names.control_topic:
            if control[1] != self.client_id:
                self._clear()
        elif kind in (envelope.JOIN, envelope.LEAVE) and topic == self.inbox_topic:
            group, channel = control[1], control[2]
            if not (isinstance(group, str) and isinstance(channel, str) and is_specific(channel)):
                logger.warning("Ignored a malformed group change on %r", topic)
            elif kind == envelope.LEAVE:
                self._leave(group, channel)
            else:
                self._spawn(self.group_add(group, channel), "A forwarded group change")
        elif kind == envelope.PRESENCE:
            self._on_presence(topic, control)

    def _on_presence(self, topic: bytes, frame: list[Any]) -> None:
        try:
            message = self.presence.event(frame)
        except (ValueError, TypeError) as exc:
            self.fanout.note_undecodable(topic, exc)
            return
        if message is not None:
            self.fanout.deliver_to_members(topic, message, time.time() + self._config.expiry)

    def _on_gap(self, topics: Collection[bytes], outage: float) -> None:
        self.recovery.resubscribed(group for topic in topics if (group := self.fanout.group_of(topic)) is not None)
        self._spawn(self.gaps.recover(set(topics), outage, self.recovery), "Replaying a lost subscription's history")

    def _spawn(self, coroutine: Any, what: str) -> None:
        task = self.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._task_done(done, what))

    def _task_done(self, task: asyncio.Task[None], what: str) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.warning("%s failed: %s", what, task.exception())

    async def _close_with_loop(self) -> None:
        """Wait forever; when the loop cancels its tasks at shutdown, close the node."""
        try:
            await asyncio.Event().wait()
        finally:
            await self.close()


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark a shared task's failure as seen: its waiters each got the exception already."""
    if not task.cancelled():
        task.exception()
