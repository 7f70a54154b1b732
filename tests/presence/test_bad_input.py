"""Bad presence input gets a clear error before anything reaches Redis, and presence keeps working."""

from __future__ import annotations

import asyncio

import pytest

from channels_fanout import FanoutChannelLayer, envelope
from tests.helpers import command_calls

EVENTS = {"presence_message_type": "presence", "stats_interval": 0}


def scripts_run(client) -> int:
    return command_calls(client, "evalsha") + command_calls(client, "eval")


async def still_works(layer: FanoutChannelLayer) -> None:
    channel = await layer.new_channel()
    await layer.presence_track("still", channel, "alice")
    assert await layer.presence_list("still") == {"alice": [{}]}
    await layer.presence_untrack("still", channel)


@pytest.mark.parametrize(
    ("key", "meta", "error", "match"),
    [
        (7, None, TypeError, "key must be a str"),
        ("", None, ValueError, "1 to 256 bytes"),
        ("k" * 257, None, ValueError, "1 to 256 bytes"),
        ("\udcff", None, ValueError, "valid Unicode"),
        ("alice", ["tab"], TypeError, "meta must be a dict"),
        ("alice", {"at": object()}, TypeError, "JSON-serialisable"),
        ("alice", {"blob": "x" * 5000}, ValueError, "over 4096"),
    ],
)
async def test_a_bad_key_or_meta_is_refused_before_redis(make_layer, redis_server, key, meta, error, match):
    layer = make_layer(**EVENTS)
    channel = await layer.new_channel()
    with redis_server.client() as client:
        before = scripts_run(client)
        with pytest.raises(error, match=match):
            await layer.presence_track("room", channel, key, meta)
        assert scripts_run(client) == before
    assert await layer.presence_list("room") == {}
    await still_works(layer)


async def test_only_a_channel_of_this_event_loop_can_be_tracked_or_untracked(make_layer):
    layer, other = make_layer(**EVENTS), make_layer(**EVENTS)
    foreign = await other.new_channel()  # another layer's node: as if another process had made it
    for call in (layer.presence_track("room", foreign, "alice"), layer.presence_untrack("room", foreign)):
        with pytest.raises(ValueError, match="was not made by new_channel\\(\\) on this process's event loop"):
            await call
    with pytest.raises(ValueError, match="normal channel"):
        await layer.presence_track("room", "worker-jobs", "alice")
    with pytest.raises(ValueError, match="normal channel"):
        await layer.presence_untrack("room", "worker-jobs")
    assert await layer.presence_list("room") == {}
    await still_works(layer)


@pytest.mark.parametrize("group", ["", "has space", "x" * 200, None, b"bytes"])
async def test_a_bad_group_name_raises_type_error(make_layer, group):
    layer = make_layer(**EVENTS)
    channel = await layer.new_channel()
    for call in (
        layer.presence_track(group, channel, "alice"),
        layer.presence_untrack(group, channel),
        layer.presence_list(group),
    ):
        with pytest.raises(TypeError, match="Group name"):
            await call
    await still_works(layer)


@pytest.mark.parametrize("channel", ["", "bad name", None, 42])
async def test_a_bad_channel_name_raises_type_error(make_layer, channel):
    layer = make_layer(**EVENTS)
    for call in (layer.presence_track("room", channel, "alice"), layer.presence_untrack("room", channel)):
        with pytest.raises(TypeError, match="Channel name"):
            await call
    await still_works(layer)


async def test_a_malformed_presence_frame_is_counted_and_skipped(make_layer, redis_server):
    listener = make_layer(**EVENTS)
    ear = await listener.new_channel()
    await listener.group_add("room", ear)
    with redis_server.client() as client:
        client.publish("asgi:group:{room}", envelope.pack(envelope.PRESENCE, "room", ['["alice"]'], []))
        client.publish("asgi:group:{room}", envelope.pack(envelope.PRESENCE, "room", ["{not json"], []))
    await still_works(listener)
    tracker = make_layer(**EVENTS)
    await tracker.presence_track("room", await tracker.new_channel(), "bob")
    assert (await asyncio.wait_for(listener.receive(ear), 2))["joins"] == {"bob": {"metas": [{}]}}
    assert listener.stats()["messages"]["dropped"]["undecodable"] == 2
