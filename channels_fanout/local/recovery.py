"""The groups with history on one event loop: their positions, the replay after a lost subscription, and reads.

A group matching a ``history`` pattern is sent with one script that adds the message to the group's
stream and publishes it with its position (sends to the group in the same turn of the loop share
one: ``history.appender``). Each process keeps a ``Cursor`` per such group it has members in; when
the hub reports the group's subscription lost, live messages are held, and once it is back the
missed messages are read from the stream and delivered first. What the stream can no longer cover
is reported to the node, which signals the gap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .. import envelope
from ..config import HistoryPolicy, LayerConfig
from ..exceptions import ChannelLayerUnavailable
from ..history import streams
from ..history.appender import Appender, Target
from ..history.cursor import Cursor
from ..history.positions import Position
from ..naming import Names
from ..serializers import Serializer
from ..transport.shard import Shard
from .fanout import POSITION_KEY, Fanout

__all__ = ["GroupHistory", "Recovery"]

logger = logging.getLogger(__name__)

_PLAN_CACHE = 10_000  # group names remembered with their plan (a dict lookup instead of the patterns)

Live = tuple[float, bytes]  # expires_at, body


@dataclass(frozen=True)
class HistoryPlan:
    """How a group with history is sent: its policy, and where its messages go, encoded once."""

    policy: HistoryPolicy
    target: Target


@dataclass(frozen=True)
class GroupHistory:
    """What ``group_history`` found: the messages after ``since``, where the group is now, and whether that is all."""

    #: Decoded messages, oldest first, each with its position under ``"history_position"``.
    messages: list[dict[str, Any]]
    #: The group's newest position (``str``), to ask from next time; None if the group has no history now.
    position: str | None
    #: True when ``messages`` are every message after ``since`` (same epoch, nothing trimmed in between).
    covered: bool


class Recovery:
    """History groups of one node: sending, positions, replays and reads. Counts for stats()."""

    def __init__(
        self,
        config: LayerConfig,
        names: Names,
        serializer: Serializer,
        fanout: Fanout,
        hub_for: Callable[[bytes], Shard],
        signal_gap: Callable[[set[str]], None],
    ) -> None:
        self._config = config
        self._names = names
        self._serializer = serializer
        self._fanout = fanout
        self._hub_for = hub_for
        self._signal_gap = signal_gap
        self._plans: dict[str, HistoryPlan | None] = {}
        self._appender = Appender()
        self._cursors: dict[str, Cursor[Live]] = {}  # groups with history and local members
        self._starting: dict[str, asyncio.Task[None]] = {}
        self._replaying = asyncio.Lock()
        self.replayed = 0  # messages delivered by replays
        self.unrecovered = 0  # replays that could not cover a gap (trimmed, expired, new epoch, unreadable)
        self.reads = 0  # reads of a group's stream: positions when subscribing, replays, group_history

    def plan(self, group: str) -> HistoryPlan | None:
        """How ``group`` is sent if it keeps history; None if it does not (the common case, decided at once)."""
        if not self._config.history:
            return None
        try:
            return self._plans[group]
        except KeyError:
            if len(self._plans) >= _PLAN_CACHE:
                self._plans.clear()
            plan = self._plans[group] = self._make_plan(group)
            return plan

    def _make_plan(self, group: str) -> HistoryPlan | None:
        policy = self._config.history_for(group)
        if policy is None:
            return None
        stream, epoch = self._keys(group)
        limits = streams.limits(policy.size, policy.ttl)
        target = Target(group, (stream.encode(), epoch.encode()), self._names.group_topic(group), limits)
        return HistoryPlan(policy, target)

    # Sending and receiving

    async def send(self, plan: HistoryPlan, expires_at: float, body: bytes) -> None:
        target = plan.target
        await self._appender.send(target, self._hub_for(target.topic), envelope.history_head(expires_at, body))

    def live(self, topic: bytes, frame: list[Any]) -> None:
        """A HISTORY frame arrived on ``topic``: deliver it now, or hold it for the replay under way."""
        _, expires_at, body, epoch, entry_id = frame
        if not (isinstance(expires_at, float | int) and isinstance(body, bytes) and isinstance(epoch, str)
                and isinstance(entry_id, str)):  # fmt: skip
            self._fanout.note_undecodable(topic, ValueError("a history frame with fields of the wrong types"))
            return
        group = self._fanout.group_of(topic)
        cursor = None if group is None else self._cursors.get(group)
        if group is None or cursor is None:
            return  # the last member left as it arrived
        position = Position(epoch, entry_id)
        if self._lost_history(group, cursor, position):
            self._signal_gap({group})
        if cursor.live(position, (expires_at, body)):
            self._fanout.deliver_history(group, expires_at, body, str(position))

    def _lost_history(self, group: str, cursor: Cursor[Live], position: Position) -> bool:
        """A live message from a new epoch, sooner than the old one could have expired: history was lost.

        (A history that expired ``ttl`` after its last message lost nothing: this process had it all.)
        """
        if cursor.replay_owed or cursor.position is None or cursor.position.epoch == position.epoch:
            return False
        plan = self.plan(group)
        return plan is not None and time.monotonic() - cursor.moved_at < plan.policy.ttl

    # Members come and go

    async def start(self, group: str) -> None:
        """Before this process subscribes to ``group``: note where its history is, so a later loss can be replayed.

        Concurrent first joins share one read; raises ChannelLayerUnavailable if Redis does not answer.
        """
        if group in self._cursors:
            return
        starting = self._starting.get(group)
        if starting is None:
            starting = self._starting[group] = asyncio.get_running_loop().create_task(self._start(group))
            starting.add_done_callback(lambda task: task.cancelled() or task.exception())
        await asyncio.shield(starting)

    async def _start(self, group: str) -> None:
        try:
            read = await self._read(group, None, 0)
            self._cursors.setdefault(group, Cursor(read.position))
        finally:
            del self._starting[group]

    def forget(self, group: str) -> None:
        """The last local member left ``group``."""
        self._cursors.pop(group, None)

    # Lost subscriptions

    def lose(self, topics: Iterable[bytes]) -> None:
        for topic in topics:
            group = self._fanout.group_of(topic)
            if group is not None and group in self._cursors:
                self._cursors[group].lose()

    @property
    def group_count(self) -> int:
        """Groups with history and local members: those whose position this process keeps."""
        return len(self._cursors)

    def resubscribed(self, groups: Iterable[str]) -> None:
        """The hub confirmed these groups' subscriptions again (called as it reports it, before any replay)."""
        for group in groups:
            cursor = self._cursors.get(group)
            if cursor is not None:
                cursor.resubscribed()

    def covers(self, group: str) -> bool:
        """Whether a lost subscription to ``group`` is replayed (it has history and local members)."""
        return group in self._cursors

    async def replay(self, groups: Iterable[str], signal: Callable[[set[str]], None]) -> None:
        """Read what each group missed, call ``signal`` with those history could not cover, then deliver.

        Delivery is in stream order: the replayed messages, then those held meanwhile. Gaps are signalled
        before anything later is delivered, so an application resyncs before it sees newer messages.
        Replays run one at a time: a loss during one is replayed by the next, from where it ended.
        """
        async with self._replaying:
            owed = [(group, cursor) for group in groups if (cursor := self._cursors.get(group)) and cursor.replayable]
            reads = await asyncio.gather(*(self._read_missed(group, cursor) for group, cursor in owed))
            signal({group for (group, _), read in zip(owed, reads, strict=True) if not (read and read.covered)})
            for (group, cursor), read in zip(owed, reads, strict=True):
                await self._deliver_missed(group, cursor, read)

    async def _read_missed(self, group: str, cursor: Cursor[Live]) -> streams.StreamRead | None:
        plan = self.plan(group)
        try:
            return await self._read(group, cursor.reading(), plan.policy.size if plan else 0)
        except Exception as exc:  # whatever it is, the held messages must go out and the gap be signalled
            log = logger.warning if isinstance(exc, ChannelLayerUnavailable) else logger.exception
            log("Could not read the history of group %r to replay what it missed: %s", group, exc)
            return None

    async def _deliver_missed(self, group: str, cursor: Cursor[Live], read: streams.StreamRead | None) -> None:
        replay = self._decoded(group, read.entries) if read else []
        if read is not None and read.covered:
            self.replayed += len(replay)
        else:
            self.unrecovered += 1
        batch = cursor.replayed(read, replay)
        while self._cursors.get(group) is cursor:  # else every local member left meanwhile: nobody is owed anything
            for position, (expires_at, body) in batch:
                self._fanout.deliver_history(group, expires_at, body, str(position))
                if self._fanout.crowded:  # let receivers drain their inboxes, as the reader does for live traffic
                    self._fanout.crowded = False
                    await asyncio.sleep(0)
            batch = cursor.drain()
            if not batch:  # live items flow again
                break

    # Reads for clients

    async def history(self, group: str, since: Position | None, limit: int) -> GroupHistory:
        read = await self._read(group, since, limit)
        messages = []
        for position, (_, body) in self._decoded(group, read.entries):
            try:
                message = self._serializer.loads(body)
            except ValueError as exc:
                self._fanout.note_undecodable(self._names.group_topic(group), exc)
                continue
            message[POSITION_KEY] = str(position)
            messages.append(message)
        newest = None if read.position is None else str(read.position)
        return GroupHistory(messages, newest, read.covered)

    def _decoded(self, group: str, entries: list[tuple[Position, bytes]]) -> list[tuple[Position, Live]]:
        """Stream entries as (expires_at, body); an entry that is not a frame of ours is counted and skipped."""
        decoded = []
        for position, head in entries:
            try:
                frame = envelope.unpack(envelope.with_position(head, position.epoch, position.id))
            except ValueError as exc:
                self._fanout.note_undecodable(self._names.group_key("history", group).encode(), exc)
                continue
            decoded.append((position, (frame[1], frame[2])))
        return decoded

    async def _read(self, group: str, since: Position | None, count: int) -> streams.StreamRead:
        self.reads += 1
        return await streams.read(self._hub_for(self._names.group_topic(group)), self._keys(group), since, count)

    def _keys(self, group: str) -> tuple[str, str]:
        return self._names.group_key("history", group), self._names.group_key("history-epoch", group)

    async def close(self) -> None:
        await self._appender.close()
        starting = list(self._starting.values())
        for task in starting:
            task.cancel()
        await asyncio.gather(*starting, return_exceptions=True)
