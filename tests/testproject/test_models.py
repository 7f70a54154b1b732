"""The schema: migrations match the models, and history reads use the index made for them."""

import io

import pytest
from django.core.management import call_command
from django.db import connection

from testproject.chat.services import page_query

pytestmark = pytest.mark.django_db


def test_the_migrations_match_the_models():
    call_command("makemigrations", "chat", "--check", "--dry-run", stdout=io.StringIO())


@pytest.mark.skipif(connection.vendor != "sqlite", reason="reads SQLite's query plan (the tests' default database)")
@pytest.mark.parametrize(
    ("cursor", "search"),
    [({}, "(room_id=?)"), ({"before": 5}, "(room_id=? AND id<?)"), ({"since": 5}, "(room_id=? AND id>?)")],
    ids=["latest", "before", "since"],
)
def test_every_page_of_a_room_is_read_through_its_index_without_sorting(room, cursor, search):
    plan = page_query(room, **cursor).explain()
    assert f"USING INDEX chat_message_room_order {search}" in plan
    assert "TEMP B-TREE" not in plan, plan
