"""One bounded inbox per local channel.

Overflow policy: a message that finds the inbox full is refused (``put`` returns False). A local
``send`` turns that into ``ChannelFull``; a message arriving from Redis is dropped for this inbox
only, counted, and logged at most once per ``DROP_LOG_INTERVAL`` per channel with totals.

Each inbox counts what went through it with plain integer increments (``delivered``, ``dropped``,
``expired``, ``discarded``, ``high_water``); ``InboxTotals`` keeps them when the inbox is closed.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Inbox", "InboxTotals"]

logger = logging.getLogger(__name__)

DROP_LOG_INTERVAL = 5.0

_Item = tuple[float, dict[str, Any]]  # (expires_at, message)


class Inbox:
    """A FIFO of (expires_at, message) with at most ``capacity`` entries and any number of receivers."""

    __slots__ = (
        "channel", "capacity", "dropped", "receivers", "idle_since", "on_wait",
        "delivered", "expired", "discarded", "high_water",
        "_items", "_waiters", "_logged_drops", "_logged_at",
    )

    def __init__(self, channel: str, capacity: int) -> None:
        self.channel = channel
        self.capacity = capacity
        self.dropped = 0  # refused: the inbox was full
        self.delivered = 0  # queued
        self.expired = 0  # queued, then past expiry when a receiver got to it
        self.discarded = 0  # queued, then thrown away by drain() (flush, or the inbox was dropped)
        self.high_water = 0  # the most messages ever queued at once
        self.receivers = 0
        self.idle_since = time.monotonic()
        # Called when a receiver starts waiting on the empty inbox: worker queues fetch on demand.
        self.on_wait: Callable[[], None] | None = None
        # Both made small for the idle consumer, the common case: an empty deque is 760 bytes, so
        # the queue exists only while it holds messages, and waiters are a list (one, usually).
        self._items: deque[_Item] | None = None
        # A waiter's result is the message handed to it, or None when it is only woken to look.
        self._waiters: list[asyncio.Future[_Item | None]] = []
        self._logged_drops = 0
        self._logged_at = 0.0

    def __len__(self) -> int:
        return 0 if self._items is None else len(self._items)

    @property
    def waiting(self) -> bool:
        """Whether a receiver is blocked on this inbox right now."""
        return bool(self._waiters)

    @property
    def full(self) -> bool:
        return self._items is not None and len(self._items) >= self.capacity

    def put(self, message: dict[str, Any], expires_at: float) -> bool:
        """Queue ``message`` unless the inbox is full; never blocks."""
        if self.full:
            return False
        self.put_or_drop(message, expires_at)
        return True

    def put_or_drop(self, message: dict[str, Any], expires_at: float) -> bool:
        """Queue ``message``, or count and (rate-limited) log its drop. The fan-out's hot path.

        Returns whether the inbox is now half full or more: its receivers are falling behind.
        A receiver waiting on the empty inbox is handed the message directly (no queue, no second look).
        """
        if self._items is None and self._waiters and self._hand_off((expires_at, message)):
            self.delivered += 1
            if not self.high_water:
                self.high_water = 1
            return False
        items = self._items
        if items is None:
            items = self._items = deque()
        queued = len(items)
        if queued >= self.capacity:
            self._note_drop()
            return True
        items.append((expires_at, message))
        self.delivered += 1
        if queued >= self.high_water:
            self.high_water = queued + 1
        if self._waiters:
            self._wake_one()
        return (queued + 1) * 2 >= self.capacity

    def _note_drop(self) -> None:
        self.dropped += 1
        now = time.monotonic()
        if now - self._logged_at >= DROP_LOG_INTERVAL:
            logger.warning(
                "Inbox of %s is full (capacity %d): dropped %d messages since the last report, %d in total",
                self.channel, self.capacity, self.dropped - self._logged_drops, self.dropped,
            )  # fmt: skip
            self._logged_at, self._logged_drops = now, self.dropped

    def drain(self) -> list[dict[str, Any]]:
        """Remove and return everything queued (used when the inbox is dropped)."""
        items = [message for _, message in self._items or ()]
        self._items = None
        self.discarded += len(items)
        return items

    def take(self) -> dict[str, Any] | None:
        """The next unexpired message if one is queued, else None; never waits (receive's fast path)."""
        items = self._items
        while items:
            expires_at, message = items.popleft()
            if not items:
                self._items = None
            if expires_at >= time.time():
                self.idle_since = time.monotonic()
                return message
            self.expired += 1
        return None

    async def get(self) -> dict[str, Any]:
        """Wait for the next unexpired message.

        A receiver cancelled after being handed a message puts it back at the front of the queue and
        passes the wake-up on (Channels cancels ``receive()`` when a consumer exits): nothing is lost
        or reordered by cancellation.
        """
        self.receivers += 1
        try:
            while (message := self.take()) is None:
                # Inline, not a helper coroutine: every idle consumer holds this frame while it waits.
                waiter: asyncio.Future[_Item | None] = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                if self.on_wait is not None:
                    self.on_wait()
                try:
                    handed = await waiter
                except asyncio.CancelledError:
                    self._give_back(waiter)
                    raise
                if handed is not None:
                    if handed[0] >= time.time():
                        return handed[1]
                    self.expired += 1
            return message
        finally:
            self.receivers -= 1
            self.idle_since = time.monotonic()

    def _give_back(self, waiter: asyncio.Future[_Item | None]) -> None:
        """A receiver was cancelled: a message handed to it goes back to the front, its wake-up to the next."""
        if waiter.done() and not waiter.cancelled():
            handed = None if waiter.exception() is not None else waiter.result()
            if handed is not None:
                if self._items is None:
                    self._items = deque()
                self._items.appendleft(handed)
            self._wake_one()
        elif waiter in self._waiters:
            self._waiters.remove(waiter)

    def fail_waiting(self, error: Exception) -> None:
        """Raise ``error`` in every receiver waiting now (its worker channel cannot be read: Redis refuses)."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(copy.copy(error))

    def _wake_one(self) -> None:
        """Wake the first receiver still waiting to look at the queue."""
        self._hand_off(None)

    def _hand_off(self, item: _Item | None) -> bool:
        """Give ``item`` (None: only a wake-up) to the first receiver still waiting; False if none is."""
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(item)
                return True
        return False


class InboxTotals:
    """The counters of inboxes added together: closed ones (kept by their owner) or a snapshot of open ones."""

    __slots__ = ("delivered", "dropped", "expired", "discarded", "high_water")

    def __init__(self) -> None:
        self.delivered = self.dropped = self.expired = self.discarded = self.high_water = 0

    def add(self, inbox: Inbox | InboxTotals) -> None:
        self.delivered += inbox.delivered
        self.dropped += inbox.dropped
        self.expired += inbox.expired
        self.discarded += inbox.discarded
        self.high_water = max(self.high_water, inbox.high_water)
