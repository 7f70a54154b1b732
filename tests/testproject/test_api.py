"""``POST /api/rooms/<room>/messages/``: stores and broadcasts exactly like ``new_message``, from sync Django code."""

from __future__ import annotations

import json
import uuid

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient

from testproject.chat.models import ChatMessage
from tests.testproject.conftest import receive

pytestmark = pytest.mark.django_db(transaction=True)


async def post(room_id, body, token=None, scheme="Token"):
    headers = {"Authorization": f"{scheme} {token}"} if token else {}
    data = body if isinstance(body, str) else json.dumps(body)
    return await AsyncClient().post(
        f"/api/rooms/{room_id}/messages/", data, content_type="application/json", headers=headers
    )


async def test_a_posted_message_is_stored_and_reaches_every_member_connection(connect, alice, bob, carol, room, lobby):
    alice_page, bob_page, carol_page = await connect(alice), await connect(bob), await connect(carol)
    response = await post(room.pk.hex, {"text": "From a script"}, token=bob.api_token)

    assert response.status_code == 201
    stored = await database_sync_to_async(ChatMessage.objects.select_related("author").get)()
    assert (stored.author, stored.room_id, stored.text) == (bob, room.pk, "From a script")
    message = response.json()
    assert message == {
        "id": stored.pk,
        "user": {"username": "bob"},
        "room": room.pk.hex,
        "timestamp": stored.created.timestamp(),
        "text": "From a script",
    }
    frames = [await receive(alice_page), await receive(bob_page)]
    assert frames[0] == frames[1]
    assert frames[0] == {
        **frames[0],
        "action": "new_message",
        "status": "success",
        "room": room.pk.hex,
        "message": message,
    }
    assert uuid.UUID(frames[0]["uuid"])  # a server-made uuid, as no client asked

    await post(lobby.pk.hex, {"text": "marker"}, token=bob.api_token)
    assert (await receive(carol_page))["message"]["text"] == "marker"


@pytest.mark.parametrize(
    ("token", "scheme"), [(None, "Token"), ("0" * 40, "Token"), ("ALICE", "Bearer")], ids=["none", "unknown", "scheme"]
)
async def test_a_request_without_a_valid_token_is_401(alice, room, token, scheme):
    response = await post(
        room.pk.hex, {"text": "hi"}, token=alice.api_token if token == "ALICE" else token, scheme=scheme
    )
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == {"error": "Send a valid API token: 'Authorization: Token <key>'"}


@pytest.mark.parametrize(
    ("room_id", "body", "status", "message"),
    [
        ("CAROL_NOT_MEMBER", {"text": "hi"}, 403, "Invalid room id"),
        ("0" * 32, {"text": "hi"}, 404, "Invalid room id"),
        ("not-a-room", {"text": "hi"}, 404, "Invalid room id"),
        ("ROOM", "{not json", 400, 'The body must be a JSON object with the key "text"'),
        ("ROOM", ["hi"], 400, 'The body must be a JSON object with the key "text"'),
        ("ROOM", {"message": "hi"}, 400, 'The body must be a JSON object with the key "text"'),
        ("ROOM", {"text": "   "}, 400, "Message text can't be empty"),
        ("ROOM", {"text": "x" * 4001}, 400, "Message text can't be longer than 4000 characters (4001 given)"),
    ],
    ids=["not-member", "unknown-room", "malformed-room", "not-json", "not-object", "no-text", "empty", "too-long"],
)
async def test_a_refused_post_stores_nothing_and_says_why(alice, carol, room, room_id, body, status, message):
    user = carol if room_id == "CAROL_NOT_MEMBER" else alice
    room_id = room.pk.hex if room_id in {"ROOM", "CAROL_NOT_MEMBER"} else room_id
    response = await post(room_id, body, token=user.api_token)
    assert (response.status_code, response.json()) == (status, {"error": message})
    assert not await database_sync_to_async(ChatMessage.objects.exists)()


async def test_only_post_is_allowed(alice, room):
    response = await AsyncClient().get(
        f"/api/rooms/{room.pk.hex}/messages/", headers={"Authorization": f"Token {alice.api_token}"}
    )
    assert response.status_code == 405
