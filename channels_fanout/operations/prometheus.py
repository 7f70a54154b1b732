"""``layer.stats()`` in the Prometheus text format: a collector, and a Django view serving it at ``/metrics``.

Needs the ``prometheus`` extra (``pip install channels-fanout[prometheus]``). Nothing is registered
globally: the view renders a registry of its own on every request, and code that keeps its own
registry registers ``FanoutCollector()`` there. Inbox names are not exported (label values without
bound); ``stats()["top_inboxes"]`` and ``fanout_status`` show the most backed-up ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse

from ..monitoring.stats import DROP_REASONS
from .aliases import fanout_aliases

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from ..layer import FanoutChannelLayer

__all__ = ["FanoutCollector", "metrics_view"]


def _name(suffix: str) -> str:
    return f"channels_fanout_{suffix}"


_GAUGES = (
    ("channels", "channels", "Open local inboxes: new_channel() names and worker channels read here."),
    ("groups", "groups", "Groups with at least one local member."),
    ("group_members", "members", "Local group memberships."),
    ("inbox_backlog", "backlog", "Messages waiting in local inboxes."),
    ("inbox_high_water", "inbox_high_water", "The most messages any local inbox has held at once."),
    ("event_loops", "loops", "Event loops the layer is live on."),
    ("presence_tracked", "tracked", "Local channels tracked in a group's presence (one per group and channel)."),
)
_MESSAGES = (
    ("messages_published", "published", "Messages handed to Redis: a PUBLISH, or a push onto a worker list."),
    ("messages_received", "received", "Messages that arrived from Redis for a local channel or group."),
    ("messages_delivered", "delivered", "Messages put into a local inbox, once per receiving channel."),
)
_HISTORY_COUNTERS = (
    ("history_replayed", "replayed", "Messages of groups with history delivered by replays after a lost subscription."),
    ("history_unrecovered", "unrecovered", "Replays whose gap the history could not cover (the gap was signalled)."),
    ("history_reads", "reads", "Reads of a group's history: on subscribing, replays, group_history()."),
)
_PRESENCE = (
    ("presence_scripts", "scripts", "Presence scripts run: track, untrack, list, beats and re-assertions."),
    ("presence_reaped", "reaped", "Dead processes whose presence this process's scripts removed."),
    ("presence_resyncs", "resyncs", "Re-assertions of this process's presence: Redis lost it, or a command failed."),
)
_SHARD_COUNTERS = (
    ("reconnects", "reconnects", "Subscriber reconnections after losing subscriptions."),
    ("gaps", "gaps", "Reconnections after which subscribed topics had missed messages."),
)


def _client() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise ImportError(
            "channels_fanout.prometheus needs prometheus_client: pip install channels-fanout[prometheus]"
        ) from exc
    return prometheus_client


def _live_layers() -> dict[str, FanoutChannelLayer]:
    """This process's layer of every CHANNEL_LAYERS alias that uses this backend (made if not yet used)."""
    from channels.layers import channel_layers

    return {alias: channel_layers[alias] for alias in fanout_aliases()}


class FanoutCollector:
    """A Prometheus collector of ``stats()`` for each layer, labelled by its CHANNEL_LAYERS alias."""

    def __init__(self, layers: Callable[[], Mapping[str, FanoutChannelLayer]] = _live_layers) -> None:
        _client()
        self._layers = layers

    def describe(self) -> Iterator[Metric]:
        """The metric names, without reading any layer (what a registry checks for clashes)."""
        return _families({})

    def collect(self) -> Iterator[Metric]:
        return _families({alias: layer.stats() for alias, layer in self._layers().items()})


def metrics_view(request: HttpRequest) -> HttpResponse:
    """The counters of this process's layers in the Prometheus text format (route it at ``/metrics``)."""
    client = _client()
    registry = client.CollectorRegistry()
    registry.register(FanoutCollector())
    return HttpResponse(client.generate_latest(registry), content_type=client.CONTENT_TYPE_LATEST)


def _families(stats: Mapping[str, dict[str, Any]]) -> Iterator[Metric]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    for suffix, key, documentation in _GAUGES:
        family = GaugeMetricFamily(_name(suffix), documentation, labels=["alias"])
        for alias, report in stats.items():
            family.add_metric([alias], report[key])
        yield family
    for suffix, key, documentation in _MESSAGES:
        counter = CounterMetricFamily(_name(suffix), documentation, labels=["alias"])
        for alias, report in stats.items():
            counter.add_metric([alias], report["messages"][key])
        yield counter
    dropped = CounterMetricFamily(
        _name("messages_dropped"), f"Messages that reached no receiver, by reason: {', '.join(DROP_REASONS)}.",
        labels=["alias", "reason"],
    )
    for alias, report in stats.items():
        for reason, count in report["messages"]["dropped"].items():
            dropped.add_metric([alias, reason], count)
    yield dropped
    history = GaugeMetricFamily(
        _name("history_groups"), "Groups with history and local members, whose position this process keeps.",
        labels=["alias"],
    )
    for alias, report in stats.items():
        history.add_metric([alias], report["history"]["groups"])
    yield history
    for suffix, key, documentation in _HISTORY_COUNTERS:
        counter = CounterMetricFamily(_name(suffix), documentation, labels=["alias"])
        for alias, report in stats.items():
            counter.add_metric([alias], report["history"][key])
        yield counter
    for suffix, key, documentation in _PRESENCE:
        counter = CounterMetricFamily(_name(suffix), documentation, labels=["alias"])
        for alias, report in stats.items():
            counter.add_metric([alias], report["presence"][key])
        yield counter
    yield from _shard_families(stats)


def _shard_families(stats: Mapping[str, dict[str, Any]]) -> Iterator[Metric]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    shards = [(alias, shard, values) for alias, report in stats.items() for shard, values in report["shards"].items()]
    labels = ["alias", "shard"]
    subscriptions = GaugeMetricFamily(_name("subscriptions"), "Topics subscribed on a Redis host.", labels=labels)
    subscribed = GaugeMetricFamily(
        _name("subscribed"), "1 if every wanted topic is confirmed on a live connection to the host.", labels=labels
    )
    refused = GaugeMetricFamily(
        _name("refused"), "1 while Redis refuses the subscriber (credentials, TLS, ACL): stats() error.", labels=labels
    )
    commands = CounterMetricFamily(_name("publish_commands"), "Pipelined commands answered.", labels=labels)
    failed = CounterMetricFamily(_name("publish_failed"), "Commands failed: Redis unreachable or slow.", labels=labels)
    batches = HistogramMetricFamily(
        _name("publish_batch_seconds"), "Round trip of each pipelined batch of commands.", labels=labels
    )
    counters = [CounterMetricFamily(_name(suffix), doc, labels=labels) for suffix, _, doc in _SHARD_COUNTERS]
    for alias, shard, values in shards:
        subscriptions.add_metric([alias, shard], values["subscriptions"])
        subscribed.add_metric([alias, shard], int(values["subscribed"]))
        refused.add_metric([alias, shard], int(values["error"] is not None))
        commands.add_metric([alias, shard], values["publish"]["commands"])
        failed.add_metric([alias, shard], values["publish"]["failed"])
        batches.add_metric(
            [alias, shard], list(values["publish"]["buckets"].items()), sum_value=values["publish"]["seconds_total"]
        )
        for counter, (_, key, _) in zip(counters, _SHARD_COUNTERS, strict=True):
            counter.add_metric([alias, shard], values[key])
    yield from (subscriptions, subscribed, refused, commands, failed, batches, *counters)
