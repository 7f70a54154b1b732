"""The hub against a Redis that refuses connections."""

from __future__ import annotations

import asyncio

from channels_fanout import ChannelLayerUnavailable, FanoutChannelLayer
from tests.redis_server import free_port


async def test_close_during_an_outage_never_hangs():
    # Python 3.11's wait_for swallowed a cancellation arriving just as connect() failed, so the
    # reconnecting supervisor outlived close(); it took a few dozen tries to hit.
    url = f"redis://127.0.0.1:{free_port()}/0"
    for attempt in range(60):
        layer = FanoutChannelLayer(hosts=[url], stats_interval=0, command_timeout=0.05, reconnect_max_delay=0.01)
        try:
            await asyncio.wait_for(layer.new_channel(), 0.05)
        except (ChannelLayerUnavailable, asyncio.TimeoutError):
            pass
        await asyncio.sleep(0.001 * (attempt % 7))  # land the close at different points of the backoff
        await asyncio.wait_for(layer.close(), 2)
