"""One bounded inbox per local channel.

Overflow policy: a message that finds the inbox full is refused (``put`` returns False). A local
``send`` turns that into ``ChannelFull``; a message arriving from Redis is dropped for this inbox
only, counted, and logged at most once per ``DROP_LOG_INTERVAL`` per channel with totals.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Inbox"]

logger = logging.getLogger(__name__)

DROP_LOG_INTERVAL = 5.0


class Inbox:
    """A FIFO of (expires_at, message) with at most ``capacity`` entries and any number of receivers."""

    __slots__ = (
        "channel", "capacity", "dropped", "receivers", "idle_since", "on_wait",
        "_items", "_waiters", "_logged_drops", "_logged_at",
    )

    def __init__(self, channel: str, capacity: int) -> None:
        self.channel = channel
        self.capacity = capacity
        self.dropped = 0
        self.receivers = 0
        self.idle_since = time.monotonic()
        # Called when a receiver starts waiting on the empty inbox: worker queues fetch on demand.
        self.on_wait: Callable[[], None] | None = None
        self._items: deque[tuple[float, dict[str, Any]]] = deque()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._logged_drops = 0
        self._logged_at = 0.0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def waiting(self) -> bool:
        """Whether a receiver is blocked on this inbox right now."""
        return bool(self._waiters)

    def put(self, message: dict[str, Any], expires_at: float) -> bool:
        """Queue ``message`` unless the inbox is full; never blocks."""
        if len(self._items) >= self.capacity:
            return False
        self._items.append((expires_at, message))
        self._wake_one()
        return True

    def put_or_drop(self, message: dict[str, Any], expires_at: float) -> None:
        """Queue ``message``, or count and (rate-limited) log its drop."""
        if not self.put(message, expires_at):
            self.dropped += 1
            now = time.monotonic()
            if now - self._logged_at >= DROP_LOG_INTERVAL:
                logger.warning(
                    "Inbox of %s is full (capacity %d): dropped %d messages since the last report, %d in total",
                    self.channel, self.capacity, self.dropped - self._logged_drops, self.dropped,
                )
                self._logged_at, self._logged_drops = now, self.dropped

    def drain(self) -> list[dict[str, Any]]:
        """Remove and return everything queued (used when the inbox is dropped)."""
        items = [message for _, message in self._items]
        self._items.clear()
        return items

    async def get(self) -> dict[str, Any]:
        """Wait for the next unexpired message.

        A message is removed only by the receiver that returns it: a receiver cancelled after being
        woken leaves the message queued and passes the wake-up on, so cancellation loses nothing.
        """
        self.receivers += 1
        try:
            while True:
                while self._items:
                    expires_at, message = self._items.popleft()
                    if expires_at >= time.time():
                        return message
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                if self.on_wait is not None:
                    self.on_wait()
                try:
                    await waiter
                except asyncio.CancelledError:
                    if waiter.done() and not waiter.cancelled():
                        self._wake_one()
                    elif waiter in self._waiters:
                        self._waiters.remove(waiter)
                    raise
        finally:
            self.receivers -= 1
            self.idle_since = time.monotonic()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
