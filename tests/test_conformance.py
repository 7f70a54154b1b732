"""Behaviour FanoutChannelLayer shares with Channels' own InMemoryChannelLayer."""

import asyncio

import pytest
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

from channels_fanout import FanoutChannelLayer
from tests.helpers import receive


@pytest.fixture(params=["inmemory", "fanout"])
async def any_layer(request, redis_url):
    if request.param == "inmemory":
        layer = InMemoryChannelLayer(capacity=5)
    else:
        layer = FanoutChannelLayer(hosts=[redis_url], capacity=5)
    yield layer
    await asyncio.wait_for(layer.close(), 5)


async def test_send_receive(any_layer):
    channel = await any_layer.new_channel()
    await any_layer.send(channel, {"type": "test.message", "text": "Ahoy-hoy!"})
    assert await receive(any_layer, channel) == {"type": "test.message", "text": "Ahoy-hoy!"}


async def test_fifo_order(any_layer):
    channel = await any_layer.new_channel()
    for n in range(5):
        await any_layer.send(channel, {"type": "n", "n": n})
    assert [(await receive(any_layer, channel))["n"] for _ in range(5)] == list(range(5))


async def test_send_beyond_capacity_raises_channel_full(any_layer):
    channel = await any_layer.new_channel()
    for n in range(5):
        await any_layer.send(channel, {"type": "n", "n": n})
    with pytest.raises(ChannelFull):
        await any_layer.send(channel, {"type": "n", "n": 5})


async def test_groups(any_layer):
    one, two, three = [await any_layer.new_channel() for _ in range(3)]
    await any_layer.group_add("g", one)
    await any_layer.group_add("g", two)
    await any_layer.group_add("g", three)
    await any_layer.group_discard("g", two)
    await any_layer.group_send("g", {"type": "message.1"})
    assert await receive(any_layer, one) == {"type": "message.1"}
    assert await receive(any_layer, three) == {"type": "message.1"}
    with pytest.raises(asyncio.TimeoutError):
        await receive(any_layer, two, timeout=0.2)


async def test_group_send_to_an_empty_group_is_fine(any_layer):
    await any_layer.group_send("nobody-here", {"type": "x"})


async def test_discard_of_a_non_member_is_fine(any_layer):
    channel = await any_layer.new_channel()
    await any_layer.group_discard("g", channel)


async def test_flush_empties_channels_and_groups(any_layer):
    channel = await any_layer.new_channel()
    await any_layer.group_add("g", channel)
    await any_layer.send(channel, {"type": "old"})
    await any_layer.flush()
    await any_layer.group_send("g", {"type": "to-group"})
    await any_layer.send(channel, {"type": "new"})
    assert await receive(any_layer, channel) == {"type": "new"}


async def test_worker_channel_send_before_receive(any_layer):
    await any_layer.send("worker.tasks", {"type": "task", "n": 1})
    assert await receive(any_layer, "worker.tasks") == {"type": "task", "n": 1}


@pytest.mark.parametrize("name", ["bad name", "a" * 100, 42, None, "ü", ""])
async def test_invalid_channel_names_raise_type_error(any_layer, name):
    with pytest.raises(TypeError):
        await any_layer.send(name, {"type": "x"})
    with pytest.raises(TypeError):
        await any_layer.receive(name)


@pytest.mark.parametrize("name", ["bad name", "g" * 100, 42, "a!b"])
async def test_invalid_group_names_raise_type_error(any_layer, name):
    channel = await any_layer.new_channel()
    with pytest.raises(TypeError):
        await any_layer.group_add(name, channel)
    with pytest.raises(TypeError):
        await any_layer.group_send(name, {"type": "x"})
