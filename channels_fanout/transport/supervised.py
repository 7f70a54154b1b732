"""A pub/sub connection kept alive: connect, run a reader, a writer and a heartbeat, reconnect with backoff.

Both kinds of shard subscribe this way: ``Hub`` (SUBSCRIBE on one server) and
``ClusterSubscriber`` (SSUBSCRIBE on one cluster node). A subclass says what its connection reads
and writes and what attaching or losing it means; this class owns the tasks, the capped and
jittered exponential backoff, the heartbeat and the rate-limited log.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import RedisClusterException, RedisError

__all__ = ["CONNECTION_ERRORS", "MessageHandler", "SupervisedConnection"]

logger = logging.getLogger(__name__)

# What redis-py raises when a server cannot be reached or answer in time.
CONNECTION_ERRORS = (RedisError, RedisClusterException, OSError, asyncio.TimeoutError)
_BACKOFF_BASE = 0.05
# A reader lets the loop run at least this often even when no inbox is crowded, so a flood of
# messages never starves other tasks (WebSocket I/O of the same process) for long.
_YIELD_EVERY = 64

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

    # For subclasses to implement

    def _attach(self) -> None:
        """A new connection is up (``self._conn``): reset per-connection state, mark topics dirty."""

    def _detach(self) -> None:
        """The connection is gone, or never came up: account for what it held."""

    async def _read(self, conn: AbstractConnection) -> None:
        raise NotImplementedError

    async def _write(self, conn: AbstractConnection) -> None:
        raise NotImplementedError

    # For subclasses to call

    def _start_supervisor(self) -> None:
        if self._supervisor is None:
            name = f"channels_fanout subscriber {self.description}"
            self._supervisor = self._loop.create_task(self._supervise(), name=name)

    async def _stop_supervisor(self) -> None:
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

    # The loop

    async def _supervise(self) -> None:
        while True:
            conn: AbstractConnection = self._make_connection()
            try:
                # Not wait_for: on Python 3.11 it swallows a cancellation that arrives as connect() fails,
                # and close() then waits forever on a supervisor that keeps reconnecting.
                async with asyncio.timeout(self._command_timeout):
                    await conn.connect()  # type: ignore[no-untyped-call]
                await self._serve(conn)
            except CONNECTION_ERRORS as exc:
                self._log_down(exc)
            except Exception:  # a bug or an unforeseen reply must not end this process's subscriptions
                logger.exception("Pub/sub connection to %s failed unexpectedly; reconnecting", self.description)
            finally:
                self._detach()
                self._conn = None
                await conn.disconnect(nowait=True)
            delay = min(self._reconnect_max_delay, _BACKOFF_BASE * 2**self._attempt) * random.uniform(0.5, 1.0)
            self._attempt += 1
            await asyncio.sleep(delay)

    async def _serve(self, conn: AbstractConnection) -> None:
        """Run the reader, writer and heartbeat on one connection until one of them fails."""
        self._conn = conn
        self._last_seen = self._loop.time()
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
