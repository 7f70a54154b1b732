"""The chat testproject for the WebSocket benchmark: the tests' daphne servers, with the layer under test.

Its database is a fresh SQLite file or a fresh PostgreSQL database per run (created here, dropped
afterwards), the same for every layer: SQLite has one writer at a time, which can hide the layer.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["DATABASES", "POSTGRES_URL", "chat_database", "chat_environment"]

DATABASES = ("sqlite", "postgresql")
#: The server that PostgreSQL runs use; a user allowed to create databases, without a password prompt.
POSTGRES_URL = os.environ.get("BENCHMARK_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")


@contextlib.contextmanager
def chat_database(kind: str, workdir: Path) -> Iterator[str]:
    """The ``DATABASE_URL`` of a new, empty database of ``kind`` for one run, dropped when the block ends."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'db.sqlite3'}"
        return
    if kind != "postgresql":
        raise ValueError(f"Unknown database {kind!r}: use one of {', '.join(DATABASES)}")
    import psycopg

    name = f"channels_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{POSTGRES_URL}/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def chat_environment(database_url: str, redis_url: str, layer_path: str) -> dict[str, str]:
    """Environment of the project's processes: its database, the run's Redis, the layer under test."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.chat_settings",
        "DJANGO_DEBUG": "0",
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "BENCHMARK_CHANNEL_LAYER": layer_path,
    }
