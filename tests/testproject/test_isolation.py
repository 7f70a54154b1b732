"""Rooms are private to their members, and the WebSocket takes no connection from another site's page.

Served for real: two daphne processes, real WebSocket and HTTP clients, the members on one process and the
outsider on the other.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from contextlib import AsyncExitStack

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.testproject.chromium import PASSWORD
from tests.testproject.site import ChatSite, Daphne
from tests.testproject.test_two_daphnes import TIMEOUT, next_frame, open_socket, post_over_http, send_message

INVALID_ROOM = "Invalid room id"
FOREIGN_ORIGINS = ["http://evil.example", "http://127.0.0.1.evil.example", "https://evil.example:443", "null"]


def request(server: Daphne, method: str, path: str, token: str, body: dict | None = None) -> tuple[int, bytes]:
    """An HTTP request with the token: its status and body, errors included."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(f"{server.url}{path}", data=data, headers=headers, method=method), timeout=TIMEOUT
        ) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


async def test_a_non_member_can_neither_read_nor_post_to_a_room_nor_receive_its_messages(chat_site: ChatSite):
    run = uuid.uuid4().hex[:8]  # the site lives for the whole session: names of this test's own
    alice, bob, carol = (f"{name}-{run}" for name in ("alice", "bob", "carol"))
    tokens = {name: chat_site.manage("issue_token", name) for name in (alice, bob, carol)}
    room = chat_site.manage("create_room", "Private", "--member", alice, "--member", bob)
    lobby = chat_site.manage("create_room", "Lobby", "--member", alice, "--member", bob, "--member", carol)
    a, b = chat_site.servers

    async with AsyncExitStack() as stack:
        alice_on_a, bob_on_a = await open_socket(stack, a, tokens[alice]), await open_socket(stack, a, tokens[bob])
        carol_on_b = await open_socket(stack, b, tokens[carol])
        await send_message(alice_on_a, "m1", room, "secret")
        message = (await next_frame(bob_on_a))["message"]
        assert (await next_frame(alice_on_a))["message"] == message

        # Reading: refused in every form, and just as for a room that does not exist.
        for n, cursor in enumerate([{}, {"before": message["id"] + 1}, {"since": message["id"] - 1}]):
            frame = {"uuid": f"s{n}", "action": "select_room", "room": room, **cursor}
            await carol_on_b.send(json.dumps(frame))
            assert await next_frame(carol_on_b) == {
                "uuid": f"s{n}",
                "action": "select_room",
                "status": "error",
                "error_message": INVALID_ROOM,
            }
        await carol_on_b.send(json.dumps({"uuid": "s-none", "action": "select_room", "room": "0" * 32}))
        assert (await next_frame(carol_on_b))["error_message"] == INVALID_ROOM

        # Posting: refused over WebSocket and HTTP (where there is no way to read a room at all).
        await send_message(carol_on_b, "p1", room, "let me in")
        assert (await next_frame(carol_on_b))["error_message"] == INVALID_ROOM
        path = f"/api/rooms/{room}/messages/"
        status, body = await asyncio.to_thread(request, b, "POST", path, tokens[carol], {"text": "let me in"})
        assert (status, json.loads(body)) == (403, {"error": INVALID_ROOM})
        assert (await asyncio.to_thread(request, b, "GET", path, tokens[carol]))[0] == 405

        # Receiving: a member's post over HTTP reaches the members; then a marker in the lobby is the next
        # frame everywhere, so Carol received nothing of the room and the members nothing of Carol's.
        posted = await asyncio.to_thread(post_over_http, b, tokens[alice], room, "secret 2")
        for socket in (alice_on_a, bob_on_a):
            assert (await next_frame(socket))["message"] == posted
        await send_message(bob_on_a, "marker", lobby, "marker")
        for socket in (alice_on_a, bob_on_a, carol_on_b):
            assert (await next_frame(socket))["uuid"] == "marker"


@pytest.mark.parametrize("origin", [*FOREIGN_ORIGINS, None], ids=[*FOREIGN_ORIGINS, "no-origin"])
async def test_the_websocket_refuses_a_handshake_from_another_site(chat_site: ChatSite, origin: str | None):
    server = chat_site.servers[0]
    with pytest.raises(InvalidStatus) as refused:
        async with connect(server.ws_url, origin=origin, open_timeout=TIMEOUT):
            pass
    assert refused.value.response.status_code == 403


def session_cookie(server: Daphne, username: str) -> str:
    """Log in through the page's form, as a browser does; the Cookie header the browser would then send."""
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with browser.open(f"{server.url}/", timeout=TIMEOUT) as page:
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode()).group(1)
    form = {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": csrf}
    with browser.open(f"{server.url}/", urllib.parse.urlencode(form).encode(), timeout=TIMEOUT) as page:
        assert "logout" in page.read().decode()  # the chat page, not the form again
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


async def test_a_logged_in_visitor_s_cookie_opens_the_socket_from_the_page_s_origin_only(
    chat_site: ChatSite, demo: dict[str, str]
):
    # A page on another site would send the visitor's cookie with its own Origin (cross-site WebSocket hijacking).
    server = chat_site.servers[1]
    cookie = [("Cookie", await asyncio.to_thread(session_cookie, server, "alice"))]
    for origin in FOREIGN_ORIGINS:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(server.ws_url, origin=origin, additional_headers=cookie, open_timeout=TIMEOUT):
                pass
        assert refused.value.response.status_code == 403

    # The page's own origin, or another host name in ALLOWED_HOSTS (the demo's http://localhost:8001).
    for origin in (server.url, f"http://localhost:{server.port}"):
        async with connect(server.ws_url, origin=origin, additional_headers=cookie, open_timeout=TIMEOUT) as socket:
            await socket.send(json.dumps({"uuid": "s1", "action": "select_room", "room": demo["General"]}))
            assert (await next_frame(socket))["status"] == "success"
