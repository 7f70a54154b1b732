"""One Redis server as seen from one event loop: a pub/sub subscriber connection and command clients.

The hub knows topics and bytes, never channels or groups. Subscriptions are reference-counted;
a writer task reconciles what Redis has with what is wanted, so any interleaving of subscribe
and release converges to the wanted state, and bursts become one SUBSCRIBE or UNSUBSCRIBE.
A supervisor task reconnects with capped, jittered exponential backoff, resubscribes, and then
reports the outage to ``on_gap``. A heartbeat PING catches half-open connections.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Collection, Mapping
from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisError

from .exceptions import ChannelLayerUnavailable
from .publisher import Publisher

__all__ = ["Hub"]

logger = logging.getLogger(__name__)

MessageHandler = Callable[[bytes, bytes], None]
GapHandler = Callable[[Collection[bytes], float], None]

_BACKOFF_BASE = 0.05
_SUBSCRIBE_CHUNK = 1000
_CONNECTION_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


class Hub:
    """Pub/sub and commands for one Redis server on the running loop."""

    def __init__(
        self,
        host: Mapping[str, Any],
        *,
        on_message: MessageHandler,
        on_gap: GapHandler,
        heartbeat_interval: float,
        command_timeout: float,
        reconnect_max_delay: float,
    ) -> None:
        default = f"{host.get('host', 'localhost')}:{host.get('port', 6379)}"
        self.description = str(host.get("description") or host.get("address") or default)
        self._host = host
        self._on_message = on_message
        self._on_gap = on_gap
        self._heartbeat_interval = heartbeat_interval
        self._command_timeout = command_timeout
        self._reconnect_max_delay = reconnect_max_delay
        self.client = Redis(connection_pool=self._pool(max_connections=2, socket_timeout=command_timeout))
        # A factory only, for connections that are owned, not pooled: the subscriber's (no socket
        # timeout, since an idle subscriber waits for minutes; the heartbeat catches a dead peer) and
        # the publisher's (which sets one deadline per batch).
        self._connection_factory = self._pool(max_connections=1, socket_timeout=None)
        self.publisher = Publisher(self._connection_factory.make_connection, self.description, command_timeout)
        self._blocking_client: Redis | None = None

        self._wanted: dict[bytes, int] = {}  # topic -> references
        self._sent: set[bytes] = set()  # topics whose last command on this connection was SUBSCRIBE
        self._unconfirmed: dict[bytes, int] = {}  # topic -> SUBSCRIBEs sent and not yet confirmed
        self._dirty: set[bytes] = set()  # topics the writer must reconcile
        self._dirty_event = asyncio.Event()
        self._waiters: dict[bytes, list[asyncio.Future[None]]] = {}
        self._conn: AbstractConnection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        self._last_seen = 0.0
        self._attempt = 0
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

    async def publish(self, topic: bytes, data: bytes) -> None:
        await self.publisher.execute("PUBLISH", topic, data)

    async def pop(self, key: str, timeout: float) -> bytes | None:
        """BLPOP one key for at most ``timeout`` seconds, on a connection kept for blocking reads."""
        if self._blocking_client is None:
            # The socket timeout must outlast the server-side BLPOP timeout (redis-py defaults to 5 s).
            pool = self._pool(max_connections=8, socket_timeout=timeout + self._command_timeout)
            self._blocking_client = Redis(connection_pool=pool)
        try:
            reply = await self._blocking_client.blpop([key], timeout=timeout)
        except _CONNECTION_ERRORS as exc:
            raise ChannelLayerUnavailable(f"Redis at {self.description} is unavailable: {exc}") from exc
        return None if reply is None else cast(bytes, reply[1])

    async def delete_keys(self, pattern: str) -> None:
        """UNLINK every key matching ``pattern``, found with SCAN (never KEYS, which blocks Redis)."""
        try:
            keys = [key async for key in self.client.scan_iter(match=pattern, count=500)]
            for start in range(0, len(keys), 500):
                await self.client.unlink(*keys[start : start + 500])
        except _CONNECTION_ERRORS as exc:
            raise ChannelLayerUnavailable(f"Redis at {self.description} is unavailable: {exc}") from exc

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
        references = self._wanted.get(topic, 0)
        self._wanted[topic] = references + 1
        if references == 0:
            self._mark_dirty(topic)
        self._start()
        await self._confirmed(topic)

    def release(self, topic: bytes) -> None:
        """Drop a reference to ``topic``; the last one unsubscribes (without waiting for Redis)."""
        references = self._wanted.get(topic, 0)
        if references > 1:
            self._wanted[topic] = references - 1
            return
        if references == 1:
            del self._wanted[topic]
            self._mark_dirty(topic)
            self._wake(topic)
            self._gap_pending.discard(topic)
            self._check_gap()

    async def _confirmed(self, topic: bytes) -> None:
        if self._is_confirmed(topic):
            return
        waiter = self._loop.create_future()
        waiters = self._waiters.setdefault(topic, [])
        waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, self._command_timeout)
        except TimeoutError:
            raise ChannelLayerUnavailable(
                f"Redis at {self.description} did not confirm SUBSCRIBE within {self._command_timeout}s"
            ) from None
        finally:
            if waiter in waiters:
                waiters.remove(waiter)

    def _is_confirmed(self, topic: bytes) -> bool:
        if topic not in self._wanted:
            return True
        return self._conn is not None and topic in self._sent and topic not in self._unconfirmed

    def _wake(self, topic: bytes) -> None:
        for waiter in self._waiters.pop(topic, ()):
            if not waiter.done():
                waiter.set_result(None)

    def _mark_dirty(self, topic: bytes) -> None:
        self._dirty.add(topic)
        self._dirty_event.set()

    # Connection lifecycle

    def _start(self) -> None:
        if self._supervisor is None:
            self._supervisor = self._loop.create_task(self._supervise(), name=f"channels_fanout hub {self.description}")

    async def close(self) -> None:
        """Cancel the tasks and close every connection; safe to call twice."""
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(ChannelLayerUnavailable("the channel layer was closed"))
        self._waiters.clear()
        await self.publisher.close()
        # Clients given a pool do not close it themselves.
        await self.client.connection_pool.aclose()
        if self._blocking_client is not None:
            await self._blocking_client.connection_pool.aclose()

    async def _supervise(self) -> None:
        while True:
            conn: AbstractConnection = self._connection_factory.make_connection()  # type: ignore[no-untyped-call]
            try:
                # Not wait_for: on Python 3.11 it swallows a cancellation that arrives as connect() fails,
                # and close() then waits forever on a supervisor that keeps reconnecting.
                async with asyncio.timeout(self._command_timeout):
                    await conn.connect()  # type: ignore[no-untyped-call]
                await self._serve(conn)
            except _CONNECTION_ERRORS as exc:
                self._log_down(exc)
            finally:
                self._detach()
                await conn.disconnect(nowait=True)
            delay = min(self._reconnect_max_delay, _BACKOFF_BASE * 2**self._attempt) * random.uniform(0.5, 1.0)
            self._attempt += 1
            await asyncio.sleep(delay)

    async def _serve(self, conn: AbstractConnection) -> None:
        """Run the reader, writer and heartbeat on one connection until one of them fails."""
        self._conn = conn
        self._last_seen = self._loop.time()
        self._sent.clear()
        self._unconfirmed.clear()
        self._dirty.update(self._wanted)
        self._dirty_event.set()
        self._gap_topics.intersection_update(self._wanted)
        self._gap_pending = set(self._gap_topics)
        self._check_gap()
        tasks = [
            self._loop.create_task(self._read(conn), name="channels_fanout reader"),
            self._loop.create_task(self._write(conn), name="channels_fanout subscription writer"),
        ]
        if self._heartbeat_interval:
            tasks.append(self._loop.create_task(self._heartbeat(conn), name="channels_fanout heartbeat"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _detach(self) -> None:
        """Forget the connection; topics Redis had confirmed are now in a gap until resubscribed."""
        if self._conn is None:
            return
        lost = self._sent.difference(self._unconfirmed)
        if lost:
            self._gap_topics |= lost
            if self._down_since is None:
                self._down_since = self._loop.time()
        self._conn = None
        self._sent.clear()
        self._unconfirmed.clear()

    def _log_down(self, exc: BaseException) -> None:
        # One line per failed attempt would flood the log during a long outage; the first and then
        # every tenth attempt carry the count.
        if self._attempt % 10 == 0:
            logger.warning(
                "Redis pub/sub connection to %s lost or refused (%s); reconnecting, attempt %d",
                self.description, exc or type(exc).__name__, self._attempt + 1,
            )

    # The three tasks of a connection

    async def _read(self, conn: AbstractConnection) -> None:
        """Drain the socket: every reply is handled without awaiting anything else."""
        while True:
            reply = await conn.read_response(disconnect_on_error=False)
            self._last_seen = self._loop.time()
            self._attempt = 0
            kind = reply[0]
            if kind == b"message":
                try:
                    self._on_message(reply[1], reply[2])
                except Exception:  # a bad payload must never stop delivery to everyone else
                    logger.exception("Delivering a message from topic %r failed", reply[1])
                # read_response returns buffered replies without yielding: let the receivers run
                # before the next one, or a burst larger than an inbox's capacity would overflow it.
                await asyncio.sleep(0)
            elif kind == b"subscribe":
                self._confirm(reply[1])

    def _confirm(self, topic: bytes) -> None:
        remaining = self._unconfirmed.get(topic, 0) - 1
        if remaining > 0:
            self._unconfirmed[topic] = remaining
            return
        self._unconfirmed.pop(topic, None)
        self._wake(topic)
        self._gap_pending.discard(topic)
        self._check_gap()

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
                "Resubscribed to %d topics on %s after %.2fs without a subscription; "
                "messages published meanwhile are lost (%d such gaps so far)",
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
                    await conn.send_command(command, *topics[start : start + _SUBSCRIBE_CHUNK], check_health=False)

    async def _heartbeat(self, conn: AbstractConnection) -> None:
        """PING every interval; a connection silent for 1.5 intervals after a PING is dead."""
        interval = self._heartbeat_interval
        while True:
            await asyncio.sleep(interval)
            silent = self._loop.time() - self._last_seen
            if silent > 1.5 * interval:
                raise ConnectionError(f"no reply from {self.description} for {silent:.1f}s (heartbeat)")
            await conn.send_command("PING", check_health=False)
