"""Callers waiting for Redis to confirm a subscription, per topic."""

from __future__ import annotations

import asyncio

from ..exceptions import ChannelLayerUnavailable
from .refusals import again

__all__ = ["Confirmations"]


class Confirmations:
    """The futures of callers waiting for topics; the shard decides when a topic counts as confirmed."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiters: dict[bytes, list[asyncio.Future[None]]] = {}

    async def wait(self, topic: bytes, timeout: float, unconfirmed: str) -> None:
        """Return at ``confirm(topic)``; ChannelLayerUnavailable with ``unconfirmed`` after ``timeout`` seconds."""
        waiter = self._loop.create_future()
        waiters = self._waiters.setdefault(topic, [])
        waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            raise ChannelLayerUnavailable(f"{unconfirmed} within {timeout}s") from None
        finally:
            if waiter in waiters:
                waiters.remove(waiter)
                if not waiters and self._waiters.get(topic) is waiters:
                    del self._waiters[topic]

    def confirm(self, topic: bytes) -> None:
        """Wake every caller waiting for ``topic`` (confirmed, or no longer wanted)."""
        for waiter in self._waiters.pop(topic, ()):
            if not waiter.done():
                waiter.set_result(None)

    def fail(self, topic: bytes, error: ChannelLayerUnavailable) -> None:
        """Fail every caller waiting for ``topic`` with ``error`` (Redis refused the subscription)."""
        for waiter in self._waiters.pop(topic, ()):
            if not waiter.done():
                waiter.set_exception(again(error))

    def fail_all(self, error: ChannelLayerUnavailable) -> None:
        """Fail every waiting caller with ``error``: the shard is closing, or Redis refused its connection."""
        for topic in list(self._waiters):
            self.fail(topic, error)
