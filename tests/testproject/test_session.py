"""A page whose session has ended is told so at connect (close code 4401) instead of being left signed out."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client

from tests.testproject.conftest import receive

pytestmark = pytest.mark.django_db(transaction=True)

SESSION_ENDED = {"type": "websocket.close", "code": 4401}


async def session_cookie(user):
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode())


async def test_a_session_deleted_on_the_server_closes_the_page_s_connection_with_4401(connect, alice):
    cookie = await session_cookie(alice)
    await database_sync_to_async(Session.objects.all().delete)()
    communicator = await connect(headers=[cookie])
    assert await communicator.receive_output(timeout=2) == SESSION_ENDED


async def test_a_changed_password_ends_the_session_and_closes_the_connection_with_4401(connect, alice):
    cookie = await session_cookie(alice)
    alice.set_password("a new one")
    await database_sync_to_async(alice.save)()
    communicator = await connect(headers=[cookie])
    assert await communicator.receive_output(timeout=2) == SESSION_ENDED


async def test_a_made_up_session_cookie_is_closed_with_4401(connect):
    communicator = await connect(headers=[(b"cookie", f"{settings.SESSION_COOKIE_NAME}=made-up".encode())])
    assert await communicator.receive_output(timeout=2) == SESSION_ENDED


async def test_a_connection_without_a_session_cookie_stays_open_for_a_token(connect, alice):
    communicator = await connect(headers=[(b"cookie", b"other=1")])
    await communicator.send_json_to({"uuid": "a", "action": "authenticate", "token": alice.api_token})
    assert (await receive(communicator))["status"] == "success"
