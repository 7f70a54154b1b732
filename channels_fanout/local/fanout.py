"""Local fan-out: which of this loop's inboxes a frame from a topic goes to. Synchronous, no I/O."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from .. import envelope
from ..naming import Names, client_id_of, is_specific
from ..serializers import Serializer
from .inbox import Inbox, InboxTotals

__all__ = ["POSITION_KEY", "Fanout"]

logger = logging.getLogger(__name__)

UNDECODABLE_LOG_INTERVAL = 5.0
#: Where a message from a group with history carries its position (``str(Position)``).
POSITION_KEY = "history_position"


class Fanout:
    """Inboxes by channel, members by group (and the reverse index), and delivery into them."""

    def __init__(self, names: Names, serializer: Serializer, capacity_of: Callable[[str], int], owner: str) -> None:
        self.inboxes: dict[str, Inbox] = {}
        # Counters for stats(): plain increments, read off the hot path.
        self.received = 0  # message frames that arrived (pub/sub or a worker list)
        self.expired = 0  # ... of which already past expiry on arrival
        self.undecodable = 0
        # Set when a delivery left an inbox half full or more; the reader then lets receivers run.
        self.crowded = False
        self.closed = InboxTotals()  # counters of inboxes closed since this node started
        self._names = names
        self._serializer = serializer
        self._capacity_of = capacity_of
        self._owner = owner  # client id of the node: direct messages for other names are foreign
        self._members: dict[str, dict[str, float]] = {}  # group -> {channel: joined at (monotonic)}
        # channel -> groups: a list, since a set costs 216 bytes and a consumer is in a few groups
        self._groups_of: dict[str, list[str]] = {}
        self._group_of_topic: dict[bytes, str] = {}
        self._undecodable_logged_at = 0.0

    # Inboxes

    def open_inbox(self, channel: str) -> Inbox:
        inbox = self.inboxes.get(channel)
        if inbox is None:
            inbox = self.inboxes[channel] = Inbox(channel, self._capacity_of(channel))
        return inbox

    def close_inbox(self, channel: str) -> tuple[Inbox | None, list[str]]:
        """Forget ``channel``: its inbox and memberships. Returns the inbox and the groups it left."""
        groups = list(self._groups_of.get(channel, ()))
        for group in groups:
            self.leave(group, channel)
        inbox = self.inboxes.pop(channel, None)
        if inbox is not None:
            inbox.drain()
            self.closed.add(inbox)
        return inbox, groups

    def holds_nothing(self, channel: str) -> bool:
        """Whether dropping the inbox of ``channel`` would lose nothing.

        True for a channel made by new_channel() with no message queued and in no group: a later
        message, group_add or receive() opens its inbox again. Never for a worker channel, whose
        inbox may have a fetch from Redis in flight.
        """
        return is_specific(channel) and len(self.inboxes[channel]) == 0 and channel not in self._groups_of

    # Groups

    def join(self, group: str, channel: str) -> bool:
        """Add a membership (or refresh its age); True if it is new."""
        members = self._members.get(group)
        if members is None:
            members = self._members[group] = {}
            self._group_of_topic[self._names.group_topic(group)] = group
        is_new = channel not in members
        members[channel] = time.monotonic()
        if is_new:
            self._groups_of.setdefault(channel, []).append(group)
        return is_new

    def leave(self, group: str, channel: str) -> bool:
        """Remove a membership; True if it existed."""
        members = self._members.get(group)
        if members is None or members.pop(channel, None) is None:
            return False
        groups = self._groups_of.get(channel)
        if groups is not None:
            groups.remove(group)
            if not groups:
                del self._groups_of[channel]
        if not members:
            del self._members[group]
            del self._group_of_topic[self._names.group_topic(group)]
        return True

    def has_members(self, group: str) -> bool:
        return group in self._members

    def group_of(self, topic: bytes) -> str | None:
        """The group whose topic is ``topic``, if it has local members."""
        return self._group_of_topic.get(topic)

    @property
    def group_count(self) -> int:
        return len(self._members)

    @property
    def member_count(self) -> int:
        return sum(len(members) for members in list(self._members.values()))

    def is_member(self, group: str, channel: str) -> bool:
        return channel in self._members.get(group, ())

    def memberships(self) -> list[tuple[str, str]]:
        return [(group, channel) for group, members in self._members.items() for channel in members]

    def memberships_older_than(self, age: float) -> list[tuple[str, str]]:
        """Memberships that ``group_expiry`` has run out on."""
        cutoff = time.monotonic() - age
        return [
            (group, channel)
            for group, members in self._members.items()
            for channel, joined in members.items()
            if joined < cutoff
        ]

    def groups_lost(self, groups: Iterable[str], everyone: bool) -> dict[str, list[str]]:
        """Channel -> those of ``groups`` it is in, for every channel in one; with ``everyone``, every channel.

        The channels a subscription gap affects: ``everyone`` when the process inbox topic (direct sends)
        was lost too, so a channel may be listed with no group.
        """
        lost: dict[str, list[str]] = {channel: [] for channel in self.inboxes} if everyone else {}
        for group in groups:
            for channel in self._members.get(group, ()):
                lost.setdefault(channel, []).append(group)
        return lost

    # Delivery

    def deliver(self, topic: bytes, data: bytes) -> list[Any] | None:
        """Put a frame's message into every local inbox it is for, decoding it once.

        Returns control frames (JOIN, LEAVE, FLUSH) for the caller to act on; a frame that is not
        ours is counted, logged (rate-limited) and skipped.
        """
        try:
            frame = envelope.unpack(data)
            kind = frame[0]
            if kind == envelope.GROUP:
                self._deliver_group(topic, frame[1], frame[2])
            elif kind == envelope.MESSAGE:
                if not (isinstance(frame[1], str) and is_specific(frame[1]) and client_id_of(frame[1]) == self._owner):
                    raise ValueError(f"a message for {frame[1]!r}, which is not a channel of this process")
                self.deliver_message(frame[1], frame[2], frame[3])
            else:
                return frame
        except (ValueError, TypeError) as exc:
            self.note_undecodable(topic, exc)
        return None

    def deliver_message(self, channel: str, expires_at: float, body: bytes) -> None:
        """Queue a message for one channel, opening its inbox if need be (as any layer's send does)."""
        self.received += 1
        if expires_at >= time.time():
            if self.open_inbox(channel).put_or_drop(self._serializer.loads(body), expires_at):
                self.crowded = True
        else:
            self.expired += 1

    def _deliver_group(self, topic: bytes, expires_at: float, body: bytes) -> None:
        self.received += 1
        group = self._group_of_topic.get(topic)
        if group is None:
            return
        if expires_at < time.time():
            self.expired += 1
            return
        self._fan_out(group, self._serializer.loads(body), expires_at)

    def deliver_history(self, group: str, expires_at: float, body: bytes, position: str) -> None:
        """Put a message of a group with history, at ``position``, into every local member's inbox."""
        self.received += 1
        if group not in self._members:
            return
        if expires_at < time.time():
            self.expired += 1
            return
        try:
            message = self._serializer.loads(body)
        except ValueError as exc:
            self.note_undecodable(self._names.group_topic(group), exc)
            return
        message[POSITION_KEY] = position
        self._fan_out(group, message, expires_at)

    def deliver_to_members(self, topic: bytes, message: dict[str, Any], expires_at: float) -> None:
        """Put a message made in this process (a presence event) into every local member of the topic's group."""
        self.received += 1
        group = self._group_of_topic.get(topic)
        if group is not None:
            self._fan_out(group, message, expires_at)

    def _fan_out(self, group: str, message: dict[str, Any], expires_at: float) -> None:
        first, crowded = True, False
        for channel in self._members[group]:
            inbox = self.inboxes.get(channel)
            if inbox is not None:
                # Each receiver gets a dict of its own: a handler that mutates its message must
                # not change what the other members see.
                crowded |= inbox.put_or_drop(message if first else dict(message), expires_at)
                first = False
        if crowded:
            self.crowded = True

    def note_undecodable(self, source: bytes, exc: Exception) -> None:
        """Count a frame or worker-list item that is not ours, and log it at most every few seconds."""
        self.undecodable += 1
        now = time.monotonic()
        if now - self._undecodable_logged_at >= UNDECODABLE_LOG_INTERVAL:
            self._undecodable_logged_at = now
            logger.warning(
                "Skipped an undecodable payload from %r (%s); %d skipped in total",
                source, exc, self.undecodable,
            )
