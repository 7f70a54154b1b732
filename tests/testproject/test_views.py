"""The page: a login form at ``/``, then the user's rooms for the JS client."""

import pytest
from django.contrib.auth.models import User

from testproject.chat.models import ChatMessage, ChatRoom

pytestmark = pytest.mark.django_db


@pytest.fixture
def dora() -> User:
    return User.objects.create_user("dora", password="correct horse")


def test_an_anonymous_visitor_gets_the_login_form(client):
    response = client.get("/")
    assert response.status_code == 200
    assert [template.name for template in response.templates][0] == "chat/login.html"
    assert b'name="username"' in response.content and b'name="password"' in response.content


def test_logging_in_at_the_root_leads_to_the_chat_page_with_the_user_s_rooms_only(client, dora):
    mine, empty = ChatRoom.objects.create(title="Dora's room"), ChatRoom.objects.create(title="Dora's empty room")
    mine.members.add(dora)
    empty.members.add(dora)
    other = ChatRoom.objects.create(title="Someone else's room")
    first, last = (ChatMessage.objects.create(room=mine, author=dora, text=text) for text in ("first", "last"))
    ChatMessage.objects.create(room=other, author=dora, text="elsewhere")

    response = client.post("/", {"username": "dora", "password": "correct horse"})
    assert (response.status_code, response["Location"]) == (302, "/")
    page = client.get("/")
    assert [template.name for template in page.templates][0] == "chat/chat.html"
    # With the id of each room's latest message (0: none yet), from where the page catches up after a drop.
    assert page.context["rooms"] == [
        {"id": empty.pk.hex, "title": "Dora's empty room", "last": 0},
        {"id": mine.pk.hex, "title": "Dora's room", "last": last.pk},
    ]
    assert b'<script id="rooms-data" type="application/json">' in page.content
    assert b"chat/chat.js" in page.content


SESSION_ENDED = b"Your session has ended"


def test_the_login_form_says_why_when_the_page_s_session_ended(client):
    assert SESSION_ENDED not in client.get("/").content
    response = client.get("/?session=ended")
    assert SESSION_ENDED in response.content and b'name="password"' in response.content


def test_a_wrong_password_shows_the_form_again_with_an_error(client, dora):
    response = client.post("/", {"username": "dora", "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_logging_out_returns_to_the_login_form(client, dora):
    client.force_login(dora)
    response = client.post("/logout/")
    assert (response.status_code, response["Location"]) == (302, "/")
    assert [template.name for template in client.get("/").templates][0] == "chat/login.html"
