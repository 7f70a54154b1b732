"""Scrollback (``before``) and catching up (``since``) through the real ASGI stack, with ``has_more`` on every page."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from testproject.chat.models import ChatMessage
from tests.testproject.conftest import receive

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def history(room, alice, bob):
    """Writes ``count`` messages in Alice's and Bob's room; returns their ids, oldest first."""

    def write(count):
        authors = (alice, bob)
        messages = [ChatMessage(room=room, author=authors[n % 2], text=f"m{n}") for n in range(count)]
        ChatMessage.objects.bulk_create(messages)
        return list(ChatMessage.objects.filter(room=room).order_by("id").values_list("id", flat=True))

    return database_sync_to_async(write)


async def select(communicator, room, **cursor):
    await communicator.send_json_to({"uuid": "s", "action": "select_room", "room": room.pk.hex, **cursor})
    return await receive(communicator)


def page(reply):
    """The ids of a select_room reply's messages, and its has_more."""
    assert reply["status"] == "success", reply
    return [message["id"] for message in reply["room_messages"]], reply["has_more"]


def unknown(key, message_id):
    return f"Unknown message {message_id}: '{key}' must be the id of a message of this room"


@pytest.mark.parametrize(("count", "has_more"), [(0, False), (20, False), (21, True)])
async def test_the_latest_page_says_whether_older_messages_were_left_out(
    connect, alice, room, history, count, has_more
):
    ids = await history(count)
    assert page(await select(await connect(alice), room)) == (ids[-20:], has_more)


async def test_before_pages_back_20_at_a_time_oldest_first_until_the_room_s_first_message(
    connect, alice, room, history
):
    ids = await history(45)
    communicator = await connect(alice)
    assert page(await select(communicator, room)) == (ids[25:], True)
    assert page(await select(communicator, room, before=ids[25])) == (ids[5:25], True)
    assert page(await select(communicator, room, before=ids[5])) == (ids[:5], False)
    assert page(await select(communicator, room, before=ids[0])) == ([], False)


async def test_since_catches_up_100_at_a_time_oldest_first(connect, alice, room, history):
    ids = await history(230)
    communicator = await connect(alice)
    assert page(await select(communicator, room, since=ids[9])) == (ids[10:110], True)
    assert page(await select(communicator, room, since=ids[109])) == (ids[110:210], True)
    assert page(await select(communicator, room, since=ids[209])) == (ids[210:], False)
    assert page(await select(communicator, room, since=ids[-1])) == ([], False)


async def test_since_exactly_100_behind_has_nothing_more(connect, alice, room, history):
    ids = await history(101)
    assert page(await select(await connect(alice), room, since=ids[0])) == (ids[1:], False)


async def test_a_page_carries_the_messages_in_their_broadcast_shape(connect, alice, room, history):
    ids = await history(3)
    stored = await database_sync_to_async(ChatMessage.objects.get)(pk=ids[1])
    reply = await select(await connect(alice), room, since=ids[0])
    assert reply["room_messages"][0] == {
        "id": ids[1],
        "user": {"username": "bob"},
        "room": room.pk.hex,
        "timestamp": stored.created.timestamp(),
        "text": "m1",
    }


@pytest.mark.parametrize("key", ["before", "since"])
async def test_a_message_of_another_room_or_no_message_at_all_is_unknown(connect, alice, room, lobby, history, key):
    ids = await history(3)
    elsewhere = await database_sync_to_async(ChatMessage.objects.create)(room=lobby, author=alice, text="lobby")
    communicator = await connect(alice)
    for message_id in (elsewhere.pk, ids[-1] + 1000, 0, -1, 2**70):
        reply = await select(communicator, room, **{key: message_id})
        assert reply == {
            "uuid": "s",
            "action": "select_room",
            "status": "error",
            "error_message": unknown(key, message_id),
        }


@pytest.mark.parametrize("key", ["before", "since"])
async def test_a_cursor_that_is_not_an_integer_is_an_unknown_message(connect, alice, room, history, key):
    await history(3)
    reply = await select(await connect(alice), room, **{key: "1"})
    assert reply["status"] == "error"
    assert reply["error_message"] == (
        f"Unknown message: '{key}' must be the integer id of a message of this room, not a string"
    )


async def test_before_and_since_together_are_an_error(connect, alice, room, history):
    ids = await history(3)
    reply = await select(await connect(alice), room, before=ids[2], since=ids[0])
    assert reply["error_message"] == "Send 'before' (older messages) or 'since' (newer messages), not both"


async def test_a_non_member_learns_nothing_about_a_room_s_messages(connect, carol, room, history):
    ids = await history(3)
    reply = await select(await connect(carol), room, since=ids[0])
    assert reply["error_message"] == "Invalid room id"


async def test_an_error_leaves_the_connection_serving(connect, alice, room, history):
    ids = await history(3)
    communicator = await connect(alice)
    assert (await select(communicator, room, since=10**9))["status"] == "error"
    assert page(await select(communicator, room, since=ids[0])) == (ids[1:], False)
