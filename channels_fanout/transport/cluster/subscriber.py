"""One sharded pub/sub connection to one Redis Cluster node: SSUBSCRIBE per slot, reconnect, report moves.

Redis requires the channels of one SSUBSCRIBE or SUNSUBSCRIBE to share a slot, so the writer sends
one command per slot (all of a burst in one write). Replies arrive in command order, with two
exceptions the reader must tell apart: an error (MOVED, CLUSTERDOWN) answers a whole command, and a
``sunsubscribe`` the server pushes unasked when a slot leaves the node (migration, failover). MOVED
names its slot, which finds the command it answers even after a push was taken for a reply. The
subscriber decides nothing about topology: it reports moved or lost topics to its listener.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio.connection import AbstractConnection
from redis.crc import key_slot
from redis.exceptions import MovedError, ResponseError

from ...exceptions import ChannelLayerRefused
from ..refusals import refusal, refused_command, where
from ..supervised import SupervisedConnection

__all__ = ["ClusterSubscriber", "Listener"]

logger = logging.getLogger(__name__)

_CHUNK = 1000
SSUBSCRIBE, SUNSUBSCRIBE = b"ssubscribe", b"sunsubscribe"


class Listener(Protocol):
    """What a subscriber reports to (the ClusterHub); called from its tasks, never awaiting."""

    def on_message(self, topic: bytes, data: bytes) -> bool:
        """Deliver; True if receivers fall behind (the reader then lets them run)."""

    def on_confirmed(self, subscriber: ClusterSubscriber, topic: bytes) -> None: ...

    def on_moved(self, subscriber: ClusterSubscriber, topics: set[bytes], to: str | None, lost: set[bytes]) -> None:
        """``topics`` are not subscribed here any more (``lost``: those that were); ``to`` is MOVED's address."""

    def on_down(self, subscriber: ClusterSubscriber, lost: set[bytes]) -> None:
        """The connection failed or was refused; ``lost`` were subscribed on it."""

    def on_refused(self, subscriber: ClusterSubscriber, topics: set[bytes], refusal: ChannelLayerRefused) -> None:
        """Redis refused subscribing to ``topics`` (an ACL, or the connection's credentials or TLS)."""


@dataclass
class _Command:
    kind: bytes
    slot: int
    unanswered: set[bytes] = field(default_factory=set)


class ClusterSubscriber(SupervisedConnection):
    """SSUBSCRIBE/SUNSUBSCRIBE on one node's connection, kept equal to ``topics`` whatever happens."""

    def __init__(
        self,
        address: str,
        make_connection: Callable[[], AbstractConnection],
        listener: Listener,
        *,
        heartbeat_interval: float,
        command_timeout: float,
        reconnect_max_delay: float,
    ) -> None:
        super().__init__(
            address,
            make_connection,
            heartbeat_interval=heartbeat_interval,
            command_timeout=command_timeout,
            reconnect_max_delay=reconnect_max_delay,
        )
        self.address = address
        self.topics: set[bytes] = set()  # held here: subscribed, or to subscribe once connected
        self._listener = listener
        self._sent: set[bytes] = set()  # topics whose last command on this connection was SSUBSCRIBE
        self._unconfirmed: Counter[bytes] = Counter()
        self._in_flight: deque[_Command] = deque()

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def settled(self) -> bool:
        """Whether every SSUBSCRIBE sent has been answered."""
        return not self._unconfirmed

    def is_confirmed(self, topic: bytes) -> bool:
        return self._conn is not None and topic in self._sent and topic not in self._unconfirmed

    def add(self, topic: bytes) -> None:
        self.topics.add(topic)
        self._mark_dirty(topic)
        self._start_supervisor()
        if self._connection_refused and self._conn is None and self.refusal is not None:
            self._listener.on_refused(self, {topic}, self.refusal)  # not after the next attempt, seconds away

    def remove(self, topic: bytes) -> None:
        """Stop holding ``topic``; SUNSUBSCRIBE unless the server dropped it already."""
        self.topics.discard(topic)
        self._mark_dirty(topic)
        self._settle(topic, subscribed=False)

    async def close(self) -> None:
        await self._stop_supervisor()

    # Connection lifecycle

    def _attach(self) -> None:
        self._dirty.update(self.topics)
        self._dirty_event.set()

    def _detach(self) -> None:
        """Forget the connection, and tell the listener which topics it had confirmed."""
        lost = {topic for topic in self._sent if topic not in self._unconfirmed}
        self._sent.clear()
        self._unconfirmed.clear()
        self._in_flight.clear()
        self._listener.on_down(self, lost)

    def _fail_waiting(self, refusal: ChannelLayerRefused) -> None:
        self._listener.on_refused(self, set(self.topics), refusal)

    # The three tasks of a connection

    async def _read(self, conn: AbstractConnection) -> None:
        while True:
            try:
                reply = await conn.read_response(disconnect_on_error=False)
            except ResponseError as exc:
                self._last_seen = self._loop.time()
                if not self._denied(exc):
                    self._refused(exc)
                continue
            if isinstance(reply, Exception):
                raise reply  # NOAUTH comes back as a value: the supervisor tells it from an outage
            self._alive()
            kind, topic = reply[0], reply[1]
            if kind == b"smessage":
                await self._hand_on(self._listener.on_message, topic, reply[2])
            elif kind == SSUBSCRIBE:
                self._answered(SSUBSCRIBE, topic)
                self._confirm(topic)
            elif kind == SUNSUBSCRIBE and not self._answered(SUNSUBSCRIBE, topic) and topic in self._sent:
                # Unasked: the slot left this node. The server dropped the subscription already.
                self._sent.discard(topic)
                self._listener.on_moved(self, {topic}, None, {topic})

    def _answered(self, kind: bytes, topic: bytes) -> bool:
        """Count a reply against the oldest command in flight; False if it answers none (a push)."""
        command = self._in_flight[0] if self._in_flight else None
        if command is None or command.kind != kind or topic not in command.unanswered:
            return False
        command.unanswered.discard(topic)
        if not command.unanswered:
            self._in_flight.popleft()
        return True

    def _confirm(self, topic: bytes) -> None:
        self._unconfirmed[topic] -= 1
        if self._unconfirmed[topic] > 0:
            return
        del self._unconfirmed[topic]
        if topic in self.topics and topic in self._sent:
            self._settle(topic, subscribed=True)
            self._listener.on_confirmed(self, topic)

    def _denied(self, exc: ResponseError) -> bool:
        """An ACL refusal (NOPERM): a refused SSUBSCRIBE is reported to the listener and tried again later."""
        named = refused_command(exc)
        kind = SUNSUBSCRIBE if named == "sunsubscribe" else None if named == "ping" else SSUBSCRIBE
        command = next((c for c in self._in_flight if c.kind == kind), None)
        topics = set(command.unanswered) if command is not None else set()
        first = min(topics, default=b"")
        attempt = named.upper() if named in ("ping", "sunsubscribe") else f"SSUBSCRIBE {first.decode()!r}"
        refused = refusal(exc, where(self.address), attempt, first)
        if refused is None:
            return False
        self._alive()  # the connection works: it is the ACL that says no
        if command is not None:
            self._in_flight.remove(command)
        if kind != SSUBSCRIBE or not topics:
            self._note_refusal(refused)
            return True
        for topic in topics:
            self._sent.discard(topic)
            self._unconfirmed.pop(topic, None)
        self._refuse_topics(topics, refused)
        self._listener.on_refused(self, topics & self.topics, refused)
        return True

    def _refused(self, exc: ResponseError) -> None:
        """An error reply: it answers the oldest command in flight, or for MOVED the oldest of its slot."""
        moved = exc if isinstance(exc, MovedError) else None
        command = next((c for c in self._in_flight if moved is None or c.slot == moved.slot_id), None)
        if command is None:
            return  # the command it answers was taken as answered by a push of the same move
        self._in_flight.remove(command)
        if command.kind != SSUBSCRIBE:
            return  # an SUNSUBSCRIBE refused: the slot left, and its subscriptions with it
        topics = set(command.unanswered)
        for topic in topics:
            self._sent.discard(topic)
            self._unconfirmed.pop(topic, None)
        to = None if moved is None else f"{moved.host}:{moved.port}"
        if moved is None:
            logger.warning("%s refused SSUBSCRIBE (%s); finding the slot's owner again", self.address, exc)
        self._listener.on_moved(self, topics & self.topics, to, set())

    async def _write(self, conn: AbstractConnection) -> None:
        """Make the node's subscriptions match ``topics``: per burst, one command per slot, one write."""
        while True:
            await self._dirty_event.wait()
            self._dirty_event.clear()
            dirty, self._dirty = self._dirty, set()
            subscribe = [topic for topic in dirty if topic in self.topics and topic not in self._sent]
            unsubscribe = [topic for topic in dirty if topic not in self.topics and topic in self._sent]
            self._sent.difference_update(unsubscribe)
            self._sent.update(subscribe)
            self._unconfirmed.update(subscribe)
            commands = [*self._commands(SUNSUBSCRIBE, unsubscribe), *self._commands(SSUBSCRIBE, subscribe)]
            if commands:
                packed = conn.pack_commands([(c.kind, *c.unanswered) for c in commands])
                self._in_flight.extend(commands)
                await conn.send_packed_command(packed, check_health=False)

    @staticmethod
    def _commands(kind: bytes, topics: Iterable[bytes]) -> list[_Command]:
        by_slot: dict[int, list[bytes]] = {}
        for topic in topics:
            by_slot.setdefault(key_slot(topic), []).append(topic)
        return [
            _Command(kind, slot, set(same_slot[start : start + _CHUNK]))
            for slot, same_slot in by_slot.items()
            for start in range(0, len(same_slot), _CHUNK)
        ]
