"""One Redis server as seen from one event loop: a pub/sub subscriber connection and command clients.

The hub knows topics and bytes, never channels or groups. Subscriptions are reference-counted;
a writer task reconciles what Redis has with what is wanted, so any interleaving of subscribe
and release converges to the wanted state, and bursts become one SUBSCRIBE or UNSUBSCRIBE.
The connection is kept alive by ``SupervisedConnection`` (reconnect with backoff, heartbeat). When
it is lost, the topics it held are reported to ``on_lost`` at once; after a reconnect the hub
resubscribes and then reports the outage to ``on_gap``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Collection, Mapping
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

from ..config import describe_host
from ..exceptions import ChannelLayerRefused, ChannelLayerUnavailable
from . import keyspace
from .confirmations import Confirmations
from .publisher import Publisher
from .references import References
from .refusals import refusal, refused_command, where
from .supervised import MessageHandler, SupervisedConnection

__all__ = ["Hub"]

logger = logging.getLogger(__name__)

GapHandler = Callable[[Collection[bytes], float], None]
LossHandler = Callable[[Collection[bytes]], None]

_SUBSCRIBE_CHUNK = 1000


class Hub(SupervisedConnection):
    """Pub/sub and commands for one Redis server on the running loop."""

    def __init__(
        self,
        host: Mapping[str, Any],
        *,
        on_message: MessageHandler,
        on_lost: LossHandler,
        on_gap: GapHandler,
        heartbeat_interval: float,
        command_timeout: float,
        reconnect_max_delay: float,
    ) -> None:
        self._host = host
        self._command_timeout = command_timeout
        # A factory only, for connections that are owned, not pooled: the subscriber's (no socket
        # timeout, since an idle subscriber waits for minutes; the heartbeat catches a dead peer) and
        # the publisher's (which sets one deadline per batch).
        self._connection_factory = self._pool(max_connections=1, socket_timeout=None)
        super().__init__(
            describe_host(host),
            self._connection_factory.make_connection,
            heartbeat_interval=heartbeat_interval,
            command_timeout=command_timeout,
            reconnect_max_delay=reconnect_max_delay,
        )
        self._on_message = on_message
        self._on_lost = on_lost
        self._on_gap = on_gap
        self.client = Redis(connection_pool=self._pool(max_connections=2, socket_timeout=command_timeout))
        self.publisher = Publisher(self._connection_factory.make_connection, self.description, command_timeout)
        self._blocking_client: Redis | None = None

        self._wanted = References()
        self._sent: set[bytes] = set()  # topics whose last command on this connection was SUBSCRIBE
        self._unconfirmed: dict[bytes, int] = {}  # topic -> SUBSCRIBEs sent and not yet confirmed
        self._in_flight: deque[set[bytes]] = deque()  # unanswered topics of each SUBSCRIBE sent, oldest first
        self._confirmations = Confirmations(self._loop)
        self._down_since: float | None = None
        self._gap_topics: set[bytes] = set()
        self._gap_pending: set[bytes] = set()
        self.reconnects = 0
        self.gaps = 0  # reconnects after which subscribed topics had missed messages

    def _pool(self, *, max_connections: int, socket_timeout: float | None) -> BlockingConnectionPool:
        kwargs = dict(self._host)
        address = kwargs.pop("address", None)
        kwargs.pop("description", None)  # ours, for logs (a Sentinel host has no fixed address)
        kwargs.setdefault("protocol", 2)
        kwargs.setdefault("socket_connect_timeout", self._command_timeout)
        kwargs["socket_timeout"] = socket_timeout
        kwargs.update(max_connections=max_connections, timeout=self._command_timeout)
        if address is not None:
            return BlockingConnectionPool.from_url(address, **kwargs)
        return BlockingConnectionPool(**kwargs)

    # Commands

    publish_command = "PUBLISH"

    async def publish(self, topic: bytes, data: bytes) -> None:
        await self.publisher.execute(self.publish_command, topic, data)

    async def push(self, key: str, item: bytes, capacity: int, ttl: float) -> bool:
        """Append ``item`` to the list ``key`` unless it holds ``capacity`` items; False if it does."""
        return await keyspace.push(self.publisher, key, item, capacity, ttl)

    async def pop(self, key: str, timeout: float) -> bytes | None:
        """BLPOP one key for at most ``timeout`` seconds, on a connection kept for blocking reads."""
        if self._blocking_client is None:
            # The socket timeout must outlast the server-side BLPOP timeout (redis-py defaults to 5 s).
            pool = self._pool(max_connections=8, socket_timeout=timeout + self._command_timeout)
            self._blocking_client = Redis(connection_pool=pool)
        return await keyspace.pop(self._blocking_client, key, timeout, self.description)

    async def delete_keys(self, pattern: str) -> None:
        await keyspace.delete_matching(self.client, pattern, self.description)

    # Subscriptions

    @property
    def subscribed(self) -> bool:
        """Whether the subscriber connection is up and Redis confirmed every wanted topic."""
        return self._conn is not None and not self._unconfirmed and self._sent == set(self._wanted)

    @property
    def topic_count(self) -> int:
        """How many topics this hub is subscribed to, or resubscribing to."""
        return len(self._wanted)

    def wants(self, topic: bytes) -> bool:
        return topic in self._wanted

    async def subscribe(self, topic: bytes) -> None:
        """Take a reference to ``topic``; returns once Redis confirmed the subscription.

        Raises ChannelLayerUnavailable if Redis does not confirm within ``command_timeout``; the
        reference is kept either way, and the caller releases it.
        """
        if self._wanted.take(topic):
            self._mark_dirty(topic)
        self._start_supervisor()
        self._check_refused()
        await self._confirmed(topic)

    def release(self, topic: bytes) -> None:
        """Drop a reference to ``topic``; the last one unsubscribes (without waiting for Redis)."""
        if self._wanted.drop(topic):
            self._mark_dirty(topic)
            self._confirmations.confirm(topic)
            self._settle(topic, subscribed=False)
            self._gap_pending.discard(topic)
            self._check_gap()

    async def _confirmed(self, topic: bytes) -> None:
        if not self._is_confirmed(topic):
            unconfirmed = f"Redis at {self.description} did not confirm SUBSCRIBE"
            await self._confirmations.wait(topic, self._command_timeout, unconfirmed)

    def _is_confirmed(self, topic: bytes) -> bool:
        if topic not in self._wanted:
            return True
        return self._conn is not None and topic in self._sent and topic not in self._unconfirmed

    # Connection lifecycle

    async def close(self) -> None:
        """Cancel the tasks and close every connection; safe to call twice."""
        await self._stop_supervisor()
        self._confirmations.fail_all(ChannelLayerUnavailable("the channel layer was closed"))
        await self.publisher.close()
        # Clients given a pool do not close it themselves.
        await self.client.connection_pool.aclose()
        if self._blocking_client is not None:
            await self._blocking_client.connection_pool.aclose()

    def _attach(self) -> None:
        self._sent.clear()
        self._unconfirmed.clear()
        self._in_flight.clear()
        self._dirty.update(self._wanted)
        self._dirty_event.set()
        self._gap_topics.intersection_update(self._wanted)
        self._gap_pending = set(self._gap_topics)
        self._check_gap()

    def _detach(self) -> None:
        """Forget the connection; topics Redis had confirmed are now in a gap until resubscribed."""
        if self._conn is None:
            return
        lost = self._sent.difference(self._unconfirmed)
        if lost:
            self._gap_topics |= lost
            if self._down_since is None:
                self._down_since = self._loop.time()
            self._on_lost(lost)
        self._sent.clear()
        self._unconfirmed.clear()
        self._in_flight.clear()

    def _fail_waiting(self, refusal: ChannelLayerRefused) -> None:
        self._confirmations.fail_all(refusal)

    # The three tasks of a connection

    async def _read(self, conn: AbstractConnection) -> None:
        """Drain the socket: every reply is handled without awaiting anything else."""
        while True:
            try:
                reply = await conn.read_response(disconnect_on_error=False)
            except ResponseError as exc:
                self._error_reply(exc)
                continue
            if isinstance(reply, Exception):
                raise reply  # NOAUTH comes back as a value: the supervisor tells it from an outage
            self._alive()
            kind = reply[0]
            if kind == b"message":
                await self._hand_on(self._on_message, reply[1], reply[2])
            elif kind == b"subscribe":
                self._confirm(reply[1])

    def _confirm(self, topic: bytes) -> None:
        command = self._in_flight[0] if self._in_flight else None
        if command is not None and topic in command:
            command.discard(topic)
            if not command:
                self._in_flight.popleft()
        remaining = self._unconfirmed.get(topic, 0) - 1
        if remaining > 0:
            self._unconfirmed[topic] = remaining
            return
        self._unconfirmed.pop(topic, None)
        self._confirmations.confirm(topic)
        self._settle(topic, subscribed=True)
        self._gap_pending.discard(topic)
        self._check_gap()

    def _error_reply(self, exc: ResponseError) -> None:
        """Redis refused a command: a SUBSCRIBE fails its waiting callers; a PING or UNSUBSCRIBE is only reported."""
        command = refused_command(exc)
        if command in ("ping", "unsubscribe"):
            refused = refusal(exc, where(self.description), command.upper())
            topics: set[bytes] = set()
        else:
            topics = self._in_flight.popleft() if self._in_flight else set()
            first = min(topics, default=b"")
            others = f" and {len(topics) - 1} more" if len(topics) > 1 else ""
            refused = refusal(exc, where(self.description), f"SUBSCRIBE {first.decode()!r}{others}", first)
        if refused is None:
            raise exc  # unforeseen: the supervisor logs it and reconnects
        self._alive()  # the connection works: it is the ACL that says no
        if not topics:
            self._note_refusal(refused)
            return
        for topic in topics:
            self._sent.discard(topic)
            self._unconfirmed.pop(topic, None)
            self._confirmations.fail(topic, refused)
        self._refuse_topics(topics, refused)

    def _check_gap(self) -> None:
        if self._down_since is None or self._gap_pending or self._conn is None:
            return
        outage = self._loop.time() - self._down_since
        topics, self._gap_topics = self._gap_topics, set()
        self._down_since = None
        self.reconnects += 1
        if topics:
            self.gaps += 1
            logger.warning(
                "Resubscribed to %d topics on %s after %.2fs without a subscription; messages published "
                "meanwhile are lost, but for groups with history (%d such gaps so far)",
                len(topics), self.description, outage, self.gaps,
            )
            self._on_gap(topics, outage)

    async def _write(self, conn: AbstractConnection) -> None:
        """Make Redis's subscriptions match ``_wanted``, one batched command per burst of changes."""
        while True:
            await self._dirty_event.wait()
            self._dirty_event.clear()
            dirty, self._dirty = self._dirty, set()
            subscribe = [topic for topic in dirty if topic in self._wanted and topic not in self._sent]
            unsubscribe = [topic for topic in dirty if topic not in self._wanted and topic in self._sent]
            self._sent.difference_update(unsubscribe)
            self._sent.update(subscribe)
            for topic in subscribe:
                self._unconfirmed[topic] = self._unconfirmed.get(topic, 0) + 1
            for command, topics in (("UNSUBSCRIBE", unsubscribe), ("SUBSCRIBE", subscribe)):
                for start in range(0, len(topics), _SUBSCRIBE_CHUNK):
                    chunk = topics[start : start + _SUBSCRIBE_CHUNK]
                    if command == "SUBSCRIBE":
                        self._in_flight.append(set(chunk))  # before sending: the reply may come first
                    await conn.send_command(command, *chunk, check_health=False)
