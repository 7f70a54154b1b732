"""Guessing tokens is slowed down: 5 wrong tokens close a connection (4429), and each address has a limit.

Here on the ASGI stack in the test process, whose communicator's scope has no client: its connections all count
as the address "unknown". test_token_guessing_on_daphne.py has real clients and processes.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
from channels.db import database_sync_to_async
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from testproject.chat import guessing
from tests.testproject.conftest import receive

pytestmark = pytest.mark.django_db(transaction=True)

INVALID = "Invalid authentication token"
TOO_MANY = re.compile(
    r"Too many failed authentication attempts from your address: at most (\d+) in (\d+) seconds\. "
    r"Try again in (\d+) seconds?\."
)
WRONG = "0" * 76


async def authenticate(communicator, request_uuid, token):
    await communicator.send_json_to({"uuid": request_uuid, "action": "authenticate", "token": token})


async def error_message(communicator):
    reply = await receive(communicator)
    assert reply["status"] == "error", reply
    return reply["error_message"]


async def post(token, address="203.0.113.7", room="0" * 32, scheme="Token"):
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    # Through Django's WSGI test client: the async one cannot set the client's address.
    return await database_sync_to_async(Client().post)(
        f"/api/rooms/{room}/messages/",
        json.dumps({"text": "hi"}),
        content_type="application/json",
        headers=headers,
        REMOTE_ADDR=address,
    )


async def test_the_fifth_wrong_token_closes_the_connection_with_4429_and_later_frames_are_not_read(connect, alice):
    communicator = await connect()
    wrong = [WRONG, None, 12345, "", "0" * 40]  # of any kind, each is a failure
    for n, token in enumerate([*wrong, alice.api_token]):  # all sent before the first reply
        await authenticate(communicator, f"a{n}", token)
    for n in range(5):
        assert await receive(communicator) == {
            "uuid": f"a{n}",
            "action": "authenticate",
            "status": "error",
            "error_message": INVALID,
        }
    assert await communicator.receive_output(timeout=2) == {"type": "websocket.close", "code": 4429}
    assert await communicator.receive_nothing(timeout=0.3)  # the right token after them was never tried


async def test_four_wrong_tokens_then_the_right_one_authenticate_the_connection(connect, alice):
    communicator = await connect()
    for n in range(4):
        await authenticate(communicator, f"w{n}", WRONG)
        assert await error_message(communicator) == INVALID
    await authenticate(communicator, "ok", alice.api_token)
    assert (await receive(communicator))["status"] == "success"


async def test_beyond_the_address_limit_no_token_is_checked_not_even_a_right_one(settings, connect, alice, bob):
    settings.CHAT_TOKEN_FAILURE_LIMIT = (3, 60)
    first, second = await connect(), await connect()
    for n, communicator in enumerate((first, second, first)):
        await authenticate(communicator, f"w{n}", WRONG)
        assert await error_message(communicator) == INVALID
    for communicator, user in ((second, alice), (await connect(), bob)):
        await authenticate(communicator, "ok", user.api_token)
        failures, seconds, retry_after = map(int, TOO_MANY.fullmatch(await error_message(communicator)).groups())
        assert (failures, seconds) == (3, 60) and 58 <= retry_after <= 60


async def test_right_tokens_are_not_counted(settings, connect, alice):
    settings.CHAT_TOKEN_FAILURE_LIMIT = (2, 60)
    for _ in range(4):
        await connect(alice)  # each authenticates with the right token
    communicator = await connect()
    for n in range(2):
        await authenticate(communicator, f"w{n}", WRONG)
        assert await error_message(communicator) == INVALID
    await authenticate(communicator, "ok", alice.api_token)
    assert TOO_MANY.fullmatch(await error_message(communicator))


async def test_the_api_counts_wrong_tokens_per_address_and_answers_429_with_retry_after(settings, alice, redis_server):
    settings.CHAT_TOKEN_FAILURE_LIMIT = (3, 60)
    for _ in range(3):
        assert (await post(WRONG)).status_code == 401
    response = await post(alice.api_token)
    assert response.status_code == 429
    assert 58 <= int(response["Retry-After"]) <= 60
    assert TOO_MANY.fullmatch(response.json()["error"])
    # Another address has a count of its own: alice's token gets her past authentication (to an unknown room).
    assert (await post(alice.api_token, address="203.0.113.8")).status_code == 404
    with redis_server.client() as client:
        window = ":1:chat:token-failures:203.0.113.7"
        # The failures only: the refused attempt checked no token and was taken back.
        assert 0 < client.ttl(window) <= 60 and client.get(client.keys(f"{window}:*")[0]) == b"3"


async def test_a_request_without_a_token_is_not_a_failed_attempt(settings, alice):
    settings.CHAT_TOKEN_FAILURE_LIMIT = (1, 60)
    for token, scheme in [(None, "Token"), ("x", "Bearer"), (alice.api_token, "Basic")]:
        assert (await post(token, scheme=scheme)).status_code == 401
    assert (await post(alice.api_token)).status_code == 404


async def test_the_address_may_try_again_when_the_window_is_over(settings, alice):
    settings.CHAT_TOKEN_FAILURE_LIMIT = (1, 1)
    assert (await post(WRONG)).status_code == 401
    refused = await post(alice.api_token)
    assert (refused.status_code, refused["Retry-After"]) == (429, "1")
    deadline = time.monotonic() + 3
    while (response := await post(alice.api_token)).status_code == 429:
        assert time.monotonic() < deadline, "still refused 3 s after a 1 s window"
        await asyncio.sleep(0.05)
    assert response.status_code == 404


async def test_none_turns_the_address_limit_off(settings, connect, alice):
    settings.CHAT_TOKEN_FAILURE_LIMIT = None
    for c in range(5):  # 25 failures, more than the default 20; each connection closes after its 5th
        communicator = await connect()
        for n in range(5):
            await authenticate(communicator, f"w{c}.{n}", WRONG)
            assert await error_message(communicator) == INVALID
    await connect(alice)


def test_the_default_is_20_failures_in_60_seconds(settings):
    del settings.CHAT_TOKEN_FAILURE_LIMIT
    assert guessing.configured_limit() == guessing.FailureLimit(failures=20, seconds=60)


@pytest.mark.parametrize("value", [(0, 60), (20, 0), (20,), "20/60", (2.5, 60), (True, 60), 20])
def test_a_bad_setting_stops_the_project_at_startup_naming_the_setting(settings, value):
    settings.CHAT_TOKEN_FAILURE_LIMIT = value
    message = (
        "CHAT_TOKEN_FAILURE_LIMIT must be (failures, seconds), two positive integers such as (20, 60), "
        f"or None for no limit; got {value!r}"
    )
    with pytest.raises(ImproperlyConfigured) as error:
        apps.get_app_config("chat").ready()
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),  # a subscriber's whole /64 counts as one client
        ("2001:db8:1:2::ffff", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),  # an IPv4 client on a dual-stack socket
        (None, "unknown"),
        ("", "unknown"),
        ("x" * 300, "x" * 100),  # not an IP address (what a proxy header said): kept short in the cache key
    ],
)
def test_the_client_address(host, address):
    assert guessing.client_address(host) == address
