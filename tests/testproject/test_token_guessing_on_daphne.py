"""Guessing tokens, served by daphne: the address limit holds across processes, what the address is, close 4429.

Real clients, each from an address of its own on the loopback network (127.0.0.0/8), as daphne sees them.
No database mark: pytest-django runs those tests first, and this module's session-wide daphne processes must not
be up, subscribed to the shared Redis, while the layer's own tests count its connections.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.testproject.site import ChatSite, Daphne
from tests.testproject.test_token_guessing import INVALID, TOO_MANY, WRONG

TIMEOUT = 5.0


async def open_from(
    stack: AsyncExitStack, server: Daphne, address: str, headers: list[tuple[str, str]] | None = None
) -> ClientConnection:
    return await stack.enter_async_context(
        connect(
            server.ws_url,
            origin=server.url,
            open_timeout=TIMEOUT,
            additional_headers=headers,
            local_addr=(address, 0),  # passed on to loop.create_connection: the address daphne sees
        )
    )


async def authenticate_as(socket: ClientConnection, token: str) -> dict:
    await socket.send(json.dumps({"uuid": "auth", "action": "authenticate", "token": token}))
    return json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))


async def guess(socket: ClientConnection, times: int) -> None:
    """Send ``times`` wrong tokens at once; each is answered as invalid."""
    for n in range(times):
        await socket.send(json.dumps({"uuid": f"w{n}", "action": "authenticate", "token": WRONG}))
    for _ in range(times):
        assert json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))["error_message"] == INVALID


def post_from(server: Daphne, address: str, token: str, room: str) -> tuple[int, str | None]:
    """POST a message from ``address``: the status and the Retry-After header."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=TIMEOUT, source_address=(address, 0))
    try:
        body = json.dumps({"text": "hi"})
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        connection.request("POST", f"/api/rooms/{room}/messages/", body, headers)
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("Retry-After")
    finally:
        connection.close()


async def test_wrong_tokens_from_one_address_count_together_on_every_process_and_other_addresses_are_spared(
    chat_site: ChatSite,
):
    alice = f"alice-{uuid.uuid4().hex[:8]}"
    token = chat_site.manage("issue_token", alice)
    room = chat_site.manage("create_room", "Guessed", "--member", alice)
    a, b = chat_site.servers
    async with AsyncExitStack() as stack:
        # 24 wrong tokens at once from 127.0.0.2, on 12 connections across both processes: exactly the
        # default limit of 20 are checked, however the attempts interleave.
        sockets = [await open_from(stack, server, "127.0.0.2") for server in (a, b) * 6]
        for n, socket in enumerate(sockets):
            for k in range(2):
                await socket.send(json.dumps({"uuid": f"{n}.{k}", "action": "authenticate", "token": WRONG}))
        replies = [json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT)) for socket in sockets for _ in "ab"]
        messages = [reply["error_message"] for reply in replies]
        assert messages.count(INVALID) == 20
        assert sum(TOO_MANY.fullmatch(message) is not None for message in messages) == 4, messages

        # From there, the right token is refused on both processes, over HTTP too, and a client-sent
        # X-Forwarded-For changes nothing: daphne does not read it unless started with --proxy-headers.
        for server in (a, b):
            forged = [("X-Forwarded-For", "198.51.100.9")]
            reply = await authenticate_as(await open_from(stack, server, "127.0.0.2", forged), token)
            assert TOO_MANY.fullmatch(reply["error_message"])
        status, retry_after = await asyncio.to_thread(post_from, a, "127.0.0.2", token, room)
        assert status == 429 and 1 <= int(retry_after) <= 60

        # Another address is not held back.
        assert (await authenticate_as(await open_from(stack, b, "127.0.0.3"), token))["status"] == "success"
        assert (await asyncio.to_thread(post_from, a, "127.0.0.3", token, room))[0] == 201


async def test_a_real_client_sees_the_connection_closed_with_4429_after_five_wrong_tokens(chat_site: ChatSite):
    server = chat_site.servers[0]
    async with AsyncExitStack() as stack:
        socket = await open_from(stack, server, "127.0.0.4")
        await guess(socket, 5)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429


@pytest.fixture
def proxied_site(redis_url: str, tmp_path: Path) -> Iterator[ChatSite]:
    """One daphne started with --proxy-headers, as behind a reverse proxy that sets X-Forwarded-For."""
    site = ChatSite(tmp_path, redis_url, processes=1, options=("--proxy-headers",))
    try:
        site.start()
        yield site
    finally:
        site.stop()


async def test_with_proxy_headers_the_forwarded_address_is_the_one_counted(proxied_site: ChatSite):
    token = proxied_site.manage("issue_token", "alice")
    server = proxied_site.servers[0]
    async with AsyncExitStack() as stack:
        # All from 127.0.0.1, the proxy: 20 wrong tokens for 198.51.100.1, on 4 connections (5 each).
        for _ in range(4):
            await guess(await open_from(stack, server, "127.0.0.1", [("X-Forwarded-For", "198.51.100.1")]), 5)
        for forwarded, refused in (("198.51.100.1", True), ("198.51.100.2", False)):
            socket = await open_from(stack, server, "127.0.0.1", [("X-Forwarded-For", forwarded)])
            reply = await authenticate_as(socket, token)
            assert (TOO_MANY.fullmatch(reply.get("error_message", "")) is not None) is refused, reply
