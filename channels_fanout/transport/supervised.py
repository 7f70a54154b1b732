"""A pub/sub connection kept alive: connect, run a reader, a writer and a heartbeat, reconnect with backoff.

Both kinds of shard subscribe this way: ``Hub`` (SUBSCRIBE on one server) and
``ClusterSubscriber`` (SSUBSCRIBE on one cluster node). A subclass says what its connection reads
and writes and what attaching or losing it means; this class owns the tasks, the capped and
jittered exponential backoff, the heartbeat and the rate-limited log.

A refusal (credentials, TLS, or an ACL that denies a subscription) is not an outage: it is kept in
``refusal`` for stats(), logged once, handed to the callers waiting on it, and tried again only
every ``REFUSED_RETRY_FACTOR`` times ``reconnect_max_delay``, so a fix made in Redis takes effect
without restarting the application.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Collection

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisClusterException, RedisError

from ..exceptions import ChannelLayerRefused
from .refusals import RefusalLog, again, refusal, where

__all__ = ["CONNECTION_ERRORS", "REFUSED_RETRY_FACTOR", "MessageHandler", "SupervisedConnection"]

logger = logging.getLogger(__name__)

# What redis-py raises when a server cannot be reached or answer in time.
CONNECTION_ERRORS = (RedisError, RedisClusterException, OSError, asyncio.TimeoutError)
_BACKOFF_BASE = 0.05
# A reader lets the loop run at least this often even when no inbox is crowded, so a flood of
# messages never starves other tasks (WebSocket I/O of the same process) for long.
_YIELD_EVERY = 64
#: A refused connection or subscription is tried again after this many ``reconnect_max_delay``s (10 s by default).
REFUSED_RETRY_FACTOR = 10

MessageHandler = Callable[[bytes, bytes], bool]


class SupervisedConnection:
    """One subscriber connection at a time, replaced whenever it fails, until ``_stop_supervisor``."""

    def __init__(
        self,
        description: str,
        make_connection: Callable[[], AbstractConnection],
        *,
        heartbeat_interval: float,
        command_timeout: float,
        reconnect_max_delay: float,
    ) -> None:
        self.description = description
        self._make_connection = make_connection
        self._heartbeat_interval = heartbeat_interval
        self._command_timeout = command_timeout
        self._reconnect_max_delay = reconnect_max_delay
        self._loop = asyncio.get_running_loop()
        self._conn: AbstractConnection | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._last_seen = 0.0
        self._attempt = 0
        self._unyielded = 0  # messages handed on since the reader last let the loop run
        self._dirty: set[bytes] = set()  # topics the writer must reconcile
        self._dirty_event = asyncio.Event()
        self.refusal: ChannelLayerRefused | None = None  # why Redis refuses the connection or some topics now
        self._connection_refused = False  # the last connection attempt was refused, not just some topics
        self._refused_topics: set[bytes] = set()  # topics whose subscription Redis refused, tried again later
        self._refused_retry: asyncio.TimerHandle | None = None
        self._refusal_log = RefusalLog(logger, self._refused_delay)

    # For subclasses to implement

    def _attach(self) -> None:
        """A new connection is up (``self._conn``): reset per-connection state, mark topics dirty."""

    def _detach(self) -> None:
        """The connection is gone, or never came up: account for what it held."""

    async def _read(self, conn: AbstractConnection) -> None:
        raise NotImplementedError

    async def _write(self, conn: AbstractConnection) -> None:
        raise NotImplementedError

    def _fail_waiting(self, refusal: ChannelLayerRefused) -> None:
        """Redis refused the connection: fail the callers waiting for a subscription on it."""

    # For subclasses to call

    @property
    def _refused_delay(self) -> float:
        return REFUSED_RETRY_FACTOR * self._reconnect_max_delay

    def _check_refused(self) -> None:
        """Raise the refusal at once if the connection is refused: a caller must not wait for a retry in vain."""
        if self._connection_refused and self._conn is None and self.refusal is not None:
            raise again(self.refusal)

    def _refuse_topics(self, topics: Collection[bytes], refusal: ChannelLayerRefused) -> None:
        """Redis refused subscribing to ``topics``: note it, and mark them to be tried again later."""
        self._refused_topics.update(topics)
        self._note_refusal(refusal)
        if self._refused_retry is None:
            self._refused_retry = self._loop.call_later(self._refused_delay, self._retry_refused)

    def _settle(self, topic: bytes, *, subscribed: bool) -> None:
        """``topic`` is subscribed, or no longer wanted: whatever refusal it met is over."""
        if self._refused_topics:
            self._refused_topics.discard(topic)
            if not self._refused_topics and not self._connection_refused:
                self._clear_refusal(accepted=subscribed)

    def _start_supervisor(self) -> None:
        if self._supervisor is None:
            name = f"channels_fanout subscriber {self.description}"
            self._supervisor = self._loop.create_task(self._supervise(), name=name)

    async def _stop_supervisor(self) -> None:
        if self._refused_retry is not None:
            self._refused_retry.cancel()
            self._refused_retry = None
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            await asyncio.gather(supervisor, return_exceptions=True)

    def _mark_dirty(self, topic: bytes) -> None:
        self._dirty.add(topic)
        self._dirty_event.set()

    async def _hand_on(self, handler: MessageHandler, topic: bytes, data: bytes) -> None:
        """Give one message to ``handler``, then let receivers run if it says they fall behind.

        read_response returns buffered replies without suspending: a reader that never yielded
        would fill inboxes past their capacity before their receivers ran once. Yielding after
        every message instead costs every delivery a wake-up (a third of the throughput).
        """
        try:
            crowded = handler(topic, data)
        except Exception:  # a bad payload must never stop delivery to everyone else
            logger.exception("Delivering a message from topic %r failed", topic)
            crowded = False
        self._unyielded += 1
        if crowded or self._unyielded >= _YIELD_EVERY:
            self._unyielded = 0
            await asyncio.sleep(0)

    def _alive(self) -> None:
        """A reply arrived: the connection works, and the next failure starts the backoff afresh."""
        self._last_seen = self._loop.time()
        self._attempt = 0
        if self._connection_refused:
            self._connection_refused = False
            if not self._refused_topics:
                self._clear_refusal(accepted=True)

    # Refusals

    def _retry_refused(self) -> None:
        self._refused_retry = None
        for topic in self._refused_topics:
            self._mark_dirty(topic)  # the writer subscribes those still wanted

    def _note_refusal(self, refusal: ChannelLayerRefused) -> None:
        """Keep ``refusal`` for stats() and log it (once, not once per attempt)."""
        self.refusal = refusal
        self._refusal_log.refused(refusal)

    def _clear_refusal(self, *, accepted: bool) -> None:
        if accepted:
            self._refusal_log.accepted(where(self.description))
        self.refusal = None

    # The loop

    async def _supervise(self) -> None:
        while True:
            conn: AbstractConnection = self._make_connection()
            refused = None
            try:
                # Not wait_for: on Python 3.11 it swallows a cancellation that arrives as connect() fails,
                # and close() then waits forever on a supervisor that keeps reconnecting.
                async with asyncio.timeout(self._command_timeout):
                    await conn.connect()  # type: ignore[no-untyped-call]
                await self._serve(conn)
            except CONNECTION_ERRORS as exc:
                refused = refusal(exc, where(self.description), "the pub/sub connection")
                if refused is None:
                    self._log_down(exc)
                    if self._connection_refused and not self._refused_topics:
                        self._clear_refusal(accepted=False)  # down, not refusing: callers wait as in any outage
                    self._connection_refused = False
            except Exception:  # a bug or an unforeseen reply must not end this process's subscriptions
                logger.exception("Pub/sub connection to %s failed unexpectedly; reconnecting", self.description)
            finally:
                self._detach()
                self._conn = None
                await conn.disconnect(nowait=True)
            if refused is not None:
                self._connection_refused = True
                self._note_refusal(refused)
                self._fail_waiting(refused)
                await asyncio.sleep(self._refused_delay * random.uniform(0.8, 1.0))
                continue
            delay = min(self._reconnect_max_delay, _BACKOFF_BASE * 2**self._attempt) * random.uniform(0.5, 1.0)
            self._attempt += 1
            await asyncio.sleep(delay)

    async def _serve(self, conn: AbstractConnection) -> None:
        """Run the reader, writer and heartbeat on one connection until one of them fails."""
        self._conn = conn
        self._last_seen = self._loop.time()
        if self._connection_refused:
            # Connected, but accepted? Ask now (NOAUTH comes only with a first command), so the refusal
            # clears, or stays without flapping, before any subscription is sent.
            await conn.send_command("PING", check_health=False)
        elif not self._refused_topics:
            self.refusal = None  # a refused PING or UNSUBSCRIBE was the old connection's
        self._attach()
        tasks = [
            self._loop.create_task(self._read(conn), name=f"channels_fanout reader {self.description}"),
            self._loop.create_task(self._write(conn), name=f"channels_fanout writer {self.description}"),
        ]
        if self._heartbeat_interval:
            heartbeat = self._heartbeat(conn)
            tasks.append(self._loop.create_task(heartbeat, name=f"channels_fanout heartbeat {self.description}"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _heartbeat(self, conn: AbstractConnection) -> None:
        """PING every interval; a connection silent for 1.5 intervals after a PING is dead (half-open)."""
        interval = self._heartbeat_interval
        while True:
            await asyncio.sleep(interval)
            silent = self._loop.time() - self._last_seen
            if silent > 1.5 * interval:
                raise ConnectionError(f"no reply from {self.description} for {silent:.1f}s (heartbeat)")
            await conn.send_command("PING", check_health=False)

    def _log_down(self, exc: BaseException) -> None:
        # One line per failed attempt would flood the log during a long outage; the first and then
        # every tenth attempt carry the count.
        if self._attempt % 10 == 0:
            logger.warning(
                "Pub/sub connection to %s lost or refused (%s); reconnecting, attempt %d",
                self.description, exc or type(exc).__name__, self._attempt + 1,
            )  # fmt: skip
