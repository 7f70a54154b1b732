"""Normal (non-``!``) channels: one Redis list per channel, so each message reaches exactly one receiver.

Pub/sub cannot do this: it copies a message to every subscriber and keeps nothing for a receiver
that is not listening yet. A list waits up to ``expiry`` and BLPOP hands each item to one caller.
A process pops only while one of its receivers waits, so a message never sits in the wrong process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from channels.exceptions import ChannelFull

from .. import envelope
from ..exceptions import ChannelLayerRefused, ChannelLayerUnavailable
from ..naming import Names
from ..transport.shard import Shard
from .fanout import Fanout
from .inbox import Inbox

__all__ = ["WorkerChannels"]

logger = logging.getLogger(__name__)

# Server-side BLPOP timeout: how often an idle reader re-checks that a receiver still waits.
POP_TIMEOUT = 1.0
RETRY_DELAY = 0.5


class WorkerChannels:
    """Pushes to and reads from the Redis lists behind normal channels, for one event loop."""

    def __init__(
        self,
        names: Names,
        fanout: Fanout,
        hub_for: Callable[[bytes], Shard],
        capacity_of: Callable[[str], int],
        expiry: float,
    ) -> None:
        self._names = names
        self._fanout = fanout
        self._hub_for = hub_for
        self._capacity_of = capacity_of
        self._expiry = expiry
        self._readers: dict[str, asyncio.Task[None]] = {}

    async def push(self, channel: str, frame: bytes) -> None:
        """Append ``frame`` to the channel's list; ChannelFull if it holds ``capacity`` messages."""
        key = self._names.queue_key(channel)
        hub = self._hub_for(key.encode())
        capacity = self._capacity_of(channel)
        # The list outlives its newest message's expiry by a second: receivers drop expired messages themselves.
        if not await hub.push(key, frame, capacity, self._expiry + 1):
            raise ChannelFull(f"Channel {channel!r} is full ({capacity} messages waiting)")

    def open(self, channel: str) -> Inbox:
        """The local inbox of ``channel``, with a reader that fills it from Redis on demand."""
        inbox = self._fanout.open_inbox(channel)
        if channel not in self._readers:
            demand = asyncio.Event()
            inbox.on_wait = demand.set
            self._readers[channel] = asyncio.get_running_loop().create_task(
                self._read(channel, inbox, demand), name=f"channels_fanout queue reader {channel}"
            )
        return inbox

    def forget(self, channel: str) -> None:
        reader = self._readers.pop(channel, None)
        if reader is not None:
            reader.cancel()

    async def close(self) -> None:
        readers = list(self._readers.values())
        self._readers.clear()
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)

    async def _read(self, channel: str, inbox: Inbox, demand: asyncio.Event) -> None:
        key = self._names.queue_key(channel)
        hub = self._hub_for(key.encode())
        failures = 0
        while True:
            if not inbox.waiting or len(inbox):
                demand.clear()
                await demand.wait()
                continue
            try:
                data = await hub.pop(key, POP_TIMEOUT)
            except ChannelLayerRefused as exc:
                # Not retried here, where nobody would see it: the receivers waiting now raise it, and
                # the next receive() tries again.
                inbox.fail_waiting(exc)
                continue
            except ChannelLayerUnavailable as exc:
                # Every RETRY_DELAY for as long as Redis is down: the first failure and every 20th carry the count.
                if failures % 20 == 0:
                    logger.warning(
                        "Reading worker channel %s failed (%s); retrying, %d failures in a row",
                        channel, exc, failures + 1,
                    )
                failures += 1
                await asyncio.sleep(RETRY_DELAY)
                continue
            failures = 0
            if data is not None:
                self._deliver(channel, data)

    def _deliver(self, channel: str, data: bytes) -> None:
        try:
            kind, target, expires_at, body = envelope.unpack(data)
            if kind != envelope.MESSAGE or target != channel:
                raise ValueError("not a message frame for this channel")
            self._fanout.deliver_message(channel, expires_at, body)  # counts it, and drops it if expired
        except (ValueError, TypeError) as exc:
            self._fanout.note_undecodable(self._names.queue_key(channel).encode(), exc)
