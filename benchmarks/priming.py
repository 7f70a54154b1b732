"""Start the clock only once subscriptions are live: probes flow until every receiving channel saw one.

Layers differ in when a subscription takes effect (channels_redis pubsub sends SUBSCRIBE without
waiting for Redis to confirm it), so instead of trusting any of them the sender probes and each
receiver says when all of its channels heard a probe. A short settle lets stray probes land
before the measured messages start.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from .processes import Control, Worker, expect_all

__all__ = ["prime", "probe_until_quiet"]

PROBE_INTERVAL = 0.05
SETTLE = 0.3


async def probe_until_quiet(control: Control, send_probes: Callable[[], Awaitable[None]]) -> None:
    """Sender side: on "probe", call ``send_probes`` every interval until "quiet"."""
    await control.expect("probe")
    stop = asyncio.Event()

    async def keep_probing() -> None:
        while not stop.is_set():
            await send_probes()
            try:
                await asyncio.wait_for(stop.wait(), PROBE_INTERVAL)
            except asyncio.TimeoutError:
                pass

    task = asyncio.create_task(keep_probing())
    await control.expect("quiet")
    stop.set()
    await task
    await control.send("quiet")


def prime(senders: Sequence[Worker], receivers: Sequence[Worker], timeout: float) -> None:
    """Runner side: receivers have sent "joined"; returns once every receiver is "primed"."""
    for sender in senders:
        sender.send("probe")
    expect_all(receivers, "primed", timeout)
    for sender in senders:
        sender.send("quiet")
    expect_all(senders, "quiet", timeout)
    time.sleep(SETTLE)
