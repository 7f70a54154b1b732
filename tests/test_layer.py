"""The Channels layer API of FanoutChannelLayer against a real redis-server."""

import asyncio

import pytest
from channels.exceptions import ChannelFull

from channels_fanout import FanoutChannelLayer
from tests.helpers import command_calls, eventually, numsub, pubsub_clients, receive


async def test_send_and_receive_within_one_process(layer):
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "test.message", "text": "hi"})
    assert await receive(layer, channel) == {"type": "test.message", "text": "hi"}


async def test_send_to_another_process_is_one_publish_to_its_inbox(make_layer, redis_server):
    sender, receiver = make_layer(), make_layer()
    channel = await receiver.new_channel()
    await sender.group_send("warm-up", {"type": "x"})  # opens the sender's connection
    with redis_server.client() as client:
        before = command_calls(client, "publish")
        await sender.send(channel, {"type": "test.message", "n": 1})
        assert await receive(receiver, channel) == {"type": "test.message", "n": 1}
        assert command_calls(client, "publish") - before == 1


async def test_new_channel_names_are_process_specific_and_unique(layer):
    names = {await layer.new_channel() for _ in range(100)}
    assert len(names) == 100
    assert all(name.startswith("specific.") and "!" in name for name in names)
    custom = await layer.new_channel("websocket")
    assert custom.startswith("websocket.")


async def test_messages_arrive_in_order(make_layer):
    sender, receiver = make_layer(), make_layer()
    channel = await receiver.new_channel()
    for n in range(50):
        await sender.send(channel, {"type": "t", "n": n})
    assert [(await receive(receiver, channel))["n"] for _ in range(50)] == list(range(50))


async def test_group_send_reaches_members_in_two_processes_once_with_one_publish(make_layer, redis_server):
    one, two, publisher = make_layer(), make_layer(), make_layer()
    members = [(one, await one.new_channel()) for _ in range(3)] + [(two, await two.new_channel()) for _ in range(2)]
    for layer, channel in members:
        await layer.group_add("room", channel)
    outsider = await one.new_channel()
    await publisher.group_send("warm-up", {"type": "x"})
    with redis_server.client() as client:
        before = command_calls(client, "publish")
        await publisher.group_send("room", {"type": "chat", "text": "hello"})
        for layer, channel in members:
            assert await receive(layer, channel) == {"type": "chat", "text": "hello"}
        assert command_calls(client, "publish") - before == 1
    for layer, channel in [*members, (one, outsider)]:
        with pytest.raises(asyncio.TimeoutError):
            await receive(layer, channel, timeout=0.2)


async def test_group_topic_is_subscribed_by_exactly_the_processes_with_members(make_layer, redis_server):
    one, two = make_layer(), make_layer()
    a, b1, b2 = await one.new_channel(), await two.new_channel(), await two.new_channel()
    topic = b"asgi:group:{room}"
    with redis_server.client() as client:
        assert numsub(client, topic) == 0
        await one.group_add("room", a)
        await two.group_add("room", b1)
        await two.group_add("room", b2)
        assert numsub(client, topic) == 2
        await two.group_discard("room", b1)
        assert numsub(client, topic) == 2
        await two.group_discard("room", b2)
        await eventually(lambda: numsub(client, topic) == 1)
        await one.group_discard("room", a)
        await eventually(lambda: numsub(client, topic) == 0)


async def test_thousand_consumers_share_one_subscriber_connection_and_inbox_topic(layer, redis_server):
    channels = [await layer.new_channel() for _ in range(1000)]
    with redis_server.client() as client:
        assert len(pubsub_clients(client)) == 1
        inbox_topics = [t for t in client.pubsub_channels() if b":inbox:" in t]
        assert len(inbox_topics) == 1
    await layer.send(channels[-1], {"type": "x"})
    assert await receive(layer, channels[-1]) == {"type": "x"}


async def test_no_delivery_after_group_discard_returns(make_layer):
    member_layer, publisher = make_layer(), make_layer()
    stay, leave = await member_layer.new_channel(), await member_layer.new_channel()
    await member_layer.group_add("g", stay)
    await member_layer.group_add("g", leave)
    await member_layer.group_discard("g", leave)
    await publisher.group_send("g", {"type": "after"})
    assert await receive(member_layer, stay) == {"type": "after"}
    with pytest.raises(asyncio.TimeoutError):
        await receive(member_layer, leave, timeout=0.2)


async def test_group_add_is_idempotent(make_layer, redis_server):
    layer, publisher = make_layer(), make_layer()
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await layer.group_add("g", channel)
    await publisher.group_send("g", {"type": "once"})
    assert await receive(layer, channel) == {"type": "once"}
    with pytest.raises(asyncio.TimeoutError):
        await receive(layer, channel, timeout=0.2)
    await layer.group_discard("g", channel)
    with redis_server.client() as client:
        await eventually(lambda: numsub(client, b"asgi:group:{g}") == 0)


async def test_group_add_racing_the_last_discard_ends_subscribed(make_layer, redis_server):
    layer, publisher = make_layer(), make_layer()
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    for _ in range(20):
        await asyncio.gather(layer.group_discard("g", channel), layer.group_add("g", channel))
    with redis_server.client() as client:
        await eventually(lambda: numsub(client, b"asgi:group:{g}") == 1)
    await publisher.group_send("g", {"type": "still"})
    assert await receive(layer, channel) == {"type": "still"}


async def test_discard_racing_a_pending_subscribe_ends_unsubscribed(layer, redis_server):
    channel = await layer.new_channel()
    for _ in range(20):
        await asyncio.gather(layer.group_add("g", channel), layer.group_discard("g", channel))
    with redis_server.client() as client:
        await eventually(lambda: numsub(client, b"asgi:group:{g}") == 0)
        await asyncio.sleep(0.1)
        assert numsub(client, b"asgi:group:{g}") == 0


async def test_group_add_of_another_process_channel_takes_effect_there(make_layer):
    owner, other, publisher = make_layer(), make_layer(), make_layer()
    channel = await owner.new_channel()
    await other.group_add("g", channel)

    async def delivered():
        await publisher.group_send("g", {"type": "ping"})
        try:
            return await receive(owner, channel, timeout=0.2)
        except asyncio.TimeoutError:
            return None

    for _ in range(20):
        if await delivered():
            break
    else:
        pytest.fail("the forwarded group_add never took effect")
    await other.group_discard("g", channel)
    for _ in range(20):
        if not await delivered():
            break
    else:
        pytest.fail("the forwarded group_discard never took effect")


async def test_group_membership_needs_a_process_specific_channel(layer):
    with pytest.raises(ValueError, match="normal channel"):
        await layer.group_add("g", "worker")
    with pytest.raises(ValueError, match="normal channel"):
        await layer.group_discard("g", "worker")


async def test_local_send_to_a_full_inbox_raises_channel_full(make_layer):
    layer = make_layer(capacity=3)
    channel = await layer.new_channel()
    for n in range(3):
        await layer.send(channel, {"n": n})
    with pytest.raises(ChannelFull):
        await layer.send(channel, {"n": 3})
    assert (await receive(layer, channel))["n"] == 0


async def test_channel_capacity_overrides_capacity_per_pattern(make_layer):
    layer = make_layer(capacity=100, channel_capacity={"tiny.*": 1})
    channel = await layer.new_channel("tiny")
    await layer.send(channel, {"n": 1})
    with pytest.raises(ChannelFull):
        await layer.send(channel, {"n": 2})


async def test_group_send_never_raises_channel_full_and_drops_for_the_full_inbox_only(make_layer):
    layer, publisher = make_layer(capacity=2), make_layer()
    slow, fast = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", slow)
    await layer.group_add("g", fast)
    for n in range(5):
        await publisher.group_send("g", {"n": n})
        assert (await receive(layer, fast))["n"] == n
    assert [(await receive(layer, slow))["n"] for _ in range(2)] == [0, 1]
    node = next(iter(layer._nodes.values()))
    assert node.fanout.inboxes[slow].dropped == 3


async def test_message_older_than_expiry_is_never_delivered(make_layer):
    layer, sender = make_layer(expiry=0.2), make_layer(expiry=0.2)
    channel = await layer.new_channel()
    await sender.send(channel, {"type": "stale"})
    await eventually(lambda: len(next(iter(layer._nodes.values())).fanout.inboxes[channel]) == 1)
    await asyncio.sleep(0.3)
    with pytest.raises(asyncio.TimeoutError):
        await receive(layer, channel, timeout=0.2)


async def test_polling_with_wait_for_loses_no_message(make_layer):
    layer, sender = make_layer(), make_layer()
    channel = await layer.new_channel()
    received = []

    async def send_all():
        for n in range(100):
            await sender.send(channel, {"n": n})
            await asyncio.sleep(0.001)

    sending = asyncio.create_task(send_all())
    while len(received) < 100:
        try:
            received.append((await asyncio.wait_for(layer.receive(channel), 0.01))["n"])
        except asyncio.TimeoutError:
            assert not sending.done() or len(received) < 100
    await sending
    assert received == list(range(100))


async def test_inbox_is_dropped_with_its_groups_after_the_receive_grace(make_layer, redis_server):
    layer = make_layer(receive_grace=0.3)
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    task = asyncio.create_task(layer.receive(channel))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    node = next(iter(layer._nodes.values()))
    assert channel in node.fanout.inboxes  # survives the cancellation itself
    with redis_server.client() as client:
        await eventually(lambda: numsub(client, b"asgi:group:{g}") == 0, timeout=3)
    assert channel not in node.fanout.inboxes


async def test_an_inbox_with_nothing_to_lose_is_dropped_before_the_receive_grace_and_reopened_on_demand(make_layer):
    layer = make_layer(receive_grace=4)  # the sweeper passes every second
    member, holder, empty = [await layer.new_channel() for _ in range(3)]
    await layer.group_add("g", member)
    await layer.send(holder, {"type": "kept"})
    for channel in (member, empty):  # their consumers exited: Channels cancelled their receive()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(layer.receive(channel), 0.01)
    node = next(iter(layer._nodes.values()))
    await eventually(lambda: empty not in node.fanout.inboxes, timeout=3)
    assert member in node.fanout.inboxes and holder in node.fanout.inboxes  # a membership, a message
    await layer.send(empty, {"type": "later"})
    assert (await asyncio.wait_for(layer.receive(empty), 1))["type"] == "later"
    assert (await asyncio.wait_for(layer.receive(holder), 1))["type"] == "kept"


async def test_membership_expires_after_group_expiry(make_layer, redis_server):
    layer = make_layer(group_expiry=0.3)
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    receiving = asyncio.create_task(layer.receive(channel))  # keeps the inbox itself alive
    with redis_server.client() as client:
        await eventually(lambda: numsub(client, b"asgi:group:{g}") == 0, timeout=3)
    receiving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await receiving


async def test_receive_on_another_process_channel_is_refused(make_layer):
    owner, other = make_layer(), make_layer()
    channel = await owner.new_channel()
    with pytest.raises(ValueError, match="not made by new_channel"):
        await other.receive(channel)


async def test_flush_empties_every_process_and_deletes_keys(make_layer, redis_server):
    one, two = make_layer(), make_layer()
    a, b = await one.new_channel(), await two.new_channel()
    await two.group_add("g", b)
    await one.send(b, {"type": "queued"})
    await one.send("worker", {"type": "queued"})
    with redis_server.client() as client:
        await eventually(lambda: len(next(iter(two._nodes.values())).fanout.inboxes[b]) == 1)
        assert client.exists("asgi:queue:worker")
        await one.flush()
        assert not client.exists("asgi:queue:worker")
        await eventually(lambda: numsub(client, b"asgi:group:{g}") == 0)
    await eventually(lambda: b not in next(iter(two._nodes.values())).fanout.inboxes)
    await one.send(a, {"type": "after"})
    assert await receive(one, a) == {"type": "after"}


async def test_flush_keeps_other_prefixes(make_layer, redis_server):
    mine, theirs = make_layer(prefix="mine"), make_layer(prefix="theirs")
    await theirs.send("worker", {"type": "kept"})
    await mine.flush()
    assert await receive(theirs, "worker") == {"type": "kept"}


async def test_close_is_idempotent_and_the_layer_reconnects_lazily(make_layer, redis_server):
    layer = make_layer()
    channel = await layer.new_channel()
    await layer.close()
    await layer.close()
    with redis_server.client() as client:
        await eventually(lambda: not pubsub_clients(client))
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "again"})
    assert await receive(layer, channel) == {"type": "again"}


async def test_close_leaves_no_task_behind(layer):
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await layer.send("worker", {"type": "w"})
    assert await receive(layer, "worker") == {"type": "w"}
    before = asyncio.all_tasks()
    await layer.close()
    remaining = {t for t in asyncio.all_tasks() if "channels_fanout" in t.get_name()}
    assert remaining == set() and before


@pytest.mark.parametrize("serializer_format", ["msgpack", "json"])
async def test_serializer_formats_round_trip_across_processes(make_layer, serializer_format):
    sender, receiver = make_layer(serializer_format=serializer_format), make_layer(serializer_format=serializer_format)
    channel = await receiver.new_channel()
    await sender.send(channel, {"type": "t", "text": "ünïcode", "items": [1, 2.5, None]})
    assert await receive(receiver, channel) == {"type": "t", "text": "ünïcode", "items": [1, 2.5, None]}


async def test_encrypted_messages_need_a_shared_key(make_layer, caplog):
    sender = make_layer(symmetric_encryption_keys=["secret"])
    receiver = make_layer(symmetric_encryption_keys=["secret"])
    stranger = make_layer(symmetric_encryption_keys=["other"])
    good, bad = await receiver.new_channel(), await stranger.new_channel()
    await sender.send(good, {"type": "secret"})
    assert await receive(receiver, good) == {"type": "secret"}
    await sender.send(bad, {"type": "secret"})
    with pytest.raises(asyncio.TimeoutError):
        await receive(stranger, bad, timeout=0.3)
    assert next(iter(stranger._nodes.values())).fanout.undecodable == 1
    await receiver.send(bad, {"type": "x"})  # the stranger keeps its reader
    assert any("undecodable" in r.getMessage() for r in caplog.records)


def test_layer_is_constructed_from_channels_settings(settings, redis_url):
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_fanout.FanoutChannelLayer", "CONFIG": {"hosts": [redis_url], "capacity": 7}}
    }
    layer = channel_layers["default"]
    assert isinstance(layer, FanoutChannelLayer)
    assert layer.capacity == 7
    assert layer.extensions == ["groups", "flush", "history", "presence"]
