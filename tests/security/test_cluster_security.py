"""A Redis Cluster over TLS (clients, bus and replication: tls-cluster yes) with an ACL user on every node."""

from __future__ import annotations

import asyncio
import gc
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from channels_fanout import ChannelLayerRefused, FanoutChannelLayer
from channels_fanout.operations.acl import acl_rule
from channels_fanout.operations.ping import ping
from tests.helpers import eventually, round_trip
from tests.redis_cluster import RedisClusterServers
from tests.tls import CertificateAuthority

RULE = acl_rule("app", cluster=True)


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory, certificates) -> Iterator[RedisClusterServers]:
    cluster = RedisClusterServers(tmp_path_factory.mktemp("cluster"), tls=certificates)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster(tls_cluster) -> RedisClusterServers:
    """The module's cluster with no keys, no ACL LOG and the user "app" (password "app-password") on every node."""
    for node in tls_cluster.live:
        with node.client() as client:
            if client.info("replication")["role"] == "master":
                client.flushall()
            client.execute_command("ACL", "SETUSER", "app", "reset", "on", ">app-password", *RULE.split())
            client.execute_command("ACL", "LOG", "RESET")
    return tls_cluster


@pytest.fixture(autouse=True)
def no_unclosed_resources() -> Iterator[None]:
    """As in tests/transport/cluster: redis-py's cluster client drops replaced nodes' connections unclosed."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def cluster_host(cluster: RedisClusterServers, ca_file: Any, user: str = "app", password: str = "app-password") -> dict:
    return {"cluster": cluster.url, "ssl_ca_certs": str(ca_file), "username": user, "password": password}


def refusals_logged(cluster: RedisClusterServers) -> list[Any]:
    entries = []
    for node in cluster.live:
        with node.client() as client:
            entries += client.acl_log()
    return entries


async def test_every_feature_over_tls_under_exactly_the_cluster_rule(cluster, certificates):
    host = cluster_host(cluster, certificates.ca_file)
    layer = FanoutChannelLayer(hosts=[host], prefix="app", stats_interval=0.1, heartbeat_interval=0.1)
    try:
        await round_trip(layer)
        for _ in range(100):  # the stats reporter writes again within stats_interval of the flush
            if await layer.cluster_stats():
                break
            await asyncio.sleep(0.05)
        assert len(await layer.cluster_stats()) == 1
        (pong,) = await ping({"hosts": [host], "prefix": "app"}, timeout=2)
        assert pong.error is None
    finally:
        await layer.close()
    assert refusals_logged(cluster) == []


CALLS_NEEDING = [
    ("+cluster|slots", lambda layer: layer.new_channel()),
    ("+command", lambda layer: layer.group_send("room", {"type": "x"})),
    ("+ssubscribe", lambda layer: layer.new_channel()),
    ("+spublish", lambda layer: layer.group_send("room", {"type": "x"})),
    ("&app:*", lambda layer: layer.new_channel()),
]


@pytest.mark.parametrize(("missing", "call"), CALLS_NEEDING, ids=[missing for missing, _ in CALLS_NEEDING])
async def test_a_cluster_rule_missing_one_permission_fails_naming_it(cluster, certificates, missing, call):
    for node in cluster.live:
        with node.client() as client:
            rule = [part for part in RULE.split() if part != missing]
            client.execute_command("ACL", "SETUSER", "app", "reset", "on", ">app-password", *rule)
    layer = FanoutChannelLayer(hosts=[cluster_host(cluster, certificates.ca_file)], prefix="app", stats_interval=0)
    try:
        started = time.monotonic()
        with pytest.raises(ChannelLayerRefused) as refused:
            await asyncio.wait_for(call(layer), 3)
        assert time.monotonic() - started < 1.5
    finally:
        await layer.close()
    assert refused.value.permission == missing, str(refused.value)


async def test_a_wrong_password_on_a_cluster_is_refused_at_the_first_command(cluster, certificates):
    layer = FanoutChannelLayer(
        hosts=[cluster_host(cluster, certificates.ca_file, password="wrong")], prefix="app", stats_interval=0
    )
    try:
        for call in (layer.new_channel, lambda: layer.group_send("room", {"type": "x"})):
            with pytest.raises(ChannelLayerRefused, match="refused the credentials"):
                await asyncio.wait_for(call(), 2)
        (error,) = [shard["error"] for shard in layer.stats()["shards"].values()]
        assert "refused the credentials" in error
    finally:
        await layer.close()


async def test_a_cluster_certificate_of_another_ca_is_refused_at_the_first_command(cluster, tmp_path):
    other = CertificateAuthority(tmp_path, "another CA")
    layer = FanoutChannelLayer(hosts=[cluster_host(cluster, other.ca_file)], prefix="app", stats_interval=0)
    try:
        for call in (layer.new_channel, lambda: layer.group_send("room", {"type": "x"})):
            with pytest.raises(ChannelLayerRefused, match="the server's certificate did not verify") as refused:
                await asyncio.wait_for(call(), 2)
            assert refused.value.reason == "tls"
    finally:
        await layer.close()


def slot_map_reads(cluster: RedisClusterServers) -> int:
    total = 0
    for node in cluster.live:
        with node.client() as client:
            total += int(client.info("commandstats").get("cmdstat_cluster|slots", {}).get("calls", 0))
    return total


async def test_a_refused_publish_does_not_send_the_router_to_read_the_slot_map_again(cluster, certificates):
    for node in cluster.live:
        with node.client() as client:
            rule = [part for part in RULE.split() if part != "+spublish"]
            client.execute_command("ACL", "SETUSER", "app", "reset", "on", ">app-password", *rule)
    layer = FanoutChannelLayer(hosts=[cluster_host(cluster, certificates.ca_file)], prefix="app", stats_interval=0)
    try:
        await layer.new_channel()  # the slot map is read
        reads = slot_map_reads(cluster)
        for _ in range(5):
            with pytest.raises(ChannelLayerRefused, match="needs \\+spublish"):
                await layer.group_send("room", {"type": "x"})
        with pytest.raises(AssertionError):  # no read within half a second
            await eventually(lambda: slot_map_reads(cluster) > reads, timeout=0.5, interval=0.1)
    finally:
        await layer.close()
