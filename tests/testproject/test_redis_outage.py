"""The chat while its Redis is down: clear error replies, nothing half done, and everything works once it is back."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.test import Client

from testproject.chat.models import ChatMessage
from tests.helpers import eventually
from tests.testproject.conftest import receive, use_redis

pytestmark = pytest.mark.django_db(transaction=True)

UNAVAILABLE = "The chat is unavailable right now; nothing was changed, try again shortly"


@pytest.fixture(autouse=True)
async def chat_layer(private_redis, settings):
    """Overrides the shared fixture: this module kills its own Redis, and waits for it at most 0.5 s."""
    use_redis(settings, private_redis.url, command_timeout=0.5, reconnect_max_delay=0.2)
    layer = get_channel_layer()
    yield layer
    await asyncio.wait_for(layer.close(), 5)


async def new_message(communicator, request_uuid, room, text):
    await communicator.send_json_to({"uuid": request_uuid, "action": "new_message", "room": room.pk.hex, "text": text})


async def resubscribed(layer):
    """Redis is back and this process holds every subscription again (what was published before is lost)."""
    await eventually(lambda: all(shard["subscribed"] for shard in layer.stats()["shards"].values()), timeout=10)


async def test_a_message_posted_while_redis_is_down_is_refused_with_an_error_and_not_stored(
    connect, alice, bob, room, private_redis, chat_layer
):
    sender, listener = await connect(alice), await connect(bob)
    private_redis.kill()
    await new_message(sender, "m1", room, "lost?")
    assert await receive(sender) == {
        "uuid": "m1",
        "action": "new_message",
        "status": "error",
        "error_message": UNAVAILABLE,
    }
    assert not await database_sync_to_async(ChatMessage.objects.exists)()

    private_redis.start()
    await resubscribed(chat_layer)
    await new_message(sender, "m2", room, "back")
    assert (await receive(sender))["message"]["text"] == "back"
    assert (await receive(listener))["message"]["text"] == "back"  # both connections kept their groups
    texts = await database_sync_to_async(lambda: list(ChatMessage.objects.values_list("text", flat=True)))()
    assert texts == ["back"]


async def test_authenticating_while_redis_is_down_is_refused_and_can_be_retried(
    connect, alice, bob, room, private_redis, chat_layer
):
    listener = await connect()
    private_redis.kill()
    await listener.send_json_to({"uuid": "a1", "action": "authenticate", "token": bob.api_token})
    assert await receive(listener) == {
        "uuid": "a1",
        "action": "authenticate",
        "status": "error",
        "error_message": UNAVAILABLE,
    }
    assert chat_layer.stats()["members"] == 0  # signed out and in no group, not half signed in
    await listener.send_json_to({"uuid": "s1", "action": "select_room", "room": room.pk.hex})
    assert (await receive(listener))["error_message"] == "Authentication required before sending any other messages"

    private_redis.start()
    await resubscribed(chat_layer)
    await listener.send_json_to({"uuid": "a2", "action": "authenticate", "token": bob.api_token})
    assert (await receive(listener))["status"] == "success"
    sender = await connect(alice)
    await new_message(sender, "m1", room, "hello")
    assert (await receive(listener))["message"]["text"] == "hello"


async def test_select_room_while_redis_is_down_is_refused_since_nobody_can_say_who_is_online(
    connect, alice, room, private_redis
):
    page = await connect(alice)
    private_redis.kill()
    await page.send_json_to({"uuid": "s1", "action": "select_room", "room": room.pk.hex})
    assert await receive(page) == {
        "uuid": "s1",
        "action": "select_room",
        "status": "error",
        "error_message": UNAVAILABLE,
    }


async def test_a_session_connection_opened_while_redis_is_down_is_closed_to_be_retried(connect, alice, private_redis):
    client = Client()
    await database_sync_to_async(client.force_login)(alice)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    await connect()  # the process subscribes its inbox once, at its first connection; later ones need no Redis
    private_redis.kill()
    communicator = await connect(headers=[(b"cookie", cookie.encode())])
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4013}


async def test_the_api_answers_503_while_redis_is_down_and_stores_nothing(alice, room, private_redis):
    private_redis.kill()
    response = await database_sync_to_async(Client().post)(
        f"/api/rooms/{room.pk.hex}/messages/",
        data=json.dumps({"text": "lost?"}),
        content_type="application/json",
        headers={"authorization": f"Token {alice.api_token}"},
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {"error": UNAVAILABLE}
    assert not await database_sync_to_async(ChatMessage.objects.exists)()
