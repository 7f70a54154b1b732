"""Auto-pipelining: commands from many tasks go to Redis in batches on one connection."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .exceptions import ChannelLayerUnavailable

__all__ = ["Publisher"]

_Pending = tuple[tuple[Any, ...], "asyncio.Future[Any]"]


class Publisher:
    """Queues commands and sends whatever queued while the previous batch was in flight as one pipeline.

    One caller pays one round trip; a thousand concurrent callers pay a few, and never wait on a
    lock (the prior art sends publishes one at a time behind one).
    """

    def __init__(self, client: Redis, description: str) -> None:
        self._client = client
        self._description = description
        self._queue: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None

    async def execute(self, *args: Any) -> Any:
        """Run one command in the next batch and return its reply."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((args, future))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush(), name="channels_fanout publisher")
        return await future

    async def close(self) -> None:
        """Cancel the batch in flight; callers still waiting see ChannelLayerUnavailable."""
        if self._flusher is not None:
            self._flusher.cancel()
            try:
                await self._flusher
            except asyncio.CancelledError:
                pass
        self._fail(self._queue, ChannelLayerUnavailable("the channel layer was closed"))
        self._queue = []

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
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for args, _ in batch:
                    pipe.execute_command(*args)
                replies = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError) as exc:
            self._fail(batch, ChannelLayerUnavailable(f"Redis at {self._description} is unavailable: {exc}"), exc)
            return
        for (_, future), reply in zip(batch, replies):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    @staticmethod
    def _fail(batch: list[_Pending], error: ChannelLayerUnavailable, cause: BaseException | None = None) -> None:
        for _, future in batch:
            if not future.done():
                exc = ChannelLayerUnavailable(*error.args)
                exc.__cause__ = cause
                future.set_exception(exc)
