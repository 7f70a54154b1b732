"""``DATABASE_URL`` to a Django ``DATABASES`` entry, so the demo runs on PostgreSQL without dj-database-url."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}


def parse_database_url(url: str) -> dict[str, Any]:
    """``sqlite:///relative.db``, ``sqlite:////absolute.db`` or ``postgres://user:password@host:port/name?option=value``."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # dj-database-url's convention: the path after the third slash, so four slashes make it absolute.
        name = unquote(parts.path[1:]) or unquote(parts.netloc)
        if not name:
            raise ImproperlyConfigured(f"DATABASE_URL {url!r} names no file: use sqlite:////absolute/path.sqlite3")
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name}
    if parts.scheme in POSTGRES_SCHEMES:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path[1:]),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            # A percent-encoded host is a Unix socket directory: postgres://%2Fvar%2Frun%2Fpostgresql/name.
            "HOST": unquote(parts.hostname or ""),
            "PORT": str(parts.port or ""),
            "OPTIONS": dict(parse_qsl(parts.query)),
        }
    raise ImproperlyConfigured(
        f"DATABASE_URL has the scheme {parts.scheme!r}; use sqlite:////path/to/file.sqlite3 or postgres://user:password@host:port/name"
    )
