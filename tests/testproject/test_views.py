"""The page: a login form at ``/``, then the user's rooms for the JS client."""

import pytest
from django.contrib.auth.models import User

from testproject.chat.models import ChatRoom

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
    mine = ChatRoom.objects.create(title="Dora's room")
    mine.members.add(dora)
    ChatRoom.objects.create(title="Someone else's room")

    response = client.post("/", {"username": "dora", "password": "correct horse"})
    assert (response.status_code, response["Location"]) == (302, "/")
    page = client.get("/")
    assert [template.name for template in page.templates][0] == "chat/chat.html"
    assert page.context["rooms"] == [{"id": mine.pk.hex, "title": "Dora's room"}]
    assert b'<script id="rooms-data" type="application/json">' in page.content
    assert b"chat/chat.js" in page.content


def test_a_wrong_password_shows_the_form_again_with_an_error(client, dora):
    response = client.post("/", {"username": "dora", "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_logging_out_returns_to_the_login_form(client, dora):
    client.force_login(dora)
    response = client.post("/logout/")
    assert (response.status_code, response["Location"]) == (302, "/")
    assert [template.name for template in client.get("/").templates][0] == "chat/login.html"
