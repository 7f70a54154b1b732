"""Servers for the security tests: TLS certificates, and a private redis-server to create ACL users on."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import RedisServer
from tests.tls import ServerTLS


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> ServerTLS:
    """A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate."""
    return ServerTLS.make(tmp_path_factory.mktemp("certificates"))


@pytest.fixture(scope="module")
def acl_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of this module's tests, whose default user the tests use to create others."""
    server = RedisServer(tmp_path_factory.mktemp("acl"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def acl(acl_server: RedisServer) -> RedisServer:
    """``acl_server``, emptied: no keys, no users but the default one, no ACL LOG or command counts, no scripts."""
    with acl_server.client() as client:
        client.flushall()
        client.script_flush()
        client.config_resetstat()
        for user in client.acl_users():
            if user != "default":
                client.acl_deluser(user)
        client.execute_command("ACL", "LOG", "RESET")
    return acl_server


def add_user(server: RedisServer, name: str, rule: str, password: str | None = None) -> str:
    """Create (or replace) the ACL user ``name`` with ``rule``; returns its password."""
    password = password or secrets.token_hex(12)
    with server.client() as client:
        client.execute_command("ACL", "SETUSER", name, "reset", "on", f">{password}", *rule.split())
    return password


def acl_log(server: RedisServer) -> list[tuple[str, str, str]]:
    """(user, reason, object) of every refusal Redis logged since the last reset."""
    with server.client() as client:
        entries = client.acl_log()
    return [(entry["username"], entry["reason"], entry["object"]) for entry in entries]


def refusals(server: RedisServer) -> int:
    """How many commands Redis refused since the last reset (ACL LOG groups repeats into one entry)."""
    with server.client() as client:
        return sum(int(entry["count"]) for entry in client.acl_log())


def log_text(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> str:
    return "\n".join(record.getMessage() for record in caplog.records if record.levelno >= level)


def tls_server(directory: Path, tls: ServerTLS, *extra_args: str) -> RedisServer:
    """A started redis-server with a TLS port only; the caller stops it."""
    server = RedisServer(directory, None, *extra_args, tls=tls)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
