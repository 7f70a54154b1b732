"""Auto-pipelining: commands from many tasks go to Redis in batches on one connection."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import hiredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import DataError, RedisError, ResponseError

from ..exceptions import ChannelLayerUnavailable
from .latency import Latency
from .refusals import again, describe_command, refusal, where

__all__ = ["Publisher"]

logger = logging.getLogger(__name__)

# Replies between two extensions of a batch's deadline.
_PROGRESS_EVERY = 256

_Pending = tuple[tuple[Any, ...], bytes, "asyncio.Future[Any]"]  # the command, packed, its caller


class Publisher:
    """Queues commands and sends whatever queued while the previous batch was in flight as one pipeline.

    One caller pays one round trip; a thousand concurrent callers pay a few, and never wait on a
    lock (the prior art sends publishes one at a time behind one). The connection is its own, not
    a pool's: no checkout per batch, and one deadline per batch instead of one per reply. A lone
    command, with nothing queued or in flight, is sent from its caller's task: no flusher task to
    make and wake for the common case of one publish at a time.
    """

    def __init__(self, make_connection: Callable[[], AbstractConnection], description: str, timeout: float) -> None:
        self._make_connection = make_connection
        self._description = description
        self._timeout = timeout
        self._connection: AbstractConnection | None = None
        self._queue: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._alone = False  # a caller is sending its lone command itself
        # For stats(): timed per batch, not per command, so a burst of a thousand costs one clock read.
        self.latency = Latency()  # round trip of each batch that got its replies
        self.commands = 0  # commands in those batches
        self.failed = 0  # commands failed because Redis was unreachable or too slow

    async def execute(self, *args: Any) -> Any:
        """Run one command in the next batch and return its reply.

        Packed here, so an argument Redis cannot take fails this call alone (DataError).
        """
        packed = _pack(args)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._flusher is None and not self._alone:
            return await self._send_alone((args, packed, future))
        self._queue.append((args, packed, future))  # a flusher runs, or the lone sender starts one when it is done
        return await future

    async def _send_alone(self, pending: _Pending) -> Any:
        """Send one command from the caller's task; commands queued meanwhile go in the next batch."""
        self._alone = True
        try:
            await self._send([pending])
        except asyncio.CancelledError:
            # Cancelled mid-exchange: a reply may be half read, so the connection's state is unknown.
            await self._disconnect()
            raise
        finally:
            self._alone = False
            if self._queue and self._flusher is None:
                self._start_flusher()
        return pending[2].result()

    def _start_flusher(self) -> None:
        self._flusher = asyncio.get_running_loop().create_task(self._flush(), name="channels_fanout publisher")

    async def close(self) -> None:
        """Cancel the batch in flight and close the connection; waiting callers see ChannelLayerUnavailable."""
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        self._fail(self._queue, ChannelLayerUnavailable("the channel layer was closed"))
        self._queue = []
        await self._disconnect()

    async def _flush(self) -> None:
        batch: list[_Pending] = []
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                await self._send(batch)
                batch = []
        finally:
            self._flusher = None
            self._fail(batch, ChannelLayerUnavailable("the channel layer was closed"))

    async def _send(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout) as deadline:
                await self._exchange(batch, deadline)
        except Exception as exc:
            # Refused credentials or TLS: a configuration problem, not Redis failing.
            error: ChannelLayerUnavailable | None = refusal(exc, where(self._description), "the connection")
            if error is None:
                if not isinstance(exc, (RedisError, OSError, TimeoutError)):  # a bug or an unforeseen reply
                    logger.exception("Publishing to %s failed unexpectedly", self._description)
                self.failed += sum(not future.done() for *_, future in batch)
                error = ChannelLayerUnavailable(f"Redis at {self._description} is unavailable: {exc or 'timeout'}")
            # The connection's state is unknown (a reply may be half read): start afresh next time.
            await self._disconnect()
            self._fail(batch, error, exc)
            return
        self.latency.observe(time.perf_counter() - started)
        self.commands += len(batch)

    async def _exchange(self, batch: list[_Pending], deadline: asyncio.Timeout) -> None:
        """Send a batch and settle each caller as its reply arrives; ``deadline`` bounds the wait for progress.

        A caller settled early runs (and queues its next command) while the rest of the batch is still
        in Redis, so the next batch is ready when this one ends: Redis and this process work side by side.
        """
        if self._connection is None:
            self._connection = self._make_connection()
        connection = self._connection
        if connection.is_connected:
            await self._drop_if_closed(connection)
        if not connection.is_connected:
            await connection.connect()  # type: ignore[no-untyped-call]
        await connection.send_packed_command([packed for _, packed, _ in batch], check_health=False)
        for count, (args, _, future) in enumerate(batch, 1):
            if count % _PROGRESS_EVERY == 0:  # a big batch on a busy server is slow, not stuck
                deadline.reschedule(asyncio.get_running_loop().time() + self._timeout)
            try:
                reply = await connection.read_response(disconnect_on_error=False)
            except ResponseError as exc:  # an error reply to one command: the others stand
                # An ACL refusal (NOPERM, or NOAUTH once a server starts requiring a password) is
                # explained; any other error reply (NOSCRIPT, MOVED) goes to the caller as redis-py made it.
                if not future.done():
                    future.set_exception(refusal(exc, where(self._description), *describe_command(args)) or exc)
                continue
            if not future.done():
                future.set_result(reply)

    @staticmethod
    async def _drop_if_closed(connection: AbstractConnection) -> None:
        """Disconnect a connection the server closed while it was idle (a restart), so the batch goes on a new one.

        The batch never reached that server, so no command runs twice. The check reads no socket: the
        event loop has already seen the EOF or reset.
        """
        try:
            unexpected = await connection.can_read()  # a reply nobody asked for: state unknown
        except (RedisError, OSError):
            unexpected = True
        if unexpected:
            await connection.disconnect(nowait=True)

    async def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.disconnect(nowait=True)

    @staticmethod
    def _fail(batch: list[_Pending], error: ChannelLayerUnavailable, cause: BaseException | None = None) -> None:
        for *_, future in batch:
            if not future.done():
                exc = again(error)
                exc.__cause__ = cause
                future.set_exception(exc)


def _pack(args: tuple[Any, ...]) -> bytes:
    """One command in RESP: hiredis packs str, bytes, int and float itself, without redis-py's per-argument pass."""
    try:
        return bytes(hiredis.pack_command(args))
    except TypeError as exc:
        raise DataError(f"Invalid argument for {describe_command(args)[0]}: {exc}") from None
