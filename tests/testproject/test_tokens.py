"""API tokens are stored as a digest only: issued and shown once, found by a public selector, checked by digest."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from testproject.chat import services, tokens
from testproject.chat.models import ApiToken

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_HASHING = ("chat", "0002_message_order_by_id")
HASHING = ("chat", "0003_apitoken_digest")
LEGACY_TOKEN = "4f6c1be0a93d27e85c10f4b26a7d9e3c81b5f072"  # 40 hex digits, as issued before hashing


def database_text() -> str:
    """Every row of every table, as text: where a token in the clear would show up."""
    with connection.cursor() as cursor:
        rows = []
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            rows.append(repr(cursor.fetchall()))
    return "\n".join(rows)


def assert_not_stored(token: str) -> None:
    """Neither the token nor its secret part is anywhere in the database; its digest is."""
    text = database_text()
    assert token not in text and token[tokens.SELECTOR_LENGTH :] not in text
    assert hashlib.sha256(token.encode()).hexdigest() in text


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip()


def test_an_issued_token_is_stored_as_its_selector_and_sha256_digest_only(alice):
    token = alice.api_token
    assert re.fullmatch(r"[0-9a-f]{76}", token)
    stored = ApiToken.objects.get(user=alice)
    assert (stored.selector, stored.digest) == (token[:12], hashlib.sha256(token.encode()).hexdigest())
    assert services.token_owner(token) == alice
    assert_not_stored(token)


def test_no_token_issued_by_the_commands_is_in_the_database():
    issued = [run("issue_token", "erin")]
    issued += re.findall(r"^  \w+ +([0-9a-f]{76})$", run("setup_demo", "--password", "pw"), re.MULTILINE)
    assert len(issued) == 4
    for token in issued:
        assert services.token_owner(token)
        assert_not_stored(token)


@pytest.mark.parametrize(
    "wrong",
    [
        "SAME_SELECTOR",  # the public part of alice's token with another secret
        "UPPERCASE",  # alice's token in capitals: tokens are exact
        "SPACE",  # alice's token and a space
        "0" * 76,
        "0" * 40,
        "0" * 41,
        "\ud800" * 76,  # a lone surrogate, which JSON allows and UTF-8 cannot encode
        "",
        None,
        12345,
        ["token"],
    ],
)
def test_a_wrong_or_malformed_token_finds_no_one(alice, wrong):
    token = alice.api_token
    wrong = (
        {
            "SAME_SELECTOR": token[:12] + "0" * 64,
            "UPPERCASE": token.upper(),
            "SPACE": token + " ",
        }.get(wrong, wrong)
        if isinstance(wrong, str)
        else wrong
    )
    assert services.token_owner(wrong) is None


def test_tokens_that_share_a_selector_are_each_checked(make_user):
    # Selectors are random, so two can be equal: each token still finds its own user, and only its own.
    erin, frank = make_user("erin"), make_user("frank")
    first, second = "a" * 12 + "1" * 64, "a" * 12 + "2" * 64
    for user, token in ((erin, first), (frank, second)):
        record = ApiToken.objects.get(user=user)
        record.delete()
        record.set_token(token)
        record.save()
    assert (services.token_owner(first), services.token_owner(second)) == (erin, frank)
    assert services.token_owner("a" * 12 + "3" * 64) is None


def test_the_admin_issues_a_token_shows_it_once_and_lists_only_its_selector(admin_client):
    erin = User.objects.create_user("erin")
    response = admin_client.post("/admin/chat/apitoken/add/", {"user": erin.pk})
    assert response.status_code == 200
    token = re.search(r'<code id="token">([0-9a-f]{76})</code>', response.content.decode()).group(1)
    assert "it cannot be shown again" in response.content.decode()
    assert services.token_owner(token) == erin
    assert_not_stored(token)  # nor in the admin's log (which names the digest) or a stored message

    listing = admin_client.get("/admin/chat/apitoken/").content.decode()
    assert token[:12] in listing and token[12:] not in listing
    record = ApiToken.objects.get(user=erin)
    page = admin_client.get(f"/admin/chat/apitoken/{record.pk}/change/")
    assert page.status_code == 200 and token[12:] not in page.content.decode()
    # Nothing to edit: a token is issued or deleted. Deleting it revokes it.
    assert admin_client.post(f"/admin/chat/apitoken/{record.pk}/change/", {"user": erin.pk}).status_code == 403
    admin_client.post(f"/admin/chat/apitoken/{record.pk}/delete/", {"post": "yes"})
    assert services.token_owner(token) is None


def migrate(chat: tuple[str, str]) -> MigrationExecutor:
    """Every app at its latest migration, the chat at ``chat``."""
    executor = MigrationExecutor(connection)
    targets = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "chat"] + [chat]
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


def test_the_migration_hashes_existing_tokens_in_place_and_they_keep_working():
    executor = migrate(BEFORE_HASHING)
    try:
        old = executor.loader.project_state(BEFORE_HASHING).apps
        user = old.get_model("auth", "User").objects.create(username="old-client")
        old.get_model("chat", "ApiToken").objects.create(key=LEGACY_TOKEN, user=user)
        # Added in the admin before hashing: the log entry's object_id was the token itself.
        content_type, _ = ContentType.objects.get_or_create(app_label="chat", model="apitoken")
        LogEntry.objects.create(
            user_id=user.pk, content_type=content_type, object_id=LEGACY_TOKEN, object_repr="t", action_flag=1
        )

        migrate(HASHING)
        assert services.token_owner(LEGACY_TOKEN).username == "old-client"
        assert ApiToken.objects.get().selector == LEGACY_TOKEN[:12]
        assert LogEntry.objects.get().object_id == hashlib.sha256(LEGACY_TOKEN.encode()).hexdigest()
        assert_not_stored(LEGACY_TOKEN)

        # Unapplied, the digests cannot become tokens again: every token is deleted.
        migrate(BEFORE_HASHING)
        assert not old.get_model("chat", "ApiToken").objects.exists()
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes(app="chat")[0])
