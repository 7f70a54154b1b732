"""Flood control: CHAT_RATE_LIMIT posts per user, over WebSocket and HTTP together, counted in the Redis cache."""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
from channels.db import database_sync_to_async
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient

from testproject.chat import ratelimit
from testproject.chat.models import ChatMessage
from tests.testproject.conftest import receive

pytestmark = pytest.mark.django_db(transaction=True)

TOO_FAST = re.compile(
    r"You are sending messages too fast: at most (\d+) messages in (\d+) seconds\. Try again in (\d+) seconds?\."
)


async def post_frame(communicator, request_uuid, room, text):
    await communicator.send_json_to({"uuid": request_uuid, "action": "new_message", "room": room.pk.hex, "text": text})


async def post_http(user, room, text):
    return await AsyncClient().post(
        f"/api/rooms/{room.pk.hex}/messages/",
        json.dumps({"text": text}),
        content_type="application/json",
        headers={"Authorization": f"Token {user.api_token}"},
    )


async def texts():
    return await database_sync_to_async(lambda: list(ChatMessage.objects.values_list("text", flat=True)))()


async def test_the_post_over_the_limit_gets_an_error_saying_when_to_try_again_and_is_neither_stored_nor_sent(
    settings, connect, alice, bob, room, lobby
):
    settings.CHAT_RATE_LIMIT = (3, 60)
    alice_page, bob_page = await connect(alice), await connect(bob)
    for n in range(3):
        await post_frame(alice_page, f"m{n}", room, f"ok {n}")
        assert (await receive(bob_page))["uuid"] == f"m{n}"
        assert (await receive(alice_page))["uuid"] == f"m{n}"

    await post_frame(alice_page, "m3", room, "one too many")
    reply = await receive(alice_page)
    assert (reply["uuid"], reply["action"], reply["status"]) == ("m3", "new_message", "error")
    messages, seconds, retry_after = map(int, TOO_FAST.fullmatch(reply["error_message"]).groups())
    assert (messages, seconds) == (3, 60) and 58 <= retry_after <= 60

    await post_frame(bob_page, "marker", lobby, "marker")  # Bob has a limit of his own
    assert (await receive(bob_page))["uuid"] == "marker"  # not the refused message
    assert await texts() == ["ok 0", "ok 1", "ok 2", "marker"]


async def test_the_limit_counts_all_of_a_user_s_connections_and_the_http_api_together(settings, connect, alice, room):
    settings.CHAT_RATE_LIMIT = (4, 60)
    page, phone = await connect(alice), await connect(alice)
    for n, communicator in enumerate((page, phone, page)):
        await post_frame(communicator, f"m{n}", room, f"ok {n}")
        assert (await receive(page))["uuid"] == (await receive(phone))["uuid"] == f"m{n}"
    assert (await post_http(alice, room, "ok 3")).status_code == 201
    await receive(page), await receive(phone)

    await post_frame(phone, "m4", room, "refused")
    assert TOO_FAST.fullmatch((await receive(phone))["error_message"])
    response = await post_http(alice, room, "refused too")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert TOO_FAST.fullmatch(response.json()["error"])
    assert await texts() == ["ok 0", "ok 1", "ok 2", "ok 3"]


async def test_posting_works_again_when_the_window_is_over(settings, alice, room):
    settings.CHAT_RATE_LIMIT = (2, 1)
    assert [(await post_http(alice, room, f"ok {n}")).status_code for n in range(2)] == [201, 201]
    refused = await post_http(alice, room, "refused")
    assert (refused.status_code, refused["Retry-After"]) == (429, "1")
    deadline = time.monotonic() + 3
    while (response := await post_http(alice, room, "again")).status_code == 429:
        assert time.monotonic() < deadline, "still refused 3 s after a 1 s window"
        await asyncio.sleep(0.05)
    assert response.status_code == 201


async def test_invalid_posts_do_not_use_up_the_limit(settings, connect, alice, room):
    settings.CHAT_RATE_LIMIT = (1, 60)
    communicator = await connect(alice)
    for n in range(3):
        await post_frame(communicator, f"e{n}", room, " ")
        assert (await receive(communicator))["error_message"] == "Message text can't be empty"
    await post_frame(communicator, "m1", room, "counted")
    assert (await receive(communicator))["uuid"] == "m1"


async def test_none_turns_flood_control_off(settings, connect, alice, room):
    settings.CHAT_RATE_LIMIT = None
    communicator = await connect(alice)
    for n in range(15):
        await post_frame(communicator, f"m{n}", room, f"ok {n}")
        assert (await receive(communicator))["uuid"] == f"m{n}"


def test_the_default_is_10_messages_in_10_seconds(settings):
    del settings.CHAT_RATE_LIMIT
    assert ratelimit.configured_limit() == ratelimit.RateLimit(messages=10, seconds=10)


async def test_the_count_lives_in_the_cache_on_the_layer_s_redis_and_expires(redis_server, alice, room):
    assert (await post_http(alice, room, "counted")).status_code == 201
    with redis_server.client() as client:
        window, counter = sorted(key.decode() for key in client.keys("*chat:rate:*"))
        assert window == f":1:chat:rate:{alice.pk}" and counter.startswith(f"{window}:")
        assert client.get(counter) == b"1"
        assert 0 < client.ttl(window) <= 10 and 0 < client.ttl(counter) <= 11


@pytest.mark.parametrize("value", [(0, 10), (10, 0), (10,), (10, 10, 10), "10/10", (1.5, 10), (True, 10), 10])
def test_a_bad_setting_stops_the_project_at_startup_naming_the_setting(settings, value):
    settings.CHAT_RATE_LIMIT = value
    message = (
        "CHAT_RATE_LIMIT must be (messages, seconds), two positive integers such as (10, 10), "
        f"or None for no limit; got {value!r}"
    )
    with pytest.raises(ImproperlyConfigured) as error:
        apps.get_app_config("chat").ready()
    assert str(error.value) == message
