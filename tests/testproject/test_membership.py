"""Membership changes take effect on connections that are already open, however the change is made."""

from __future__ import annotations

import io

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction
from django.test import Client

from testproject.chat import groups
from testproject.chat.models import ChatRoom
from tests.helpers import eventually
from tests.testproject.conftest import receive, receive_any

pytestmark = pytest.mark.django_db(transaction=True)


def membership(room, member):
    return {
        "uuid": None,
        "action": "membership",
        "status": "success",
        "room": room.pk.hex,
        "title": room.title,
        "member": member,
    }


async def broadcast(layer, room, text):
    """What post_message sends, straight through the layer: works for rooms nobody may post to any more."""
    event = {"type": groups.MESSAGE_EVENT, "uuid": text, "room": room.pk.hex, "message": {"text": text}}
    await layer.group_send(groups.room_group(room.pk.hex), event)


@pytest.mark.parametrize(
    "add", [lambda room, user: room.members.add(user), lambda room, user: user.chat_rooms.add(room)]
)
async def test_a_user_added_to_a_room_receives_its_messages_on_open_connections(connect, alice, carol, room, add):
    carol_page, alice_page = await connect(carol), await connect(alice)
    await database_sync_to_async(add)(room, carol)
    assert await receive(carol_page) == membership(room, True)

    await alice_page.send_json_to({"uuid": "m1", "action": "new_message", "room": room.pk.hex, "text": "Welcome"})
    assert (await receive(carol_page))["message"]["text"] == "Welcome"


@pytest.mark.parametrize(
    "remove",
    [
        lambda room, user: room.members.remove(user),
        lambda room, user: user.chat_rooms.remove(room),
        lambda room, user: room.members.clear(),
        lambda room, user: room.members.set([u for u in room.members.all() if u != user]),
        lambda room, user: ChatRoom.objects.filter(pk=room.pk).delete(),
    ],
    ids=["remove", "reverse-remove", "clear", "set", "delete-room"],
)
async def test_a_user_removed_from_a_room_stops_receiving_its_messages(chat_layer, connect, bob, room, lobby, remove):
    bob_page, bob_phone = await connect(bob), await connect(bob)
    await database_sync_to_async(remove)(room, bob)
    for communicator in (bob_page, bob_phone):
        assert await receive(communicator) == membership(room, False)

    await broadcast(chat_layer, room, "after removal")
    await broadcast(chat_layer, lobby, "marker")
    for communicator in (bob_page, bob_phone):
        assert (await receive(communicator))["uuid"] == "marker"


async def test_clearing_a_user_s_rooms_removes_every_one(chat_layer, connect, bob, room, lobby):
    bob_page = await connect(bob)
    await database_sync_to_async(bob.chat_rooms.clear)()
    assert [await receive(bob_page), await receive(bob_page)] in (
        [membership(room, False), membership(lobby, False)],
        [membership(lobby, False), membership(room, False)],
    )

    await broadcast(chat_layer, room, "after removal")
    await broadcast(chat_layer, lobby, "after removal")
    await database_sync_to_async(room.members.add)(bob)
    assert await receive(bob_page) == membership(room, True)
    await broadcast(chat_layer, room, "marker")
    assert (await receive(bob_page))["uuid"] == "marker"


async def test_a_removed_user_can_no_longer_post_to_the_room(connect, bob, room):
    bob_page = await connect(bob)
    await database_sync_to_async(room.members.remove)(bob)
    assert (await receive(bob_page))["member"] is False
    await bob_page.send_json_to({"uuid": "m1", "action": "new_message", "room": room.pk.hex, "text": "hello?"})
    assert (await receive(bob_page))["error_message"] == "Invalid room id"


async def test_a_membership_change_that_rolls_back_is_not_announced(chat_layer, connect, carol, room, lobby):
    carol_page = await connect(carol)

    def add_then_fail():
        with pytest.raises(RuntimeError), transaction.atomic():
            room.members.add(carol)
            raise RuntimeError("rolled back")

    await database_sync_to_async(add_then_fail)()
    await broadcast(chat_layer, room, "members only")
    await broadcast(chat_layer, lobby, "marker")
    assert (await receive(carol_page))["uuid"] == "marker"


def presence(room, username, online):
    return {
        "uuid": None,
        "action": "presence",
        "status": "success",
        "room": room.pk.hex,
        "user": {"username": username},
        "online": online,
    }


async def test_a_user_added_to_a_room_comes_online_in_it_and_goes_offline_when_removed(connect, alice, carol, room):
    alice_page = await connect(alice)
    assert await receive_any(alice_page) == presence(room, "alice", True)  # her own sign-in
    carol_page = await connect(carol)  # in no room yet

    await database_sync_to_async(room.members.add)(carol)
    assert await receive_any(carol_page) == membership(room, True)
    assert await receive_any(carol_page) == presence(room, "carol", True)
    assert await receive_any(alice_page) == presence(room, "carol", True)
    await alice_page.send_json_to({"uuid": "s1", "action": "select_room", "room": room.pk.hex})
    assert (await receive_any(alice_page))["online"] == ["alice", "carol"]

    await database_sync_to_async(room.members.remove)(carol)
    assert await receive_any(carol_page) == membership(room, False)
    assert await receive_any(alice_page) == presence(room, "carol", False)
    assert await carol_page.receive_nothing(timeout=0.3)  # no longer a member: not told about the room
    await alice_page.send_json_to({"uuid": "s2", "action": "select_room", "room": room.pk.hex})
    assert (await receive_any(alice_page))["online"] == ["alice"]


async def test_members_edited_in_the_admin_take_effect_live(connect, alice, bob, carol, room):
    bob_page, carol_page = await connect(bob), await connect(carol)

    def edit_in_admin():
        client = Client()
        client.force_login(User.objects.create_superuser("admin", password=None))
        response = client.post(
            f"/admin/chat/chatroom/{room.pk}/change/",
            {"title": room.title, "members": [alice.pk, carol.pk], "_save": "Save"},
        )
        assert response.status_code == 302, response.content.decode()

    await database_sync_to_async(edit_in_admin)()
    assert await receive(carol_page) == membership(room, True)
    assert await receive(bob_page) == membership(room, False)


async def test_the_members_of_a_room_made_by_create_room_receive_its_messages(connect, alice, bob):
    alice_page, bob_page = await connect(alice), await connect(bob)
    out = io.StringIO()
    await database_sync_to_async(call_command)(
        "create_room", "Plans", "--member", "alice", "--member", "bob", stdout=out
    )
    room = await database_sync_to_async(ChatRoom.objects.get)(pk=out.getvalue().strip())
    for communicator in (alice_page, bob_page):
        assert await receive(communicator) == membership(room, True)

    await alice_page.send_json_to({"uuid": "m1", "action": "new_message", "room": room.pk.hex, "text": "Plans?"})
    for communicator in (alice_page, bob_page):
        assert (await receive(communicator))["message"]["text"] == "Plans?"


def subscribed_topics(redis_server, group):
    """Topics Redis has subscribers for whose name ends with ``{group}`` (a group topic is ``prefix:group:{name}``)."""
    with redis_server.client() as client:
        return client.pubsub_channels(f"*{{{group}}}")


async def test_leaving_a_room_or_closing_the_connection_releases_the_room_s_subscription(
    redis_server, connect, bob, room, lobby
):
    bob_page = await connect(bob)
    room_group, lobby_group = groups.room_group(room.pk.hex), groups.room_group(lobby.pk.hex)
    assert subscribed_topics(redis_server, room_group) and subscribed_topics(redis_server, lobby_group)

    await database_sync_to_async(room.members.remove)(bob)
    assert (await receive(bob_page))["member"] is False
    await eventually(lambda: not subscribed_topics(redis_server, room_group))

    await bob_page.disconnect()
    await eventually(lambda: not subscribed_topics(redis_server, lobby_group))


async def test_a_room_message_already_queued_when_the_user_leaves_is_not_shown(chat_layer, connect, bob, room, lobby):
    """The leave is handled first, the message was in the inbox already: it must not reach the ex-member.

    Stand-in for that race: both events through the user's group, whose order the layer keeps.
    """
    bob_page = await connect(bob)
    user_group = groups.user_group(bob.pk)
    await chat_layer.group_send(
        user_group, {"type": groups.MEMBERSHIP_EVENT, "room": room.pk.hex, "title": room.title, "member": False}
    )
    await chat_layer.group_send(
        user_group, {"type": groups.MESSAGE_EVENT, "uuid": "late", "room": room.pk.hex, "message": {}}
    )
    await chat_layer.group_send(
        user_group, {"type": groups.MESSAGE_EVENT, "uuid": "marker", "room": lobby.pk.hex, "message": {}}
    )
    assert await receive(bob_page) == membership(room, False)
    assert (await receive(bob_page))["uuid"] == "marker"
