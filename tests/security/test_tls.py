"""TLS against a real redis-server that has a TLS port only: ``rediss://`` with a CA file, client certificates,
encrypted client keys, and every verification failure raised at the first command as ChannelLayerRefused."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import select
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channels_fanout import ChannelLayerRefused, ChannelLayerUnavailable, FanoutChannelLayer
from tests.helpers import round_trip
from tests.redis_server import RedisServer
from tests.security.conftest import log_text, tls_server
from tests.tls import CertificateAuthority, Credential, ServerTLS

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "Key-passphrase-9f3e"


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory, certificates) -> Iterator[RedisServer]:
    """TLS only, client certificates not required."""
    server = tls_server(tmp_path_factory.mktemp("tls"), certificates)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mtls_redis(tmp_path_factory, certificates) -> Iterator[RedisServer]:
    """TLS only, and every client must present a certificate of the CA (tls-auth-clients yes)."""
    tls = dataclasses.replace(certificates, require_client_certificates=True)
    server = tls_server(tmp_path_factory.mktemp("mtls"), tls)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def encrypted_client(certificates) -> Credential:
    """A client certificate of the CA whose key is encrypted with PASSPHRASE."""
    return certificates.authority.issue("encrypted-client", passphrase=PASSPHRASE.encode())


def encrypted_key_host(server: RedisServer, certificates: ServerTLS, client: Credential) -> dict[str, str]:
    """A hosts entry presenting the client certificate whose key is encrypted, with no ssl_password."""
    return {
        "address": server.url, "ssl_ca_certs": str(certificates.ca_file),
        "ssl_certfile": str(client.cert), "ssl_keyfile": str(client.key),
    }  # fmt: skip


async def refused_at_once(host: Any, **options: Any) -> tuple[FanoutChannelLayer, ChannelLayerRefused]:
    """The refusal that new_channel() and group_send() each raise, well within command_timeout (5 s)."""
    layer = FanoutChannelLayer(hosts=[host], stats_interval=0, **options)
    refusals = []
    for call in (layer.new_channel, lambda: layer.group_send("room", {"type": "x"})):
        started = time.monotonic()
        with pytest.raises(ChannelLayerRefused) as refused:
            await asyncio.wait_for(call(), 2)
        assert time.monotonic() - started < 1
        assert refused.value.reason == "tls"
        refusals.append(refused.value)
    return layer, refusals[0]


async def test_a_rediss_url_with_the_ca_file_in_its_query(tls_redis, certificates):
    layer = FanoutChannelLayer(hosts=[f"{tls_redis.url}?ssl_ca_certs={certificates.ca_file}"])
    try:
        await round_trip(layer)
    finally:
        await layer.close()
    assert list(layer.stats()["shards"]) == [tls_redis.url]  # named without its query


async def test_a_hosts_dict_with_a_client_certificate_for_a_server_that_requires_one(mtls_redis, certificates):
    layer = FanoutChannelLayer(hosts=[{"address": mtls_redis.url, **certificates.client_kwargs()}])
    try:
        await round_trip(layer)
    finally:
        await layer.close()


async def test_an_encrypted_client_key_with_its_ssl_password(mtls_redis, certificates, encrypted_client):
    host = {**encrypted_key_host(mtls_redis, certificates, encrypted_client), "ssl_password": PASSPHRASE}
    layer = FanoutChannelLayer(hosts=[host])
    try:
        await round_trip(layer)
    finally:
        await layer.close()


@pytest.mark.parametrize("passphrase", ["wrong-passphrase", None])
async def test_an_encrypted_client_key_without_its_passphrase_is_refused_never_shown(
    mtls_redis, certificates, encrypted_client, caplog, passphrase
):
    caplog.set_level(logging.DEBUG)
    host = encrypted_key_host(mtls_redis, certificates, encrypted_client)
    if passphrase:
        host["ssl_password"] = passphrase
    layer, refused = await refused_at_once(host)
    await layer.close()
    assert "could not be loaded" in str(refused) and "ssl_password" in str(refused)
    shown = "\n".join(
        [*(record.getMessage() for record in caplog.records), json.dumps(layer.stats()), repr(layer.config),
         "".join(traceback.format_exception(refused))]
    )  # fmt: skip
    assert "could not be loaded" in shown and (passphrase or PASSPHRASE) not in shown


def test_an_encrypted_key_without_ssl_password_never_asks_for_it_on_the_terminal(
    mtls_redis, certificates, encrypted_client
):
    """OpenSSL prompts on the controlling terminal for a key's passphrase when given none, and waits there."""
    host = encrypted_key_host(mtls_redis, certificates, encrypted_client)
    script = (
        "import asyncio, fcntl, termios\n"
        "fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # the pty becomes this new session's controlling terminal\n"
        "from channels_fanout import ChannelLayerRefused, FanoutChannelLayer\n"
        "async def main():\n"
        f"    layer = FanoutChannelLayer(hosts=[{host!r}], stats_interval=0)\n"
        "    try:\n"
        "        await layer.group_send('room', {'type': 'x'})\n"
        "    except ChannelLayerRefused as exc:\n"
        "        print('REFUSED', exc.reason, flush=True)\n"
        "    finally:\n"
        "        await layer.close()\n"
        "asyncio.run(main())\n"
    )
    leader, follower = os.openpty()
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=follower, stdout=follower, stderr=follower, cwd=ROOT,
        start_new_session=True,
    )  # fmt: skip
    os.close(follower)
    output = b""
    try:
        deadline = time.monotonic() + 15
        while child.poll() is None and time.monotonic() < deadline:
            if select.select([leader], [], [], 0.1)[0]:
                try:
                    output += os.read(leader, 4096)
                except OSError:  # the child closed the terminal
                    break
        assert child.wait(timeout=5) == 0, output.decode(errors="replace")
    finally:
        child.kill()
        child.wait()
        os.close(leader)
    assert b"pass phrase" not in output.lower() and b"REFUSED tls" in output, output


async def test_a_server_certificate_of_another_ca_is_refused_at_the_first_command(tls_redis, tmp_path, caplog):
    other = CertificateAuthority(tmp_path, "another CA")
    layer, refused = await refused_at_once(f"{tls_redis.url}?ssl_ca_certs={other.ca_file}")
    try:
        assert "the server's certificate did not verify" in str(refused) and "ssl_ca_certs" in str(refused)
        (error,) = [shard["error"] for shard in layer.stats()["shards"].values()]
        assert error is not None and "did not verify" in error
    finally:
        await layer.close()
    assert log_text(caplog, logging.ERROR).count("did not verify") == 1


async def test_a_host_name_the_server_certificate_does_not_list_is_refused(tmp_path, certificates):
    elsewhere = dataclasses.replace(certificates, server=certificates.authority.issue("elsewhere", ("redis.example",)))
    server = tls_server(tmp_path / "elsewhere", elsewhere)
    try:
        layer, refused = await refused_at_once({"address": server.url, "ssl_ca_certs": str(certificates.ca_file)})
        await layer.close()
    finally:
        server.stop()
    assert "did not verify (IP address mismatch" in str(refused) and "name the host connected to" in str(refused)


async def test_a_missing_client_certificate_is_refused_at_the_first_command(tmp_path, certificates):
    """On TLS 1.2, where the server refuses the certificate during the handshake.

    On TLS 1.3 the client has finished its handshake when the server refuses, and sends its first
    command meanwhile: it reads the server's alert (this refusal) or, if the server's reset wins
    the race, a reset connection (ChannelLayerUnavailable).
    """
    tls = dataclasses.replace(certificates, require_client_certificates=True)
    server = tls_server(tmp_path / "tls12", tls, "--tls-protocols", "TLSv1.2")
    try:
        layer, refused = await refused_at_once({"address": server.url, "ssl_ca_certs": str(certificates.ca_file)})
        await layer.close()
    finally:
        server.stop()
    assert "the server refused this client's certificate" in str(refused)


@pytest.mark.parametrize("mismatch", ["TLS to a plain port", "plain to a TLS port"])
async def test_a_client_and_port_not_both_tls_fail_within_command_timeout_not_hang(redis_url, tls_redis, mismatch):
    # Neither is a refusal that can be told from an outage: a plain server waits for the end of the
    # TLS hello as for the end of a command, and a TLS server drops the connection.
    if mismatch == "TLS to a plain port":
        url = redis_url.replace("redis://", "rediss://")
    else:
        url = tls_redis.url.replace("rediss://", "redis://")
    layer = FanoutChannelLayer(hosts=[url], command_timeout=1, stats_interval=0)
    try:
        for call in (layer.new_channel, lambda: layer.group_send("room", {"type": "x"})):
            started = time.monotonic()
            with pytest.raises(ChannelLayerUnavailable):
                await asyncio.wait_for(call(), 3)
            assert time.monotonic() - started < 1.5
    finally:
        await layer.close()
