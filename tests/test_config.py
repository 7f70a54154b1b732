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


def test_the_config_repr_shows_no_password_and_no_encryption_key():
    config = LayerConfig.from_options(
        {
            "hosts": ["redis://app:url-secret@h:1/0", {"host": "h", "password": "dict-secret", "ssl_password": "pem"}],
            "symmetric_encryption_keys": ["key-secret"],
        }
    )
    shown = repr(config)
    assert "redis://h:1/0" in shown and "<1 keys>" in shown
    assert not any(secret in shown for secret in ("url-secret", "dict-secret", "pem", "key-secret"))


@pytest.mark.parametrize("host", ["http://app:url-secret@h:1", "redis://app:url-secret@h:1/2?x=1"])
def test_a_bad_host_error_does_not_repeat_the_password(host):
    hosts = [host] if host.startswith("http") else [{"cluster": [host]}]
    with pytest.raises(ValueError, match="'hosts'") as failure:
        LayerConfig.from_options({"hosts": hosts})
    assert "url-secret" not in str(failure.value)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ({"address": "rediss://h", "ssl_keyfile": "k", "ssl_certfile": "c"}, ""),
        ({"address": "rediss://h", "ssl_keyfile": "k", "ssl_password": "pw"}, "pw"),
        ("rediss://h:1/0?ssl_certfile=c&ssl_keyfile=k", ""),
        ({"cluster": "rediss://h:1?ssl_certfile=c"}, ""),
        ({"sentinels": [("h", 1)], "master_name": "m", "ssl": True, "ssl_certfile": "c"}, ""),
        ({"address": "rediss://h", "ssl_ca_certs": "ca"}, None),
    ],
)
def test_a_client_certificate_without_ssl_password_gets_an_empty_one_so_openssl_never_prompts(host, expected):
    (normalised,) = LayerConfig.from_options({"hosts": [host]}).hosts
    assert normalised.get("ssl_password") == expected


def test_sentinel_kwargs_with_a_client_certificate_get_an_empty_ssl_password_too():
    host = {"sentinels": [("h", 1)], "master_name": "m", "sentinel_kwargs": {"ssl": True, "ssl_keyfile": "k"}}
    (normalised,) = LayerConfig.from_options({"hosts": [host]}).hosts
    assert normalised["sentinel_kwargs"]["ssl_password"] == ""
