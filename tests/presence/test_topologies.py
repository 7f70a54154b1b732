"""Presence on several Redis hosts and on a Sentinel-managed master: each group's keys, scripts and events
stay on the host of the group's topic. The Redis Cluster has tests/presence/test_cluster.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from channels_fanout import FanoutChannelLayer
from channels_fanout.naming import Names
from channels_fanout.transport.sharding import shard_of
from tests.helpers import FAST, eventually
from tests.presence.kill_one import OPTIONS, presence_keys, track_kill_and_hear_the_leaves
from tests.redis_sentinel import MASTER_NAME, SentinelGroup
from tests.redis_server import RedisServer

NAMES = Names("asgi")


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


# A Sentinel-managed master


@pytest.fixture
def sentinels(tmp_path) -> Iterator[SentinelGroup]:
    group = SentinelGroup(tmp_path)
    group.start()
    yield group
    group.stop()


async def test_through_sentinel_presence_survives_a_failover(sentinels, make_layer):
    host = {"sentinels": sentinels.addresses, "master_name": MASTER_NAME}
    # The default presence_timeout (10 s) outlasts the failover: a failover longer than it is a
    # partition, and the tracker would be reaped and come back (tests/presence/test_processes.py).
    options = {**OPTIONS, **FAST, "presence_timeout": 10}
    tracker: FanoutChannelLayer = make_layer(hosts=[host], **options)
    channel = await tracker.new_channel()
    await tracker.presence_track("room", channel, "alice")
    assert await tracker.presence_list("room") == {"alice": [{}]}
    sentinels.master.kill()
    await eventually(lambda: sentinels.current_master() is sentinels.replica, timeout=15, interval=0.1)
    with sentinels.replica.client() as client:
        # Replicated, or re-asserted by the tracker's next beat on the new master: either way, there.
        await eventually(lambda: client.hkeys("asgi:presence:{room}") == [channel.encode()], timeout=10 / 3 + 5)
    listener: FanoutChannelLayer = make_layer(hosts=[host], **options)
    assert await listener.presence_list("room") == {"alice": [{}]}
