"""Callers waiting for Redis to confirm a subscription, per topic."""

from __future__ import annotations

import asyncio

from ..exceptions import ChannelLayerUnavailable

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

    def fail_all(self, reason: str) -> None:
        """Fail every waiting caller with ChannelLayerUnavailable(``reason``): the shard is closing."""
        waiters, self._waiters = self._waiters, {}
        for waiter in (waiter for topic_waiters in waiters.values() for waiter in topic_waiters):
            if not waiter.done():
                waiter.set_exception(ChannelLayerUnavailable(reason))
