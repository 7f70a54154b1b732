"""The schema: migrations match the models, and history reads use the index made for them."""

import io

import pytest
from django.core.management import call_command
from django.db import connection

from testproject.chat.services import latest_messages

pytestmark = pytest.mark.django_db


def test_the_migrations_match_the_models():
    call_command("makemigrations", "chat", "--check", "--dry-run", stdout=io.StringIO())


@pytest.mark.skipif(connection.vendor != "sqlite", reason="reads SQLite's query plan (the tests' default database)")
def test_the_latest_messages_of_a_room_are_read_through_their_index(room):
    assert "USING INDEX chat_message_room_latest" in latest_messages(room).explain()
