"""DATABASE_URL parsing: SQLite by path, PostgreSQL by URL, a clear error otherwise."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from testproject.database_url import parse_database_url


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("sqlite:////tmp/chat.sqlite3", "/tmp/chat.sqlite3"),
        ("sqlite:///chat.sqlite3", "chat.sqlite3"),
        ("sqlite://:memory:", ":memory:"),
    ],
)
def test_sqlite_urls_name_a_file(url, name):
    assert parse_database_url(url) == {"ENGINE": "django.db.backends.sqlite3", "NAME": name}


def test_a_postgres_url_gives_every_connection_setting():
    assert parse_database_url("postgres://chat:p%40ss@db.example:6432/chat_db?sslmode=require") == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "chat_db",
        "USER": "chat",
        "PASSWORD": "p@ss",
        "HOST": "db.example",
        "PORT": "6432",
        "OPTIONS": {"sslmode": "require"},
    }


def test_a_postgres_url_without_host_uses_the_local_socket():
    config = parse_database_url("postgresql:///test")
    assert (config["NAME"], config["HOST"], config["PORT"], config["USER"]) == ("test", "", "", "")


def test_a_percent_encoded_host_is_a_socket_directory():
    assert parse_database_url("postgres://%2Fvar%2Frun%2Fpostgresql/test")["HOST"] == "/var/run/postgresql"


@pytest.mark.parametrize(("url", "problem"), [("mysql://u@h/db", "scheme 'mysql'"), ("sqlite://", "names no file")])
def test_an_unusable_url_fails_naming_the_setting(url, problem):
    with pytest.raises(ImproperlyConfigured, match=f"DATABASE_URL .*{problem}"):
        parse_database_url(url)
