"""Bad input gets a clear error before anything is published, and the layer keeps working."""

import asyncio

import pytest
from channels.exceptions import MessageTooLarge

from channels_fanout import envelope
from tests.helpers import command_calls


async def still_works(layer):
    channel = await layer.new_channel()
    await layer.group_add("still", channel)
    await layer.group_send("still", {"type": "ok"})
    assert await asyncio.wait_for(layer.receive(channel), 2) == {"type": "ok"}


@pytest.mark.parametrize(
    ("message", "error", "match"),
    [
        (["not", "a", "dict"], TypeError, "must be a dict, not list"),
        ("text", TypeError, "must be a dict, not str"),
        (None, TypeError, "must be a dict, not NoneType"),
        ({"type": "x", "value": {1, 2}}, TypeError, "cannot be encoded with msgpack"),
        ({"type": "x", "value": object()}, TypeError, "cannot be encoded with msgpack"),
        ({"type": "x", 1.5: "float key"}, None, None),  # msgpack can encode it: not an error
    ],
)
async def test_bad_messages_are_rejected_before_publishing(layer, redis_server, message, error, match):
    await layer.group_send("warm-up", {"type": "x"})
    with redis_server.client() as client:
        before = command_calls(client, "publish")
        if error is None:
            await layer.group_send("g", message)
            assert command_calls(client, "publish") - before == 1
        else:
            for call in (
                layer.group_send("g", message),
                layer.send("specific.x!y", message),
                layer.send("worker", message),
            ):
                with pytest.raises(error, match=match):
                    await call
            assert command_calls(client, "publish") == before
    await still_works(layer)


async def test_json_format_rejects_bytes_values(make_layer):
    layer = make_layer(serializer_format="json")
    with pytest.raises(TypeError, match="cannot be encoded with json"):
        await layer.group_send("g", {"type": "x", "data": b"\x00"})
    await still_works(layer)


async def test_oversized_message_raises_message_too_large(make_layer, redis_server):
    layer = make_layer(max_message_size=1000)
    channel = await layer.new_channel()
    with redis_server.client() as client:
        before = command_calls(client, "publish")
        for call in (
            layer.group_send("g", {"type": "x", "blob": "a" * 2000}),
            layer.send(channel, {"blob": "a" * 2000}),
        ):
            with pytest.raises(MessageTooLarge, match="max_message_size"):
                await call
        assert command_calls(client, "publish") == before
    await layer.send(channel, {"blob": "a" * 900})
    assert len((await asyncio.wait_for(layer.receive(channel), 2))["blob"]) == 900


@pytest.mark.parametrize(
    "payload", [b"garbage", b"", envelope.pack(99, "x"), envelope.pack(envelope.GROUP, 1e18, b"\xc1\xc1")]
)
async def test_foreign_payload_on_a_topic_is_skipped_and_delivery_goes_on(make_layer, redis_server, payload):
    layer, publisher = make_layer(), make_layer()
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    node = next(iter(layer._nodes.values()))
    with redis_server.client() as client:
        client.publish("asgi:group:{g}", payload)
        client.publish(node.inbox_topic, payload)
        client.publish("asgi:control", payload)
    await publisher.group_send("g", {"type": "after"})
    assert await asyncio.wait_for(layer.receive(channel), 2) == {"type": "after"}


@pytest.mark.parametrize(
    "payload",
    [
        envelope.pack(envelope.HISTORY, "soon", b"body", "e1", "1-0"),
        envelope.pack(envelope.HISTORY, 1e18, b"\xc1\xc1", "e1", "1-0"),
        envelope.pack(envelope.HISTORY, 1e18, b"\x80", ["not an epoch"], 7),
    ],
    ids=["bad-expiry", "bad-body", "bad-position"],
)
async def test_a_foreign_history_frame_is_counted_as_undecodable_and_delivery_goes_on(
    make_layer, redis_server, payload
):
    layer = make_layer(history={"g": {"size": 10, "ttl": 60}})
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    with redis_server.client() as client:
        client.publish("asgi:group:{g}", payload)
    await layer.group_send("g", {"type": "after"})
    assert (await asyncio.wait_for(layer.receive(channel), 2))["type"] == "after"
    assert layer.stats()["messages"]["dropped"]["undecodable"] == 1


async def test_malformed_group_change_on_the_inbox_topic_is_ignored(layer, redis_server):
    channel = await layer.new_channel()
    node = next(iter(layer._nodes.values()))
    with redis_server.client() as client:
        client.publish(node.inbox_topic, envelope.pack(envelope.JOIN, ["not", "a", "group"], channel))
        client.publish(node.inbox_topic, envelope.pack(envelope.JOIN, "g", "normal-channel"))
    await layer.send(channel, {"type": "ok"})
    assert await asyncio.wait_for(layer.receive(channel), 2) == {"type": "ok"}
    assert node.fanout.memberships() == []


@pytest.mark.parametrize("prefix", [None, 3, "a!b"])
async def test_new_channel_with_a_bad_prefix_raises_type_error(layer, prefix):
    with pytest.raises(TypeError):
        await layer.new_channel(prefix)
