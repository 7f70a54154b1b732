"""Presence on several Redis hosts, a Redis Cluster and a Sentinel-managed master: each group's keys, scripts
and events stay on the host (or slot) of the group's topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis.crc import key_slot

from channels_fanout import ChannelLayerUnavailable, FanoutChannelLayer
from channels_fanout.naming import Names
from channels_fanout.transport.sharding import shard_of
from tests.helpers import FAST, eventually, receive
from tests.layer_process import LayerProcess
from tests.redis_cluster import RedisClusterServers
from tests.redis_sentinel import MASTER_NAME, SentinelGroup
from tests.redis_server import RedisServer

NAMES = Names("asgi")
TIMEOUT = 1.5
OPTIONS = {"presence_timeout": TIMEOUT, "presence_message_type": "presence", "stats_interval": 0}


def presence_keys(server: RedisServer) -> set[str]:
    with server.client() as client:
        return {key.decode() for key in client.keys("asgi:presence*")}


async def track_kill_and_hear_the_leaves(
    hosts: list[Any], url: str, groups: list[str], make_layer
) -> tuple[FanoutChannelLayer, dict[str, str]]:
    """Two processes track in every group; one is killed; a listener hears each group's leave once."""
    keeper, victim = LayerProcess(url, hosts=hosts, **OPTIONS), LayerProcess(url, hosts=hosts, **OPTIONS)
    try:
        listener: FanoutChannelLayer = make_layer(hosts=hosts, **OPTIONS, **FAST)
        ears = {}
        for group in groups:
            ears[group] = await listener.new_channel()
            await listener.group_add(group, ears[group])
            keeper.ask(track=group, key="keeper")
            victim.ask(track=group, key="victim", meta={"group": group})
        for group in groups:
            assert sorted(await listener.presence_list(group)) == ["keeper", "victim"]
            assert {(await receive(listener, ears[group]))["group"] for _ in range(2)} == {group}
        victim.process.kill()
        for group in groups:
            left = await receive(listener, ears[group], TIMEOUT + TIMEOUT / 3 + 2)
            assert left["leaves"] == {"victim": {"metas": [{"group": group}]}}
        for group in groups:
            with pytest.raises(asyncio.TimeoutError):
                await receive(listener, ears[group], 0.3)
            assert await listener.presence_list(group) == {"keeper": [{}]}
        return listener, ears
    finally:
        keeper.stop()
        victim.stop()


# Several plain hosts


@pytest.fixture
def three_hosts(tmp_path) -> Iterator[list[RedisServer]]:
    servers = [RedisServer(tmp_path / f"redis{index}") for index in range(3)]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


def group_on_host(host: int, hosts: int = 3) -> str:
    return next(f"room{n}" for n in range(10_000) if shard_of(NAMES.group_topic(f"room{n}"), hosts) == host)


async def test_on_several_hosts_a_group_s_presence_lives_on_its_topic_s_host(three_hosts, make_layer):
    urls = [server.url for server in three_hosts]
    groups = [group_on_host(host) for host in range(3)]
    await track_kill_and_hear_the_leaves(urls, urls[0], groups, make_layer)
    for server, group in zip(three_hosts, groups, strict=True):
        assert presence_keys(server) and all(f"{{{group}}}" in key for key in presence_keys(server))


# A Redis Cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[RedisClusterServers]:
    servers = RedisClusterServers(tmp_path_factory.mktemp("cluster"))
    servers.start()
    yield servers
    servers.stop()


async def test_on_a_cluster_a_group_s_presence_lives_in_its_topic_s_slot(cluster, make_layer):
    hosts = [{"cluster": cluster.url}]
    primaries = cluster.primaries()
    groups = [
        next(f"room{n}" for n in range(100_000) if key_slot(NAMES.group_topic(f"room{n}")) in cluster.slots_of(p))
        for p in primaries
    ]
    await track_kill_and_hear_the_leaves(hosts, cluster.url, groups, make_layer)
    for primary, group in zip(primaries, groups, strict=True):
        # The keeper's entries, on the primary that owns the group's slot and nowhere else.
        assert presence_keys(primary) and all(f"{{{group}}}" in key for key in presence_keys(primary))


# A Sentinel-managed master


@pytest.fixture
def sentinels(tmp_path) -> Iterator[SentinelGroup]:
    group = SentinelGroup(tmp_path)
    group.start()
    yield group
    group.stop()


async def test_through_sentinel_presence_survives_a_failover(sentinels, make_layer):
    host = {"sentinels": sentinels.addresses, "master_name": MASTER_NAME}
    tracker: FanoutChannelLayer = make_layer(hosts=[host], **OPTIONS, **FAST)
    listener: FanoutChannelLayer = make_layer(hosts=[host], **OPTIONS, **FAST)
    channel = await tracker.new_channel()
    await tracker.presence_track("room", channel, "alice")
    assert await listener.presence_list("room") == {"alice": [{}]}
    sentinels.master.kill()
    await eventually(lambda: sentinels.current_master() is sentinels.replica, timeout=15, interval=0.1)
    # Replicated, or re-asserted by the tracker's next beat: either way it is there again.
    deadline = time.monotonic() + TIMEOUT + 5
    while True:
        try:
            if await listener.presence_list("room") == {"alice": [{}]}:
                break
        except ChannelLayerUnavailable:  # the listener's own connection is still finding the new master
            pass
        assert time.monotonic() < deadline, "alice is not listed after the failover"
        await asyncio.sleep(0.1)
    with sentinels.replica.client() as client:
        assert client.hkeys("asgi:presence:{room}") == [channel.encode()]
