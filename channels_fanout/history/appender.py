"""Sending to groups with history: a process's concurrent sends to one group share one append script.

A send waits for the next turn of the event loop; every send to the same group made meanwhile joins
it, and one script adds them all to the stream, in the order they were called, and publishes each.
A burst to one group then costs Redis one script instead of one per message (its calls, arguments
and bookkeeping are most of a script's time), and still one round trip per ``group_send``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ..exceptions import ChannelLayerUnavailable
from ..transport.shard import Shard
from . import streams

__all__ = ["Appender", "Target"]

#: Most messages, and bytes of them, one script adds: it blocks Redis while it runs.
MAX_MESSAGES = 100
MAX_BYTES = 512 * 1024
_TOKENS = 10_000  # groups whose last token is remembered (forgetting one only costs its check)


@dataclass(frozen=True)
class Target:
    """Where a group's messages go, as the append script takes it: keys, topic and limits, encoded once."""

    group: str
    keys: tuple[bytes, bytes]  # the stream, the epoch key
    topic: bytes
    limits: streams.Limits


_Waiting = tuple[bytes, "asyncio.Future[None]"]  # a frame head and its sender


class Appender:
    """The history sends of one event loop: queued per group, appended in one script per group and turn."""

    def __init__(self) -> None:
        self._queued: dict[str, list[_Waiting]] = {}
        self._tokens: dict[str, bytes] = {}  # group -> the token of the last append from here
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, target: Target, shard: Shard, head: bytes) -> None:
        """Add ``head`` to the group's history on ``shard`` and publish it; returns once Redis has done both."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        queued = self._queued.get(target.group)
        if queued is None:
            queued = self._queued[target.group] = []
            task = loop.create_task(self._append(target, shard), name="channels_fanout history append")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        queued.append((head, future))
        await future

    async def _append(self, target: Target, shard: Shard) -> None:
        # Runs a turn after the first send: the others of that turn have joined by now.
        waiting = self._queued.pop(target.group)
        chunks = _chunks(waiting)
        try:
            if len(chunks) == 1:
                await self._run(target, shard, waiting)
            else:  # pipelined, in order, on the shard's one publisher connection
                await asyncio.gather(*(self._run(target, shard, chunk) for chunk in chunks))
        except asyncio.CancelledError:
            _settle(waiting, ChannelLayerUnavailable("the channel layer was closed"))
            raise

    async def _run(self, target: Target, shard: Shard, chunk: list[_Waiting]) -> None:
        last = self._tokens.get(target.group, b"")
        heads = [head for head, _ in chunk]
        try:
            token = await streams.append(shard, target.keys, target.topic, heads, last, target.limits)
        except Exception as exc:  # each sender of the chunk sees it, as if it had sent alone
            _settle(chunk, exc)
            return
        if len(self._tokens) >= _TOKENS and target.group not in self._tokens:
            self._tokens.clear()
        self._tokens[target.group] = token
        _settle(chunk, None)

    async def close(self) -> None:
        """Cancel the appends in flight; their senders get ChannelLayerUnavailable."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _settle(waiting: list[_Waiting], error: BaseException | None) -> None:
    for _, future in waiting:
        if future.done():  # its sender was cancelled
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)


def _chunks(waiting: list[_Waiting]) -> list[list[_Waiting]]:
    """``waiting`` in order, cut so that no script adds more than MAX_MESSAGES or about MAX_BYTES."""
    chunks: list[list[_Waiting]] = [[]]
    size = 0
    for item in waiting:
        if chunks[-1] and (len(chunks[-1]) >= MAX_MESSAGES or size + len(item[0]) > MAX_BYTES):
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += len(item[0])
    return chunks
