"""Every case of the WebSocket protocol through the real ASGI stack, on FanoutChannelLayer and a private Redis."""

from __future__ import annotations

import time

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import Client

from testproject.chat.models import ChatMessage
from tests.testproject.conftest import receive

pytestmark = pytest.mark.django_db(transaction=True)

NO_SUCH_ROOM = "0" * 32


def error(request_uuid, action, message):
    return {"uuid": request_uuid, "action": action, "status": "error", "error_message": message}


async def send(communicator, request_uuid, action, **fields):
    await communicator.send_json_to({"uuid": request_uuid, "action": action, **fields})


async def test_a_valid_token_authenticates(connect, alice):
    communicator = await connect()
    await send(communicator, "a1", "authenticate", token=alice.api_token)
    assert await receive(communicator) == {"uuid": "a1", "action": "authenticate", "status": "success"}


@pytest.mark.parametrize("token", ["0" * 40, "", 12345, None])
async def test_an_invalid_token_is_refused(connect, alice, token):
    communicator = await connect()
    await send(communicator, "a1", "authenticate", token=token)
    assert await receive(communicator) == error("a1", "authenticate", "Invalid authentication token")
    await send(communicator, "a2", "select_room", room="whatever")
    assert await receive(communicator) == error(
        "a2", "select_room", "Authentication required before sending any other messages"
    )


async def test_an_inactive_user_s_token_is_refused(connect, alice):
    alice.is_active = False
    await database_sync_to_async(alice.save)()
    communicator = await connect()
    await send(communicator, "a1", "authenticate", token=alice.api_token)
    assert await receive(communicator) == error("a1", "authenticate", "Invalid authentication token")


async def test_a_token_of_another_user_cannot_switch_an_authenticated_connection(connect, alice, bob):
    communicator = await connect(alice)
    await send(communicator, "a2", "authenticate", token=alice.api_token)
    assert (await receive(communicator))["status"] == "success"
    await send(communicator, "a3", "authenticate", token=bob.api_token)
    assert await receive(communicator) == error(
        "a3", "authenticate", "This connection is authenticated as another user; open a new connection to switch"
    )


@pytest.mark.parametrize(
    ("action", "fields"), [("select_room", {"room": "x"}), ("new_message", {"room": "x", "text": "hi"})]
)
async def test_other_actions_before_authentication_are_refused(connect, room, action, fields):
    communicator = await connect()
    await send(communicator, "u1", action, **fields)
    assert await receive(communicator) == error(
        "u1", action, "Authentication required before sending any other messages"
    )
    assert not await database_sync_to_async(ChatMessage.objects.exists)()


async def test_the_page_s_session_authenticates_the_connection(connect, alice, room):
    client = Client()
    await database_sync_to_async(client.force_login)(alice)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    communicator = await connect(headers=[(b"cookie", cookie.encode())])
    await send(communicator, "s1", "select_room", room=room.pk.hex)
    assert await receive(communicator) == {
        "uuid": "s1",
        "action": "select_room",
        "status": "success",
        "room": room.pk.hex,
        "room_messages": [],
        "has_more": False,
        "online": ["alice"],  # signed in by the session: online in her rooms
    }


async def test_select_room_returns_the_latest_20_messages_oldest_first(connect, alice, bob, room):
    def write_history():
        return [ChatMessage.objects.create(room=room, author=(alice, bob)[n % 2], text=f"m{n}").pk for n in range(25)]

    ids = await database_sync_to_async(write_history)()
    communicator = await connect(alice)
    await send(communicator, "s1", "select_room", room=str(room.pk))  # the hyphenated form names the room too
    reply = await receive(communicator)
    assert reply["status"] == "success" and reply["room"] == room.pk.hex
    assert [message["id"] for message in reply["room_messages"]] == ids[5:]
    last = reply["room_messages"][-1]
    assert last == {
        "id": ids[-1],
        "user": {"username": "alice"},
        "room": room.pk.hex,
        "timestamp": pytest.approx(time.time(), abs=60),
        "text": "m24",
    }
    assert isinstance(last["timestamp"], float)


@pytest.mark.parametrize("room_id", ["not-a-uuid", NO_SUCH_ROOM, 42, None, "carols"])
async def test_select_room_of_an_unknown_room_or_one_the_user_is_not_in_is_invalid(connect, carol, room, room_id):
    communicator = await connect(carol)
    await send(communicator, "s1", "select_room", room=room.pk.hex if room_id == "carols" else room_id)
    assert await receive(communicator) == error("s1", "select_room", "Invalid room id")


async def test_a_new_message_reaches_every_connection_of_every_member_once_and_no_one_else(
    connect, alice, bob, carol, room, lobby
):
    alice_page, alice_phone, bob_page, carol_page = [await connect(user) for user in (alice, alice, bob, carol)]
    await send(bob_page, "s1", "select_room", room=room.pk.hex)  # selected or not, every member connection gets it
    await receive(bob_page)

    await send(alice_page, "m1", "new_message", room=room.pk.hex, text="Hello, Bob")
    first = await receive(alice_page)
    stored = await database_sync_to_async(ChatMessage.objects.get)(text="Hello, Bob")
    expected = {
        "uuid": "m1",
        "action": "new_message",
        "status": "success",
        "room": room.pk.hex,
        "message": {
            "id": stored.pk,
            "user": {"username": "alice"},
            "room": room.pk.hex,
            "timestamp": stored.created.timestamp(),
            "text": "Hello, Bob",
        },
    }
    assert first == expected
    for communicator in (alice_phone, bob_page):
        assert await receive(communicator) == expected

    # A marker in everyone's room: the next frame everywhere is the marker, so nobody got "m1" twice and Carol never.
    await send(bob_page, "m2", "new_message", room=lobby.pk.hex, text="marker")
    for communicator in (alice_page, alice_phone, bob_page, carol_page):
        assert (await receive(communicator))["uuid"] == "m2"
    for communicator in (alice_page, alice_phone, bob_page, carol_page):
        assert await communicator.receive_nothing(timeout=0.2)


async def test_a_broadcast_reaches_members_without_a_thread_hop_per_member_but_frames_keep_it(
    connect, alice, bob, room, monkeypatch
):
    import channels.consumer

    hops = []
    original = channels.consumer.aclose_old_connections

    async def counted():
        hops.append(1)
        await original()

    alice_page, bob_page = await connect(alice), await connect(bob)
    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    await send(alice_page, "m1", "new_message", room=room.pk.hex, text="Hello")
    assert (await receive(alice_page))["uuid"] == (await receive(bob_page))["uuid"] == "m1"

    assert len(hops) == 1  # the frame from Alice, not the broadcast to her and Bob


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"room": "nope", "text": "hi"}, "Invalid room id"),
        ({"room": NO_SUCH_ROOM, "text": "hi"}, "Invalid room id"),
        ({"room": "LOBBY", "text": ""}, "Message text can't be empty"),
        ({"room": "LOBBY", "text": " \n\t "}, "Message text can't be empty"),
        ({"room": "LOBBY", "text": "x" * 4001}, "Message text can't be longer than 4000 characters (4001 given)"),
        ({"room": "LOBBY", "text": 5}, "Message text must be a string"),
    ],
)
async def test_new_message_errors_go_to_the_sender_only(connect, alice, bob, lobby, fields, message):
    fields = {**fields, "room": lobby.pk.hex if fields["room"] == "LOBBY" else fields["room"]}
    alice_page, bob_page = await connect(alice), await connect(bob)
    await send(alice_page, "e1", "new_message", **fields)
    assert await receive(alice_page) == error("e1", "new_message", message)
    await send(alice_page, "m2", "new_message", room=lobby.pk.hex, text="marker")
    assert (await receive(bob_page))["uuid"] == "m2"
    assert not await database_sync_to_async(ChatMessage.objects.exclude(text="marker").exists)()


async def test_a_non_member_cannot_post_to_a_room(connect, carol, room):
    communicator = await connect(carol)
    await send(communicator, "e1", "new_message", room=room.pk.hex, text="let me in")
    assert await receive(communicator) == error("e1", "new_message", "Invalid room id")


async def test_a_message_of_exactly_4000_characters_is_accepted(connect, alice, room):
    communicator = await connect(alice)
    await send(communicator, "m1", "new_message", room=room.pk.hex, text="x" * 4000)
    assert (await receive(communicator))["message"]["text"] == "x" * 4000


@pytest.mark.parametrize(
    ("frame", "missing"),
    [({"action": "authenticate", "token": "t"}, "'uuid'"), ({"uuid": "1"}, "'action'"), ({}, "'uuid', 'action'")],
)
async def test_a_frame_missing_uuid_or_action_gets_an_error_naming_the_required_keys(connect, frame, missing):
    communicator = await connect()
    await communicator.send_json_to(frame)
    reply = await receive(communicator)
    assert reply["status"] == "error" and reply["uuid"] == frame.get("uuid")
    assert reply["error_message"] == f"Every message needs the keys 'uuid' and 'action'; missing: {missing}"


async def test_an_unknown_action_gets_an_error_listing_the_allowed_actions(connect, alice):
    communicator = await connect(alice)
    await send(communicator, "x1", "delete_room", room="r")
    assert await receive(communicator) == error(
        "x1",
        "delete_room",
        "Unknown action 'delete_room'; allowed actions: 'authenticate', 'select_room', 'new_message'",
    )


@pytest.mark.parametrize(
    ("text", "binary", "problem"),
    [
        ("{not json", None, "The frame is not valid JSON"),
        ("[1, 2]", None, "The frame must be a JSON object, not an array"),
        ('"authenticate"', None, "The frame must be a JSON object, not a string"),
        (None, b'{"uuid": "1"}', "Binary frames are not supported"),
    ],
)
async def test_a_frame_that_is_not_a_json_object_gets_an_error_then_close_4003_and_spares_other_connections(
    connect, alice, lobby, text, binary, problem
):
    offender, bystander = await connect(alice), await connect(alice)
    await offender.send_to(text_data=text, bytes_data=binary)
    reply = await receive(offender)
    assert reply["uuid"] is None and reply["status"] == "error"
    assert reply["error_message"].startswith(problem)
    assert await offender.receive_output(timeout=2) == {"type": "websocket.close", "code": 4003}

    await send(bystander, "m1", "new_message", room=lobby.pk.hex, text="still here")
    assert (await receive(bystander))["message"]["text"] == "still here"
