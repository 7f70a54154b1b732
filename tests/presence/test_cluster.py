"""Presence on a Redis Cluster (three primaries with a replica each): each group's keys, scripts and events
stay in the slot of the group's topic, and SPUBLISH carries the events."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator

import pytest
from redis.crc import key_slot

from channels_fanout.naming import Names
from tests.presence.kill_one import presence_keys, track_kill_and_hear_the_leaves
from tests.redis_cluster import RedisClusterServers

NAMES = Names("asgi")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[RedisClusterServers]:
    servers = RedisClusterServers(tmp_path_factory.mktemp("cluster"))
    servers.start()
    yield servers
    servers.stop()


@pytest.fixture(autouse=True)
def no_unclosed_resources() -> Iterator[None]:
    """Collect leaked sockets quietly here, as tests/transport/cluster/test_cluster.py does and for its reason:
    redis-py's cluster client drops objects with their connections unclosed, out of this layer's reach."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


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
