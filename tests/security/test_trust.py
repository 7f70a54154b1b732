"""What the layer trusts: whatever can publish on its topics injects messages, unless the bodies are encrypted."""

from __future__ import annotations

import asyncio
import time

import pytest

from channels_fanout import envelope
from channels_fanout.naming import Names
from channels_fanout.serializers import Serializer
from tests.helpers import eventually, receive


def forged_group_message(redis_server, group: str, message: dict) -> None:
    """PUBLISH a well-formed frame on the group's topic, as any client with PUBLISH rights on it can."""
    body = Serializer("msgpack", ()).dumps(message)
    with redis_server.client() as client:
        client.publish(Names("asgi").group_topic(group), envelope.pack(envelope.GROUP, time.time() + 60, body))


async def test_anything_that_can_publish_on_the_prefix_injects_messages(make_layer, redis_server):
    layer = make_layer(stats_interval=0)
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    forged_group_message(redis_server, "room", {"type": "chat.message", "text": "forged"})
    assert await receive(layer, channel) == {"type": "chat.message", "text": "forged"}


async def test_with_encrypted_bodies_a_forged_message_is_dropped_and_counted(make_layer, redis_server):
    layer = make_layer(stats_interval=0, symmetric_encryption_keys=["the-deployment-key"])
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    forged_group_message(redis_server, "room", {"type": "chat.message", "text": "forged"})
    await eventually(lambda: layer.stats()["messages"]["dropped"]["undecodable"] == 1)
    with pytest.raises(asyncio.TimeoutError):
        await receive(layer, channel, timeout=0.3)
