"""The floor: the least any channel layer must do for a consumer, to measure real layers against.

A group message must at least wake each member's waiting ``receive()`` with the message; this does
only that, in one process: no network, no encoding, no copy per member, no capacity or expiry. It is
not a usable layer. The ``dispatch`` scenario runs it beside the real ones, so that what a layer
costs above it is what the layer itself adds to a consumer's delivery.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from typing import Any

__all__ = ["FloorLayer"]


class FloorLayer:
    def __init__(self) -> None:
        self._queued: dict[str, deque[dict[str, Any]]] = {}
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._groups: dict[str, list[str]] = {}
        self._numbers = itertools.count()

    async def new_channel(self, prefix: str = "specific") -> str:
        channel = f"{prefix}.floor!{next(self._numbers)}"
        self._queued[channel] = deque()
        return channel

    async def group_add(self, group: str, channel: str) -> None:
        self._groups.setdefault(group, []).append(channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        for channel in self._groups.get(group, ()):
            await self.send(channel, message)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        waiter = self._waiting.pop(channel, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(message)
        else:
            self._queued[channel].append(message)

    async def receive(self, channel: str) -> dict[str, Any]:
        queued = self._queued[channel]
        if queued:
            return queued.popleft()
        waiter = self._waiting[channel] = asyncio.get_running_loop().create_future()
        return await waiter
