"""A Sentinel-monitored master, for real: the master is killed, the sentinels promote its replica."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from channels_fanout import ChannelLayerUnavailable, FanoutChannelLayer, signals
from tests.helpers import (
    FAST,
    Collector,
    Numbered,
    assert_no_silent_hole,
    eventually,
    flows_again,
    numsub,
    pubsub_clients,
)
from tests.redis_sentinel import MASTER_NAME, SentinelGroup
from tests.redis_server import free_port


@pytest.fixture
def sentinels(tmp_path) -> Iterator[SentinelGroup]:
    group = SentinelGroup(tmp_path)
    group.start()
    yield group
    group.stop()


@pytest.fixture
async def make_sentinel_layer(sentinels):
    layers = []

    def make(**options):
        host = {"sentinels": sentinels.addresses, "master_name": MASTER_NAME}
        layer = FanoutChannelLayer(hosts=[host], **{**FAST, **options})
        layers.append(layer)
        return layer

    yield make
    for layer in layers:
        await asyncio.wait_for(layer.close(), 5)


async def test_failover_finds_the_promoted_replica_resubscribes_and_signals_the_gap(sentinels, make_sentinel_layer):
    receiver, sender = make_sentinel_layer(), make_sentinel_layer()
    channel = await receiver.new_channel()
    await receiver.group_add("room", channel)
    await flows_again(sender, receiver, channel, "room")
    with sentinels.master.client() as client:
        assert numsub(client, "asgi:group:{room}") == 1
    signalled = []

    def on_gap(sender, channels, outage, **kwargs):
        signalled.append((sender, channels, outage))

    signals.gap.connect(on_gap)
    try:
        sentinels.master.kill()
        await eventually(lambda: sentinels.current_master() is sentinels.replica, timeout=15, interval=0.1)
        assert await flows_again(sender, receiver, channel, "room", timeout=10) < 10
        await eventually(lambda: signalled)
    finally:
        signals.gap.disconnect(on_gap)
    (layer, channels, outage), *_ = signalled
    assert layer is receiver and channel in channels and outage > 0
    with sentinels.replica.client() as client:
        assert numsub(client, "asgi:group:{room}") == 1
        # The sentinels hold subscriber connections of their own (named sentinel-...-pubsub).
        assert len([c for c in pubsub_clients(client) if not c["name"].startswith("sentinel-")]) == 1


async def test_no_sentinel_answering_fails_a_send_promptly_naming_the_master():
    layer = FanoutChannelLayer(hosts=[{"sentinels": [("127.0.0.1", free_port())], "master_name": "main"}], **FAST)
    try:
        started = time.monotonic()
        with pytest.raises(ChannelLayerUnavailable, match="master 'main' of sentinels"):
            await layer.group_send("room", {"type": "lost"})
        assert time.monotonic() - started < 2
    finally:
        await layer.close()


async def test_with_history_a_failover_is_recovered_or_signalled_never_a_silent_hole(sentinels, make_sentinel_layer):
    history = {"room": {"size": 10_000, "ttl": 60}}
    receiver, sender = make_sentinel_layer(history=history), make_sentinel_layer(history=history)
    channel = await receiver.new_channel()
    await receiver.group_add("room", channel)
    gaps: list[dict[str, list[str]]] = []

    def on_gap(sender, groups, **kwargs):
        gaps.append(groups)

    signals.gap.connect(on_gap)
    numbered, collector = Numbered(sender, "room"), Collector(receiver, channel)
    try:
        numbered.start()
        await eventually(lambda: len(numbered.acknowledged) > 50)
        sentinels.master.kill()
        await eventually(lambda: sentinels.current_master() is sentinels.replica, timeout=15, interval=0.1)
        after = len(numbered.acknowledged)
        await eventually(lambda: len(numbered.acknowledged) > after + 50, timeout=10)
        await numbered.stop()
        received = await collector.until_quiet()
    finally:
        await numbered.stop()
        await collector.until_quiet(0)
        signals.gap.disconnect(on_gap)
    assert_no_silent_hole(numbered.acknowledged, received, "room", gaps)
    assert received[-1]["n"] == numbered.acknowledged[-1]  # and it flows on the promoted replica
    assert receiver.stats()["history"]["reads"] >= 2  # where it subscribed, and the replay after the failover
