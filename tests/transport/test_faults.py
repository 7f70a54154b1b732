"""Faults, for real: Redis killed and restarted, connections killed, a server that stops answering."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.asyncio.connection import Connection

from channels_fanout import ChannelLayerUnavailable, FanoutChannelLayer, signals
from tests.helpers import FAST, eventually, flows_again, numsub, pubsub_clients
from tests.redis_server import free_port


@pytest.fixture
async def make_fault_layer(private_redis):
    layers = []

    def make(**options):
        layer = FanoutChannelLayer(hosts=[private_redis.url], **{**FAST, **options})
        layers.append(layer)
        return layer

    yield make
    for layer in layers:
        await asyncio.wait_for(layer.close(), 5)


async def test_redis_restart_keeps_receivers_waiting_and_delivery_resumes(make_fault_layer, private_redis):
    receiver, sender = make_fault_layer(), make_fault_layer()
    channel = await receiver.new_channel()
    await receiver.group_add("room", channel)
    await flows_again(sender, receiver, channel, "room")  # warm: both connections open
    waiting = asyncio.create_task(receiver.receive(channel))

    private_redis.kill()
    started = time.monotonic()
    with pytest.raises(ChannelLayerUnavailable):
        await sender.group_send("room", {"type": "lost"})
    with pytest.raises(ChannelLayerUnavailable):
        await sender.send(channel, {"type": "lost"})
    with pytest.raises(ChannelLayerUnavailable):
        await sender.flush()
    assert time.monotonic() - started < 2  # promptly, no hang
    await asyncio.sleep(0.3)
    assert not waiting.done()  # the consumer's receive() keeps waiting, no exception

    private_redis.start()
    waiting.cancel()
    took = await flows_again(sender, receiver, channel, "room")
    assert took < 2
    with private_redis.client() as client:
        assert numsub(client, "asgi:group:{room}") == 1
        assert len(pubsub_clients(client)) == 1


async def test_killed_subscriber_connection_is_replaced_and_resubscribed(make_fault_layer, private_redis):
    receiver, sender = make_fault_layer(), make_fault_layer()
    channel = await receiver.new_channel()
    await receiver.group_add("room", channel)
    with private_redis.client() as client:
        old = {c["id"] for c in pubsub_clients(client)}
        assert client.client_kill_filter(_type="pubsub") == 1
        await eventually(lambda: {c["id"] for c in pubsub_clients(client)} - old)
        await eventually(lambda: numsub(client, "asgi:group:{room}") == 1)
    assert await flows_again(sender, receiver, channel, "room") < 2


async def test_half_open_connection_is_detected_by_the_heartbeat(make_fault_layer, private_redis):
    receiver, sender = make_fault_layer(), make_fault_layer()
    channel = await receiver.new_channel()
    await receiver.group_add("room", channel)
    hub = next(iter(receiver._nodes.values())).hubs[0]
    reconnects = hub.reconnects
    # The server stops answering without closing anything: what a dead peer behind a NAT looks like.
    with private_redis.client() as client:
        client.client_pause(1500)
        started = time.monotonic()
        await eventually(lambda: hub.reconnects > reconnects, timeout=6)
        assert time.monotonic() - started < 5
    assert await flows_again(sender, receiver, channel, "room") < 2


async def test_gap_is_signalled_to_affected_channels_that_asked_for_it(make_fault_layer, private_redis):
    receiver, sender = make_fault_layer(gap_message_type="layer.gap"), make_fault_layer()
    member, bystander = await receiver.new_channel(), await receiver.new_channel()
    await receiver.group_add("room", member)
    signalled = []

    def on_gap(sender, channels, outage, **kwargs):
        signalled.append((sender, channels, outage))

    signals.gap.connect(on_gap)
    try:
        private_redis.restart()
        gap = await asyncio.wait_for(receiver.receive(member), 5)
        assert gap["type"] == "layer.gap" and gap["outage"] > 0
        # The inbox topic was lost too, so every local channel hears of it, once.
        assert (await asyncio.wait_for(receiver.receive(bystander), 2))["type"] == "layer.gap"
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(receiver.receive(member), 0.3)
        await eventually(lambda: signalled)
        assert signalled[0][0] is receiver and {member, bystander} <= signalled[0][1]
    finally:
        signals.gap.disconnect(on_gap)
    assert await flows_again(sender, receiver, channel=member, group="room") < 2


async def test_gap_message_is_off_by_default(make_fault_layer, private_redis, caplog):
    receiver, sender = make_fault_layer(), make_fault_layer()
    channel = await receiver.new_channel()
    await receiver.group_add("room", channel)
    private_redis.restart()
    await flows_again(sender, receiver, channel, "room")
    await eventually(lambda: any("Resubscribed" in r.getMessage() for r in caplog.records))
    await sender.send(channel, {"type": "plain"})
    assert (await asyncio.wait_for(receiver.receive(channel), 2))["type"] == "plain"


async def test_slow_consumer_does_not_hold_back_a_hundred_fast_ones(make_fault_layer, private_redis):
    receiver, sender = make_fault_layer(capacity=100), make_fault_layer()
    slow = await receiver.new_channel()
    fast = [await receiver.new_channel() for _ in range(100)]
    for channel in [slow, *fast]:
        await receiver.group_add("busy", channel)
    counts = dict.fromkeys(fast, 0)

    async def consume(channel):
        while True:
            await receiver.receive(channel)
            counts[channel] += 1

    consumers = [asyncio.create_task(consume(channel)) for channel in fast]
    with private_redis.client() as client:
        # A subscriber whose unread output passes this limit is disconnected by Redis: the 1.8 MB
        # below would cross it several times over unless the reader drains the socket regardless.
        client.config_set("client-output-buffer-limit", "pubsub 262144 131072 1")
        subscriber_ids = {c["id"] for c in pubsub_clients(client)}
        for _ in range(100):
            await asyncio.gather(*(sender.group_send("busy", {"type": "m", "pad": "x" * 100}) for _ in range(100)))
        await eventually(lambda: min(counts.values()) >= 10_000, timeout=30, interval=0.1)
        assert {c["id"] for c in pubsub_clients(client)} == subscriber_ids  # never disconnected
    for task in consumers:
        task.cancel()
    await asyncio.gather(*consumers, return_exceptions=True)
    inbox = next(iter(receiver._nodes.values())).fanout.inboxes[slow]
    assert len(inbox) == 100 and inbox.dropped == 10_000 - 100


async def test_ten_thousand_concurrent_group_sends_from_one_loop(make_fault_layer, private_redis):
    sender = make_fault_layer()
    with private_redis.client() as client:
        before = int(client.info("stats")["total_connections_received"])
        await asyncio.gather(*(sender.group_send("storm", {"type": "m", "n": n}) for n in range(10_000)))
        opened = int(client.info("stats")["total_connections_received"]) - before
        assert int(client.info("commandstats")["cmdstat_publish"]["calls"]) == 10_000
    assert opened <= 2


async def test_cancelled_receives_during_an_outage_lose_nothing_delivered_before(make_fault_layer, private_redis):
    receiver, sender = make_fault_layer(), make_fault_layer()
    channel = await receiver.new_channel()
    for n in range(5):
        await sender.send(channel, {"n": n})
    await eventually(lambda: len(next(iter(receiver._nodes.values())).fanout.inboxes[channel]) == 5)
    private_redis.kill()
    received = []
    while len(received) < 5:
        try:
            received.append((await asyncio.wait_for(receiver.receive(channel), 0.01))["n"])
        except asyncio.TimeoutError:
            pass
    assert received == list(range(5))
    private_redis.start()


async def test_errors_logs_and_stats_name_a_redis_url_without_its_password(caplog):
    secret_url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    layer = FanoutChannelLayer(hosts=[secret_url], **{**FAST, "command_timeout": 0.3})
    try:
        errors = []
        for attempt in (layer.group_send("room", {"type": "lost"}), layer.new_channel()):
            with pytest.raises(ChannelLayerUnavailable) as raised:
                await attempt
            errors.append(str(raised.value))
        await eventually(lambda: any("reconnecting" in r.getMessage() for r in caplog.records))
    finally:
        await asyncio.wait_for(layer.close(), 5)
    said = errors + [record.getMessage() for record in caplog.records] + list(layer.stats()["shards"])
    assert all(f"127.0.0.1:{secret_url.split(':')[-1]}" in line for line in errors)
    assert not [line for line in said if "hunter2" in line]


async def test_unexpected_error_on_the_subscriber_connection_is_logged_and_survived(private_redis, caplog):
    failures = []

    class FailsOnce(Connection):
        async def send_command(self, *args, **kwargs) -> None:
            if args[0] == "SUBSCRIBE" and not failures:
                failures.append(args)
                raise RuntimeError("unforeseen")
            await super().send_command(*args, **kwargs)

    host = {"host": "127.0.0.1", "port": private_redis.port, "connection_class": FailsOnce}
    layer = FanoutChannelLayer(hosts=[host], **FAST)
    try:
        channel = await layer.new_channel()
        await layer.group_add("room", channel)
        await layer.group_send("room", {"type": "after"})
        assert (await asyncio.wait_for(layer.receive(channel), 5))["type"] == "after"
    finally:
        await asyncio.wait_for(layer.close(), 5)
    assert failures
    (record,) = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert record.exc_info and "unforeseen" in str(record.exc_info[1])


async def test_the_first_sends_after_a_redis_restart_succeed(make_fault_layer, private_redis, caplog):
    receiver, sender = make_fault_layer(), make_fault_layer()
    channel = await receiver.new_channel()
    await receiver.group_add("room", channel)
    await sender.new_channel()  # the sender subscribes too: its subscriber shows when its loop saw Redis go
    await flows_again(sender, receiver, channel, "room")  # the sender's publishing connection is open
    private_redis.restart()
    # Both layers' subscribers noticed the restart, so the loop has also seen the publisher's socket close
    # (the same kill closed it), as it would have during any real restart: nothing has been sent since.
    await eventually(lambda: len([r for r in caplog.records if "lost or refused" in r.getMessage()]) >= 2)
    await sender.send(channel, {"type": "direct"})
    await sender.group_send("room", {"type": "group"})
    assert sender.stats()["shards"][private_redis.url]["publish"]["failed"] == 0


async def test_unexpected_error_while_publishing_fails_that_send_only_and_is_logged(private_redis, caplog):
    failures = []

    class FailsOnce(Connection):
        async def send_packed_command(self, command, *args, **kwargs) -> None:
            if not failures and b"PUBLISH" in b"".join(map(bytes, command)):
                failures.append(command)
                raise RuntimeError("unforeseen")
            await super().send_packed_command(command, *args, **kwargs)

    host = {"host": "127.0.0.1", "port": private_redis.port, "connection_class": FailsOnce}
    layer = FanoutChannelLayer(hosts=[host], **FAST)
    try:
        channel = await layer.new_channel()
        await layer.group_add("room", channel)
        with pytest.raises(ChannelLayerUnavailable) as raised:
            await layer.group_send("room", {"type": "first"})
        assert isinstance(raised.value.__cause__, RuntimeError)
        await layer.group_send("room", {"type": "second"})
        assert (await asyncio.wait_for(layer.receive(channel), 5))["type"] == "second"
    finally:
        await asyncio.wait_for(layer.close(), 5)
    (record,) = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert record.exc_info and "unforeseen" in str(record.exc_info[1])
