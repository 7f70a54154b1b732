"""Sentinel over TLS: TLS sentinels, a TLS master and replica (tls-replication), a failover, and refusals."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from channels_fanout import ChannelLayerRefused, FanoutChannelLayer
from channels_fanout.operations.acl import SENTINEL
from tests.helpers import FAST, eventually, flows_again, receive, round_trip
from tests.redis_sentinel import MASTER_NAME, SentinelGroup
from tests.security.conftest import log_text
from tests.tls import CertificateAuthority, ServerTLS


@pytest.fixture(scope="module")
def tls_sentinels(tmp_path_factory, certificates) -> Iterator[SentinelGroup]:
    group = SentinelGroup(tmp_path_factory.mktemp("sentinels"), tls=certificates)
    group.start()
    yield group
    group.stop()


def sentinel_host(group: SentinelGroup, tls: ServerTLS, **sentinel_kwargs: Any) -> dict[str, Any]:
    """The hosts entry: TLS to the master (``ssl``) and to the sentinels (``sentinel_kwargs``)."""
    trust = {"ssl_ca_certs": str(tls.ca_file)}
    return {
        "sentinels": group.addresses, "master_name": MASTER_NAME, "ssl": True, **trust,
        "sentinel_kwargs": {"ssl": True, **trust, **sentinel_kwargs},
    }  # fmt: skip


async def refused(host: dict[str, Any]) -> tuple[FanoutChannelLayer, ChannelLayerRefused]:
    layer = FanoutChannelLayer(hosts=[host], stats_interval=0)
    for call in (layer.new_channel, lambda: layer.group_send("room", {"type": "x"})):
        started = time.monotonic()
        with pytest.raises(ChannelLayerRefused) as failure:
            await asyncio.wait_for(call(), 2)
        assert time.monotonic() - started < 1
    return layer, failure.value


async def test_tls_sentinels_and_master_carry_every_feature(tls_sentinels, certificates):
    layer = FanoutChannelLayer(hosts=[sentinel_host(tls_sentinels, certificates)], stats_interval=0)
    try:
        await round_trip(layer)
    finally:
        await layer.close()


async def test_sentinels_with_a_certificate_of_another_ca_are_refused(tls_sentinels, certificates, tmp_path, caplog):
    other = CertificateAuthority(tmp_path, "another CA")
    layer, refusal = await refused(sentinel_host(tls_sentinels, certificates, ssl_ca_certs=str(other.ca_file)))
    await layer.close()
    assert refusal.reason == "tls" and "TLS with Sentinel 127.0.0.1:" in str(refusal)
    assert "did not verify" in str(refusal)
    assert log_text(caplog, logging.ERROR).count("did not verify") == 1


async def test_a_master_with_a_certificate_of_another_ca_is_refused(tls_sentinels, certificates, tmp_path):
    other = CertificateAuthority(tmp_path, "another CA")
    host = {**sentinel_host(tls_sentinels, certificates), "ssl_ca_certs": str(other.ca_file)}
    layer, refusal = await refused(host)
    await layer.close()
    assert refusal.reason == "tls" and f"TLS with Redis master {MASTER_NAME!r} of sentinels" in str(refusal)


async def test_credentials_refused_by_the_sentinels_are_named_but_never_shown(tls_sentinels, certificates, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "Sentinel-s3cret-Passw0rd"
    layer, refusal = await refused(sentinel_host(tls_sentinels, certificates, username="nobody", password=secret))
    await layer.close()
    assert refusal.reason == "credentials" and "Sentinel 127.0.0.1:" in str(refusal)
    shown = "\n".join(
        [*(record.getMessage() for record in caplog.records), json.dumps(layer.stats()), repr(layer.config),
         "".join(traceback.format_exception(refusal))]
    )  # fmt: skip
    assert "refused the credentials" in shown and secret not in shown


async def test_a_failover_over_tls_reaches_the_promoted_replica(tmp_path, certificates):
    group = SentinelGroup(tmp_path, tls=certificates)
    group.start()
    receiver = FanoutChannelLayer(hosts=[sentinel_host(group, certificates)], stats_interval=0, **FAST)
    sender = FanoutChannelLayer(hosts=[sentinel_host(group, certificates)], stats_interval=0, **FAST)
    try:
        channel = await receiver.new_channel()
        await receiver.group_add("room", channel)
        await flows_again(sender, receiver, channel, "room")
        group.master.kill()
        await eventually(lambda: group.current_master() is group.replica, timeout=15, interval=0.1)
        assert await flows_again(sender, receiver, channel, "room", timeout=10) < 10
    finally:
        await receiver.close()
        await sender.close()
        group.stop()


@pytest.mark.parametrize("rule", [SENTINEL, "-@all +ping"])
async def test_a_sentinel_user_needs_sentinel_masters_and_nothing_else(tls_sentinels, certificates, rule):
    for sentinel in tls_sentinels.sentinels:
        with sentinel.client() as client:
            client.execute_command("ACL", "SETUSER", "layer", "reset", "on", ">sentinel-password", *rule.split())
            client.execute_command("ACL", "LOG", "RESET")
    host = sentinel_host(tls_sentinels, certificates, username="layer", password="sentinel-password")
    layer = FanoutChannelLayer(hosts=[host], stats_interval=0)
    try:
        if rule == SENTINEL:
            channel = await layer.new_channel()
            await layer.group_add("room", channel)
            await layer.group_send("room", {"type": "x"})
            assert (await receive(layer, channel))["type"] == "x"
            for sentinel in tls_sentinels.sentinels:
                with sentinel.client() as client:
                    assert client.acl_log() == []
        else:
            with pytest.raises(ChannelLayerRefused, match="refused SENTINEL MASTERS") as refusal:
                await asyncio.wait_for(layer.new_channel(), 2)
            assert refusal.value.permission == "+sentinel|masters"
    finally:
        await layer.close()
