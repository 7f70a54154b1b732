"""The management commands print exactly what scripts need: a token (when issued), a room id, the demo's logins."""

import io
import re

import pytest
from django.contrib.auth import get_user
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.http import HttpRequest

from testproject.chat import services
from testproject.chat.models import ApiToken, ChatRoom

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_issue_token_creates_the_user_and_prints_only_its_token():
    output = run("issue_token", "erin")
    assert re.fullmatch(r"[0-9a-f]{76}\n", output)
    assert services.token_owner(output.strip()).username == "erin"


def test_issue_token_again_replaces_the_token_and_the_old_one_stops_working():
    first, second = run("issue_token", "erin").strip(), run("issue_token", "erin").strip()
    assert first != second
    assert services.token_owner(first) is None
    assert services.token_owner(second).username == "erin"
    assert User.objects.filter(username="erin").count() == 1 and ApiToken.objects.count() == 1


def test_create_room_prints_only_the_room_id_and_adds_the_members(alice, bob, carol):
    output = run("create_room", "Plans", "--member", "alice", "--member", "bob")
    assert re.fullmatch(r"[0-9a-f]{32}\n", output)
    room = ChatRoom.objects.get(pk=output.strip())
    assert room.title == "Plans"
    assert set(room.members.values_list("username", flat=True)) == {"alice", "bob"}


def test_create_room_refuses_unknown_members_and_creates_nothing(alice):
    refusal = "No user named ghost; create one with: manage.py issue_token USERNAME"
    with pytest.raises(CommandError, match=re.escape(refusal)):
        run("create_room", "Plans", "--member", "alice", "--member", "ghost")
    assert not ChatRoom.objects.exists()


def test_create_room_needs_a_member():
    with pytest.raises(CommandError, match="--member"):
        run("create_room", "Plans")


def demo_tokens(output):
    return dict(re.findall(r"^  (\w+) +([0-9a-f]{76})$", output, re.MULTILINE))


def test_setup_demo_makes_users_who_can_log_in_and_is_repeatable(client):
    first = run("setup_demo", "--password", "pw")
    second = run("setup_demo", "--password", "pw")
    assert "log in as alice, bob, carol with the password 'pw'" in first
    tokens = demo_tokens(first)
    assert set(tokens) == {"alice", "bob", "carol"}
    for name, token in tokens.items():
        assert services.token_owner(token).username == name
    assert f"-H 'Authorization: Token {tokens['alice']}'" in first
    # Run again, it issues no token (the first ones keep working) and says how to get new ones.
    assert demo_tokens(second) == {} and "-H 'Authorization: Token $TOKEN'" in second
    assert "  alice  issued before; manage.py setup_demo --new-tokens replaces them" in second
    assert all(services.token_owner(token) for token in tokens.values())
    assert ChatRoom.objects.count() == 3 and ApiToken.objects.count() == 3
    general = ChatRoom.objects.get(title="General")
    assert f"{general.pk.hex}  General (alice, bob, carol)" in first and f"{general.pk.hex}  General" in second
    assert client.login(username="carol", password="pw")


def test_setup_demo_with_new_tokens_replaces_every_token():
    old = demo_tokens(run("setup_demo", "--password", "pw"))
    new = demo_tokens(run("setup_demo", "--password", "pw", "--new-tokens"))
    assert set(new) == {"alice", "bob", "carol"}
    for name in new:
        assert services.token_owner(old[name]) is None
        assert services.token_owner(new[name]).username == name


def test_setup_demo_again_keeps_the_passwords_so_open_sessions_survive(client):
    run("setup_demo", "--password", "pw")
    assert client.login(username="alice", password="pw")
    run("setup_demo", "--password", "other")
    request = HttpRequest()
    request.session = client.session
    assert get_user(request).username == "alice"  # get_user ends a session whose password hash changed
    assert client.login(username="alice", password="pw")
