import re

import pytest

from channels_fanout import FanoutChannelLayer
from channels_fanout.config import LayerConfig


def test_defaults_match_channels_redis():
    config = LayerConfig.from_options({})
    assert config.hosts == ({"address": "redis://localhost:6379"},)
    assert (config.prefix, config.expiry, config.group_expiry, config.capacity) == ("asgi", 60, 86400, 100)
    assert config.serializer_format == "msgpack"
    assert config.max_message_size == 1024 * 1024
    assert (config.presence_timeout, config.presence_message_type) == (10, None)


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        (["redis://h:1/2"], ({"address": "redis://h:1/2"},)),
        ([("h", 7000)], ({"host": "h", "port": 7000},)),
        ([{"host": "h", "port": 1, "password": "p"}], ({"host": "h", "port": 1, "password": "p"},)),
        (None, ({"address": "redis://localhost:6379"},)),
    ],
)
def test_hosts_accept_urls_pairs_and_redis_py_kwargs(hosts, expected):
    assert LayerConfig.from_options({"hosts": hosts}).hosts == expected


@pytest.mark.parametrize(
    ("options", "error", "names"),
    [
        ({"hosts": "redis://h"}, TypeError, "hosts"),
        ({"hosts": ["http://h"]}, ValueError, "hosts"),
        ({"hosts": [42]}, TypeError, "hosts"),
        ({"capacity": "10"}, TypeError, "capacity"),
        ({"capacity": 0}, ValueError, "capacity"),
        ({"expiry": -1}, ValueError, "expiry"),
        ({"expiry": True}, TypeError, "expiry"),
        ({"group_expiry": "1d"}, TypeError, "group_expiry"),
        ({"prefix": ""}, ValueError, "prefix"),
        ({"prefix": "a b"}, ValueError, "prefix"),
        ({"serializer_format": "pickle"}, ValueError, "serializer_format"),
        ({"channel_capacity": [("a", 1)]}, TypeError, "channel_capacity"),
        ({"channel_capacity": {"a*": 0}}, ValueError, "channel_capacity"),
        ({"symmetric_encryption_keys": "secret"}, TypeError, "symmetric_encryption_keys"),
        ({"max_message_size": 1.5}, TypeError, "max_message_size"),
        ({"gap_message_type": 3}, TypeError, "gap_message_type"),
        ({"stats_interval": "10s"}, TypeError, "stats_interval"),
        ({"stats_interval": -1}, ValueError, "stats_interval"),
        ({"presence_timeout": "10s"}, TypeError, "presence_timeout"),
        ({"presence_timeout": 0}, ValueError, "presence_timeout"),
        ({"presence_message_type": 3}, TypeError, "presence_message_type"),
        ({"presence_message_type": ""}, TypeError, "presence_message_type"),
        ({"random_prefix_length": 12}, TypeError, "random_prefix_length"),
        ({"on_disconnect": print}, TypeError, "on_disconnect"),
        ({"capactiy": 10}, TypeError, "capactiy"),
    ],
)
def test_bad_option_fails_at_construction_naming_the_option(options, error, names):
    with pytest.raises(error, match=re.escape(repr(names)) + "|" + re.escape(names)):
        FanoutChannelLayer(**options)


def test_channel_capacity_is_compiled_once_and_first_match_wins():
    layer = FanoutChannelLayer(capacity=7, channel_capacity={"http.*": 3, re.compile(r"^ws\."): 5, "*": 9})
    assert layer.get_capacity("http.request") == 3
    assert layer.get_capacity("ws.x") == 5
    assert layer.get_capacity("other") == 9
    assert all(hasattr(pattern, "match") for pattern, _ in layer.channel_capacity)


def test_stats_interval_defaults_to_ten_seconds_and_zero_turns_the_reports_off():
    assert LayerConfig.from_options({}).stats_interval == 10
    assert LayerConfig.from_options({"stats_interval": 0}).stats_interval == 0
    assert LayerConfig.from_options({"stats_interval": 1}).stats_interval == 1.0


def test_config_is_immutable():
    config = LayerConfig.from_options({})
    with pytest.raises(AttributeError):
        config.capacity = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (
            {"sentinels": [("s1", 26379), ["s2", "26380"]], "master_name": "main", "password": "p"},
            {
                "sentinels": (("s1", 26379), ("s2", 26380)),
                "master_name": "main",
                "password": "p",
                "sentinel_kwargs": {},
            },
        ),
        (
            {"sentinels": [("s1", 26379)], "master_name": "main", "sentinel_kwargs": {"password": "sp"}},
            {"sentinels": (("s1", 26379),), "master_name": "main", "sentinel_kwargs": {"password": "sp"}},
        ),
        ({"cluster": "redis://c1:7000"}, {"cluster": ("redis://c1:7000",)}),
        (
            {"cluster": [("c1", 7000), "rediss://c2:7001/0"], "password": "p"},
            {"cluster": ("redis://c1:7000", "rediss://c2:7001/0"), "password": "p"},
        ),
    ],
)
def test_sentinel_and_cluster_hosts_are_normalised_once_and_for_all(host, expected):
    assert LayerConfig.from_options({"hosts": [host]}).hosts == (expected,)
    assert LayerConfig.from_options({"hosts": [expected]}).hosts == (expected,)  # fanout_ping feeds them back


@pytest.mark.parametrize(
    ("hosts", "fix"),
    [
        ([{"sentinels": [("s", 26379)]}], "master_name"),
        ([{"sentinels": [], "master_name": "m"}], "(host, port) pairs"),
        ([{"sentinels": "s:26379", "master_name": "m"}], "(host, port) pairs"),
        ([{"sentinels": [("s", 26379)], "master_name": "m", "address": "redis://x"}], "remove 'address'"),
        ([{"sentinels": [("s", 26379)], "master_name": "m", "sentinel_kwargs": [1]}], "sentinel_kwargs"),
        ([{"cluster": "redis://c:7000/1"}], "database 0"),
        ([{"cluster": "http://c:7000"}], "redis:// or rediss://"),
        ([{"cluster": []}], "list of startup nodes"),
        ([{"cluster": "redis://c:7000", "host": "c"}], "remove 'host'"),
        ([{"cluster": "redis://c:7000"}, "redis://other:6379"], "the only host"),
    ],
)
def test_bad_sentinel_or_cluster_host_fails_naming_hosts_and_the_fix(hosts, fix):
    with pytest.raises((TypeError, ValueError), match=re.escape(fix)) as failure:
        FanoutChannelLayer(hosts=hosts)
    assert "'hosts'" in str(failure.value)
