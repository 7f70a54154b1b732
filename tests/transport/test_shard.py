"""Which hub serves which kind of ``hosts`` entry; nothing here connects."""

from __future__ import annotations

from channels_fanout.config import LayerConfig
from channels_fanout.transport.cluster.hub import ClusterHub
from channels_fanout.transport.hub import Hub
from channels_fanout.transport.sentinel import MasterConnection, MasterSSLConnection, master_host
from channels_fanout.transport.shard import open_shard

OPTIONS = {"heartbeat_interval": 1.0, "command_timeout": 2.0, "reconnect_max_delay": 1.0}


def normalised(host):
    return LayerConfig.from_options({"hosts": [host]}).hosts[0]


async def test_each_kind_of_host_gets_its_hub():
    hosts = [
        normalised("redis://127.0.0.1:1"),
        normalised({"sentinels": [("127.0.0.1", 1)], "master_name": "main"}),
        normalised({"cluster": "redis://127.0.0.1:1"}),
    ]
    shards = [open_shard(host, on_message=print, on_lost=print, on_gap=print, **OPTIONS) for host in hosts]
    try:
        assert [type(shard) for shard in shards] == [Hub, Hub, ClusterHub]
        assert shards[1].description == "master 'main' of sentinels 127.0.0.1:1"
        assert shards[2].description == "cluster at 127.0.0.1:1"
    finally:
        for shard in shards:
            await shard.close()


def test_sentinel_host_asks_the_sentinels_on_every_connection_with_command_timeout():
    host = master_host(normalised({"sentinels": [("s", 26379)], "master_name": "main", "password": "p"}), 2.0)
    assert host["connection_class"] is MasterConnection
    assert host["password"] == "p"  # for the master; the sentinels get sentinel_kwargs
    assert host["locator"].sentinels == (("s", 26379),)
    sentinel_kwargs = host["locator"]._sentinel_kwargs
    assert (sentinel_kwargs["socket_timeout"], sentinel_kwargs["socket_connect_timeout"]) == (2.0, 2.0)
    assert sentinel_kwargs["retry"].get_retries() == 0  # the next sentinel is the retry
    assert "sentinels" not in host and "master_name" not in host


def test_sentinel_host_keeps_its_own_sentinel_timeouts_and_tls():
    entry = {"sentinels": [("s", 1)], "master_name": "m", "ssl": True, "sentinel_kwargs": {"socket_timeout": 9}}
    host = master_host(normalised(entry), 2.0)
    assert host["connection_class"] is MasterSSLConnection
    assert host["locator"]._sentinel_kwargs["socket_timeout"] == 9
