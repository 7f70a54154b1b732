"""A Sentinel-monitored master, for real: the master is killed, the sentinels promote its replica."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from channels_fanout import ChannelLayerUnavailable, FanoutChannelLayer, signals
from tests.helpers import FAST, eventually, flows_again, numsub, pubsub_clients
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
