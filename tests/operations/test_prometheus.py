"""The Prometheus collector and /metrics view: stats() in the text format, with no global registry state."""

from __future__ import annotations

import sys

import pytest
from asgiref.sync import async_to_sync
from django.test import RequestFactory
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import DuplicateTimeseries

from channels_fanout.monitoring.stats import DROP_REASONS
from channels_fanout.operations.prometheus import FanoutCollector, metrics_view
from tests.helpers import receive


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a text exposition, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def render(collector: FanoutCollector) -> str:
    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()


async def test_the_collector_exports_every_counter_of_stats(make_layer, redis_url):
    receiver, sender = make_layer(stats_interval=0, capacity=1), make_layer(stats_interval=0)
    channel = await receiver.new_channel()
    await receiver.group_add("room", channel)
    for _ in range(3):
        await sender.group_send("room", {"type": "m"})
    assert await receive(receiver, channel) == {"type": "m"}
    stats = receiver.stats()
    got = samples(render(FanoutCollector(lambda: {"chat": receiver})))
    alias = (("alias", "chat"),)
    shard = (("alias", "chat"), ("shard", redis_url))
    assert got[("channels_fanout_channels", alias)] == 1
    assert got[("channels_fanout_groups", alias)] == got[("channels_fanout_group_members", alias)] == 1
    assert got[("channels_fanout_messages_received_total", alias)] == stats["messages"]["received"] > 0
    assert got[("channels_fanout_messages_delivered_total", alias)] == stats["messages"]["delivered"] > 0
    assert got[("channels_fanout_inbox_high_water", alias)] == 1
    dropped = {
        reason: got[("channels_fanout_messages_dropped_total", (*alias, ("reason", reason)))] for reason in DROP_REASONS
    }
    assert dropped == {**dict.fromkeys(DROP_REASONS, 0), "inbox_full": stats["messages"]["dropped"]["inbox_full"]}
    assert got[("channels_fanout_subscriptions", shard)] == 3 and got[("channels_fanout_subscribed", shard)] == 1
    assert got[("channels_fanout_refused", shard)] == 0
    assert got[("channels_fanout_reconnects_total", shard)] == got[("channels_fanout_gaps_total", shard)] == 0
    publish = sender.stats()["shards"][redis_url]["publish"]
    sent = samples(render(FanoutCollector(lambda: {"chat": sender})))
    assert sent[("channels_fanout_messages_published_total", alias)] == 3
    assert sent[("channels_fanout_publish_commands_total", shard)] == publish["commands"]
    assert sent[("channels_fanout_publish_batch_seconds_count", shard)] == publish["batches"]
    infinite = tuple(sorted((*shard, ("le", "+Inf"))))
    assert sent[("channels_fanout_publish_batch_seconds_bucket", infinite)] == publish["batches"]
    assert sent[("channels_fanout_publish_batch_seconds_sum", shard)] == pytest.approx(publish["seconds_total"])


async def test_the_collector_exports_presence(make_layer):
    layer = make_layer(stats_interval=0)
    channel = await layer.new_channel()
    await layer.presence_track("room", channel, "alice")
    await layer.presence_list("room")
    stats = layer.stats()
    got = samples(render(FanoutCollector(lambda: {"chat": layer})))
    alias = (("alias", "chat"),)
    assert got[("channels_fanout_presence_tracked", alias)] == stats["tracked"] == 1
    assert got[("channels_fanout_presence_scripts_total", alias)] == stats["presence"]["scripts"] == 2
    assert got[("channels_fanout_presence_reaped_total", alias)] == 0
    assert got[("channels_fanout_presence_resyncs_total", alias)] == 0


def test_a_registry_sees_the_names_without_reading_a_layer():
    registry = CollectorRegistry()
    registry.register(FanoutCollector(lambda: pytest.fail("describe() must not read the layers")))
    with pytest.raises(DuplicateTimeseries, match="channels_fanout_channels"):
        registry.register(FanoutCollector())


def test_the_view_serves_this_process_s_layers_in_the_text_format(settings, redis_url):
    from channels.layers import channel_layers

    config = {"hosts": [redis_url], "stats_interval": 0}
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_fanout.FanoutChannelLayer", "CONFIG": config},
        "memory": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
    }
    layer = channel_layers["default"]
    try:
        async_to_sync(layer.group_send)("room", {"type": "m"})
        before = set(REGISTRY._names_to_collectors)
        response = metrics_view(RequestFactory().get("/metrics"))
        assert set(REGISTRY._names_to_collectors) == before  # nothing registered globally
    finally:
        async_to_sync(layer.close)()
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain; version=")
    got = samples(response.content.decode())
    assert got[("channels_fanout_messages_published_total", (("alias", "default"),))] == 1
    assert {labels for name, labels in got if name == "channels_fanout_channels"} == {(("alias", "default"),)}


def test_without_prometheus_client_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ImportError, match=r"pip install channels-fanout\[prometheus\]"):
        FanoutCollector()


def test_the_testproject_serves_metrics_at_slash_metrics(client, settings, redis_url):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_fanout.FanoutChannelLayer", "CONFIG": {"hosts": [redis_url]}},
    }
    response = client.get("/metrics")
    assert response.status_code == 200
    assert samples(response.content.decode())[("channels_fanout_channels", (("alias", "default"),))] == 0


async def test_the_collector_exports_the_history_counters(make_layer):
    history = {"room": {"size": 10, "ttl": 60}}
    layer = make_layer(stats_interval=0, history=history)
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    await layer.group_send("room", {"type": "m"})
    await receive(layer, channel)
    await layer.group_history("room")
    got = samples(render(FanoutCollector(lambda: {"chat": layer})))
    alias = (("alias", "chat"),)
    assert got[("channels_fanout_history_groups", alias)] == 1
    assert got[("channels_fanout_history_reads_total", alias)] == layer.stats()["history"]["reads"] == 2
    assert got[("channels_fanout_history_replayed_total", alias)] == 0
    assert got[("channels_fanout_history_unrecovered_total", alias)] == 0
