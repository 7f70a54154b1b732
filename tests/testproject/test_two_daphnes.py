"""End to end: two daphne processes sharing one Redis and one database, real WebSocket clients on each."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid
from contextlib import AsyncExitStack
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.redis_server import RedisServer
from tests.testproject.site import ChatSite, Daphne

TIMEOUT = 5.0
TOO_FAST = "You are sending messages too fast"


async def open_socket(stack: AsyncExitStack, server: Daphne, token: str) -> ClientConnection:
    """An authenticated connection; the Origin header is what AllowedHostsOriginValidator checks."""
    socket = await stack.enter_async_context(connect(server.ws_url, origin=server.url, open_timeout=TIMEOUT))
    await socket.send(json.dumps({"uuid": "auth", "action": "authenticate", "token": token}))
    assert await next_frame(socket) == {"uuid": "auth", "action": "authenticate", "status": "success"}
    return socket


async def next_frame(socket: ClientConnection) -> dict[str, Any]:
    """The next frame but presence pushes, which come whenever a member signs in or out (test_presence.py's)."""
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))
        if frame.get("action") != "presence":
            return frame


async def send_message(socket: ClientConnection, request_uuid: str, room: str, text: str) -> None:
    await socket.send(json.dumps({"uuid": request_uuid, "action": "new_message", "room": room, "text": text}))


def post_over_http(server: Daphne, token: str, room: str, text: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{server.url}/api/rooms/{room}/messages/",
        data=json.dumps({"text": text}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        assert response.status == 201
        return json.loads(response.read())


async def test_messages_reach_every_member_connection_on_both_processes_exactly_once(chat_site: ChatSite):
    run = uuid.uuid4().hex[:8]  # the site lives for the whole session: names of this test's own
    alice, bob, carol = (f"{name}-{run}" for name in ("alice", "bob", "carol"))
    tokens = {name: chat_site.manage("issue_token", name) for name in (alice, bob, carol)}
    room = chat_site.manage("create_room", "Two processes", "--member", alice, "--member", bob)
    lobby = chat_site.manage("create_room", "Lobby", "--member", alice, "--member", bob, "--member", carol)
    a, b = chat_site.servers

    async with AsyncExitStack() as stack:
        sockets = {
            (name, server.port): await open_socket(stack, server, tokens[name])
            for name in (alice, bob, carol)
            for server in (a, b)
        }
        members = [socket for (name, _), socket in sockets.items() if name != carol]

        # Through process A: every member connection on A and B gets the message, with the sender's uuid.
        await send_message(sockets[alice, a.port], "ws-1", room, "Hello from A")
        frames = [await next_frame(socket) for socket in members]
        assert all(frame == frames[0] for frame in frames)
        assert frames[0]["uuid"] == "ws-1" and frames[0]["room"] == room
        assert frames[0]["message"]["user"] == {"username": alice} and frames[0]["message"]["text"] == "Hello from A"

        # Through the HTTP endpoint of process B: the same, with a server-made uuid.
        message = await asyncio.to_thread(post_over_http, b, tokens[bob], room, "Hello over HTTP")
        frames = [await next_frame(socket) for socket in members]
        assert all(frame == frames[0] for frame in frames)
        assert frames[0]["message"] == message and uuid.UUID(frames[0]["uuid"])

        # A marker in everyone's room is the next frame on all six connections: no duplicate ever came to a
        # member, and neither message reached Carol's connections.
        await send_message(sockets[carol, b.port], "marker", lobby, "marker")
        for socket in sockets.values():
            assert (await next_frame(socket))["uuid"] == "marker"


async def test_a_room_created_by_another_process_reaches_its_members_already_connected(chat_site: ChatSite):
    run = uuid.uuid4().hex[:8]
    alice, dave = f"alice-{run}", f"dave-{run}"
    tokens = {name: chat_site.manage("issue_token", name) for name in (alice, dave)}
    a, b = chat_site.servers

    async with AsyncExitStack() as stack:
        alice_on_a, dave_on_b = await open_socket(stack, a, tokens[alice]), await open_socket(stack, b, tokens[dave])
        # manage.py is a third process: its membership announcement crosses Redis to both daphnes.
        room = await asyncio.to_thread(chat_site.manage, "create_room", "Late", "--member", alice, "--member", dave)
        for socket in (alice_on_a, dave_on_b):
            assert await next_frame(socket) == {
                "uuid": None,
                "action": "membership",
                "status": "success",
                "room": room,
                "title": "Late",
                "member": True,
            }
        await send_message(alice_on_a, "late-1", room, "Now you are in")
        assert (await next_frame(dave_on_b))["message"]["text"] == "Now you are in"


async def test_the_default_flood_limit_holds_in_total_across_both_processes_and_the_api_answers_429(
    chat_site: ChatSite, redis_server: RedisServer
):
    run = uuid.uuid4().hex[:8]
    alice, bob = f"alice-{run}", f"bob-{run}"
    tokens = {name: chat_site.manage("issue_token", name) for name in (alice, bob)}
    room = chat_site.manage("create_room", "Flood", "--member", alice, "--member", bob)
    a, b = chat_site.servers

    async with AsyncExitStack() as stack:
        senders = [await open_socket(stack, a, tokens[alice]), await open_socket(stack, b, tokens[alice])]
        listener = await open_socket(stack, b, tokens[bob])
        # 15 posts at once, alternating between the processes: the default limit lets 10 of them through.
        sent: list[list[str]] = [[], []]
        for n in range(15):
            sent[n % 2].append(f"flood-{n}")
            await send_message(senders[n % 2], f"flood-{n}", room, f"message {n}")
        refused, posted = [], set()
        for socket, mine in zip(senders, sent, strict=True):
            answered: set[str] = set()  # each of its own posts: an error here, or a broadcast (to both senders)
            while answered != set(mine):
                frame = await next_frame(socket)
                if frame["status"] == "error":
                    refused.append(frame["error_message"])
                    answered.add(frame["uuid"])
                else:
                    posted.add(frame["uuid"])
                    answered |= {frame["uuid"]} & set(mine)
        assert len(refused) == 5 and all(message.startswith(TOO_FAST) for message in refused), refused
        assert len(posted) == 10

        # Over HTTP, on either process, the same count: 429 and when to come back.
        request = urllib.request.Request(
            f"{a.url}/api/rooms/{room}/messages/",
            data=json.dumps({"text": "and one over HTTP"}).encode(),
            headers={"Authorization": f"Token {tokens[alice]}", "Content-Type": "application/json"},
        )
        try:
            await asyncio.to_thread(urllib.request.urlopen, request, timeout=TIMEOUT)
            raise AssertionError("the API accepted a post over the limit")
        except urllib.error.HTTPError as response:
            with response:
                assert response.code == 429
                assert 1 <= int(response.headers["Retry-After"]) <= 10
                assert json.loads(response.read())["error"].startswith(TOO_FAST)

        # Bob saw exactly the 10 posted, then his own marker: nothing refused was broadcast.
        seen = [(await next_frame(listener))["uuid"] for _ in range(10)]
        assert set(seen) == posted
        await send_message(listener, "marker", room, "marker")
        assert (await next_frame(listener))["uuid"] == "marker"

    # Both processes counted in the one Redis they share (the tests' own, never 6379): 15 frames and 1 request.
    with redis_server.client() as client:
        assert b"16" in [client.get(key) for key in client.keys("*chat:rate:*:*")]
