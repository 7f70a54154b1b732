"""Who is online, end to end: daphne processes sharing one Redis and one database, real WebSocket clients on each."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from channels_fanout.naming import Names
from testproject.chat import groups, presence
from tests.helpers import eventually
from tests.redis_server import RedisServer
from tests.testproject import presence_settings
from tests.testproject.site import ChatSite, Daphne

TIMEOUT = 5.0
PUSH_BOUND = 2.0  # a presence push follows a sign-in or a clean close within this (issue 17)
# A daphne killed without a word: its users go offline within presence_timeout plus a third of it (the layer's
# bound, README "Presence"), plus a round trip and the WebSocket's delivery.
KILL_BOUND = presence_settings.PRESENCE_TIMEOUT * 4 / 3
DELIVERY = 0.5


# One manage.py process for all of a test's users and rooms (each start of Django costs over half a second).
CREATE = """
import io, json
from django.core.management import call_command

def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()

def create(users, rooms):
    tokens = {name: run("issue_token", name) for name in users}
    print(json.dumps([tokens, {title: run("create_room", title, *members) for title, members in rooms.items()}]))
"""


def named(*names: str) -> list[str]:
    """Usernames of this test's own: the site lives for the whole session."""
    run = uuid.uuid4().hex[:8]
    return [f"{name}-{run}" for name in names]


def create(site: ChatSite, users: list[str], rooms: dict[str, list[str]]) -> tuple[dict[str, str], dict[str, str]]:
    """The users' API tokens and the rooms' ids (by title), made with the commands a person would use."""
    members = {title: [f"--member={name}" for name in names] for title, names in rooms.items()}
    code = f"{CREATE}\ncreate({users!r}, {members!r})"
    tokens, ids = json.loads(site.manage("shell", "--verbosity", "0", "-c", code))
    return tokens, ids


async def open_socket(stack: AsyncExitStack, server: Daphne, token: str) -> ClientConnection:
    """A connection signed in by ``token``; the first frame must be the reply (a push comes only after it)."""
    socket = await stack.enter_async_context(connect(server.ws_url, origin=server.url, open_timeout=TIMEOUT))
    await socket.send(json.dumps({"uuid": "auth", "action": "authenticate", "token": token}))
    assert await next_frame(socket) == {"uuid": "auth", "action": "authenticate", "status": "success"}
    return socket


async def next_frame(socket: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(socket.recv(), timeout))


async def frames_until(socket: ClientConnection, request_uuid: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The frames before the one with ``request_uuid``, and that one."""
    before = []
    while (frame := await next_frame(socket))["uuid"] != request_uuid:
        before.append(frame)
    return before, frame


async def post(socket: ClientConnection, room: str, request_uuid: str) -> None:
    await socket.send(json.dumps({"uuid": request_uuid, "action": "new_message", "room": room, "text": request_uuid}))


async def settle(sender: ClientConnection, room: str, listeners: list[ClientConnection]) -> None:
    """Read each listener up to a marker posted now in ``room``: what earlier sign-ins pushed is behind them."""
    marker = uuid.uuid4().hex
    await post(sender, room, marker)
    for socket in listeners:
        await frames_until(socket, marker)


async def assert_next_is_marker(sender: ClientConnection, room: str, listeners: list[ClientConnection]) -> None:
    """Nothing came before a marker posted now: no push twice, none that should not have come."""
    marker = uuid.uuid4().hex
    await post(sender, room, marker)
    for socket in listeners:
        assert (await next_frame(socket))["uuid"] == marker


def push(room: str, username: str, online: bool) -> dict[str, Any]:
    return {
        "uuid": None,
        "action": "presence",
        "status": "success",
        "room": room,
        "user": {"username": username},
        "online": online,
    }


def tracked_channels(redis_server: RedisServer, room: str) -> int:
    """The channels Redis holds in the room's presence (README "Presence": the group's entries hash)."""
    with redis_server.client() as client:
        return int(client.hlen(Names("asgi").group_key("presence", groups.room_group(room))))


def test_a_presence_event_becomes_one_change_per_user():
    event = {
        "type": groups.PRESENCE_EVENT,
        "group": groups.room_group("ab12"),
        "joins": {"7": {"metas": [{"username": "alice"}, {"username": "alice"}]}},
        "leaves": {"8": {"metas": [{"username": "bob"}]}, "9": {"metas": [{"username": "carol"}]}},
    }
    assert list(presence.changes(event)) == [("ab12", "alice", True), ("ab12", "bob", False), ("ab12", "carol", False)]
    assert list(presence.changes({**event, "group": groups.user_group(7)})) == []


async def test_select_room_lists_the_members_online_in_any_process_sorted(chat_site: ChatSite):
    zoe, adam, mia, olga = named("zoe", "adam", "mia", "olga")
    tokens, rooms = create(chat_site, [zoe, adam, mia, olga], {"Who is here": [zoe, adam, mia]})
    room = rooms["Who is here"]
    a, b = chat_site.servers

    async with AsyncExitStack() as stack:
        zoe_on_a = await open_socket(stack, a, tokens[zoe])
        for server in (b, a):  # Adam twice, in both processes: listed once
            await open_socket(stack, server, tokens[adam])
        await open_socket(stack, b, tokens[olga])  # online, but not a member; Mia is a member, but not online
        await zoe_on_a.send(json.dumps({"uuid": "s1", "action": "select_room", "room": room}))
        _, reply = await frames_until(zoe_on_a, "s1")
        assert reply["status"] == "success" and reply["online"] == [adam, zoe]


async def test_members_connections_are_told_when_a_user_signs_in_and_when_their_connection_closes(
    chat_site: ChatSite,
):
    alice, bob, carol, dave = named("alice", "bob", "carol", "dave")
    tokens, rooms = create(chat_site, [alice, bob, carol, dave], {"Here": [alice, bob, carol], "There": [bob, dave]})
    room, elsewhere = rooms["Here"], rooms["There"]
    a, b = chat_site.servers

    async with AsyncExitStack() as stack:
        bob_on_a, bob_on_b = await open_socket(stack, a, tokens[bob]), await open_socket(stack, b, tokens[bob])
        carol_on_b, dave_on_a = await open_socket(stack, b, tokens[carol]), await open_socket(stack, a, tokens[dave])
        await settle(bob_on_a, elsewhere, [dave_on_a])
        await settle(bob_on_a, room, [bob_on_a, bob_on_b, carol_on_b])  # after Bob's marker in the other room
        members = [bob_on_a, bob_on_b, carol_on_b]

        started = time.monotonic()
        alice_on_a = await open_socket(stack, a, tokens[alice])
        for socket in [*members, alice_on_a]:  # every connection of every member, hers included
            assert await next_frame(socket, PUSH_BOUND) == push(room, alice, True)
        assert time.monotonic() - started < PUSH_BOUND

        await alice_on_a.close()
        closed = time.monotonic()
        for socket in members:
            assert await next_frame(socket, PUSH_BOUND) == push(room, alice, False)
        assert time.monotonic() - closed < PUSH_BOUND

        await assert_next_is_marker(bob_on_a, room, members)  # each change came once
        await assert_next_is_marker(bob_on_a, elsewhere, [dave_on_a])  # and never to a non-member


async def test_a_user_with_two_connections_goes_offline_once_when_both_have_closed(
    chat_site: ChatSite, redis_server: RedisServer
):
    alice, bob = named("alice", "bob")
    tokens, rooms = create(chat_site, [alice, bob], {"Two tabs": [alice, bob]})
    room = rooms["Two tabs"]
    a, b = chat_site.servers

    async with AsyncExitStack() as stack:
        bob_on_a = await open_socket(stack, a, tokens[bob])
        await settle(bob_on_a, room, [bob_on_a])
        alice_on_a = await open_socket(stack, a, tokens[alice])
        assert await next_frame(bob_on_a, PUSH_BOUND) == push(room, alice, True)
        alice_on_b = await open_socket(stack, b, tokens[alice])  # tracked when the reply comes
        await assert_next_is_marker(bob_on_a, room, [bob_on_a])  # already online: nothing

        await alice_on_a.close()
        await eventually(lambda: tracked_channels(redis_server, room) == 2)  # Bob's and Alice's other one
        await assert_next_is_marker(bob_on_a, room, [bob_on_a])  # still online: nothing

        await alice_on_b.close()
        assert await next_frame(bob_on_a, PUSH_BOUND) == push(room, alice, False)
        await assert_next_is_marker(bob_on_a, room, [bob_on_a])


async def test_the_users_of_a_daphne_killed_without_a_word_go_offline_within_the_bound(
    private_redis: RedisServer, tmp_path: Path
):
    site = ChatSite(tmp_path, private_redis.url, processes=2, settings="tests.testproject.presence_settings")
    site.start()
    try:
        alice, bob = "alice", "bob"
        tokens, rooms = create(site, [alice, bob], {"Crash": [alice, bob]})
        room = rooms["Crash"]
        a, b = site.servers
        async with AsyncExitStack() as stack:
            bob_on_b = await open_socket(stack, b, tokens[bob])
            await settle(bob_on_b, room, [bob_on_b])
            await open_socket(stack, a, tokens[alice])
            assert await next_frame(bob_on_b, PUSH_BOUND) == push(room, alice, True)

            a.kill()
            killed = time.monotonic()
            assert await next_frame(bob_on_b, KILL_BOUND + DELIVERY) == push(room, alice, False)
            took = time.monotonic() - killed
            assert took < KILL_BOUND + DELIVERY, took

            await assert_next_is_marker(bob_on_b, room, [bob_on_b])  # once, from the one survivor's reaping
            await bob_on_b.send(json.dumps({"uuid": "s1", "action": "select_room", "room": room}))
            assert (await next_frame(bob_on_b))["online"] == [bob]
    finally:
        site.stop()
