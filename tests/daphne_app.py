"""A bare ASGI app for daphne: each WebSocket joins group "g" and receives its messages.

It needs no Django project, so the daphne tests of the layer stand apart from the testproject.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from channels_fanout import FanoutChannelLayer

logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")

layer = FanoutChannelLayer(hosts=[os.environ["REDIS_URL"]])


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await send({"type": "websocket.accept"})
    client = asyncio.create_task(receive())
    try:
        while True:
            from_layer = asyncio.create_task(layer.receive(channel))
            done, _ = await asyncio.wait({client, from_layer}, return_when=asyncio.FIRST_COMPLETED)
            if client in done:
                from_layer.cancel()
                return
            await send({"type": "websocket.send", "text": from_layer.result()["text"]})
    finally:
        client.cancel()
        await layer.group_discard("g", channel)
