"""Presence in one process against a real Redis: track, untrack, list, events, and untracking by itself."""

from __future__ import annotations

import asyncio
import time

import pytest

from channels_fanout import ChannelLayerUnavailable, FanoutChannelLayer
from channels_fanout.naming import Names, client_id_of
from tests.helpers import FAST, command_calls, eventually, receive

NAMES = Names("asgi")
EVENTS = {"presence_message_type": "presence", "stats_interval": 0}


async def observer(layer: FanoutChannelLayer, group: str) -> str:
    """A member of ``group`` that tracks nothing: it only hears the group's presence events."""
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


async def silent(layer: FanoutChannelLayer, channel: str, timeout: float = 0.5) -> None:
    """Nothing arrives on ``channel`` within ``timeout``."""
    with pytest.raises(asyncio.TimeoutError):
        await receive(layer, channel, timeout)


def diff(joins=None, leaves=None, group="room"):
    return {"type": "presence", "group": group, "joins": joins or {}, "leaves": leaves or {}}


async def test_track_list_and_untrack(make_layer):
    one, two = make_layer(**EVENTS), make_layer(**EVENTS)
    a, b = await one.new_channel(), await two.new_channel()
    await one.presence_track("room", a, "alice", {"device": "phone"})
    await two.presence_track("room", b, "bob")
    expected = {"alice": [{"device": "phone"}], "bob": [{}]}
    assert await one.presence_list("room") == await two.presence_list("room") == expected
    assert await one.presence_list("another") == {}
    await one.presence_untrack("room", a)
    assert await two.presence_list("room") == {"bob": [{}]}
    await one.presence_untrack("room", a)  # not tracked: nothing happens
    assert "presence" in one.extensions


async def test_a_key_joins_with_its_first_channel_and_leaves_with_its_last(make_layer):
    tracker, listener = make_layer(**EVENTS), make_layer(**EVENTS)
    ear = await observer(listener, "room")
    first, second = await tracker.new_channel(), await tracker.new_channel()
    await tracker.presence_track("room", first, "alice", {"tab": 1})
    assert await receive(listener, ear) == diff(joins={"alice": {"metas": [{"tab": 1}]}})
    await tracker.presence_track("room", second, "alice", {"tab": 2})
    await silent(listener, ear)  # alice was there already
    assert await listener.presence_list("room") == {"alice": [{"tab": 1}, {"tab": 2}]}
    await tracker.presence_untrack("room", first)
    await silent(listener, ear)  # alice has not left: her second tab is open
    await tracker.presence_untrack("room", second)
    assert await receive(listener, ear) == diff(leaves={"alice": {"metas": [{"tab": 2}]}})


async def test_tracking_again_replaces_the_meta_quietly_and_a_new_key_moves_the_channel(make_layer):
    tracker, listener = make_layer(**EVENTS), make_layer(**EVENTS)
    ear = await observer(listener, "room")
    channel = await tracker.new_channel()
    await tracker.presence_track("room", channel, "alice", {"status": "away"})
    await receive(listener, ear)
    await tracker.presence_track("room", channel, "alice", {"status": "busy"})
    await silent(listener, ear)
    assert await listener.presence_list("room") == {"alice": [{"status": "busy"}]}
    await tracker.presence_track("room", channel, "bob", {"status": "busy"})
    busy = {"metas": [{"status": "busy"}]}
    assert await receive(listener, ear) == diff(joins={"bob": busy}, leaves={"alice": busy})
    assert await listener.presence_list("room") == {"bob": [{"status": "busy"}]}


async def test_each_group_has_its_own_presence_and_events(make_layer):
    tracker, listener = make_layer(**EVENTS), make_layer(**EVENTS)
    lobby, kitchen = await observer(listener, "lobby"), await observer(listener, "kitchen")
    channel = await tracker.new_channel()
    await tracker.presence_track("lobby", channel, "alice")
    await tracker.presence_track("kitchen", channel, "alice", {"cooking": True})
    assert await receive(listener, lobby) == diff(joins={"alice": {"metas": [{}]}}, group="lobby")
    assert await receive(listener, kitchen) == diff(joins={"alice": {"metas": [{"cooking": True}]}}, group="kitchen")
    await tracker.presence_untrack("lobby", channel)
    assert (await receive(listener, lobby))["leaves"] == {"alice": {"metas": [{}]}}
    await silent(listener, kitchen)
    assert await listener.presence_list("kitchen") == {"alice": [{"cooking": True}]}


async def test_track_and_untrack_are_one_round_trip_each_and_list_is_one(make_layer, redis_server):
    layer = make_layer(**EVENTS)
    channel = await layer.new_channel()
    await layer.group_send("warm", {"type": "m"})
    with redis_server.client() as client:
        client.config_resetstat()
        await layer.presence_track("room", channel, "alice")
        await layer.presence_list("room")
        await layer.presence_untrack("room", channel)
        calls = command_calls(client, "evalsha") + command_calls(client, "eval")
    assert calls == 3


async def test_a_consumer_that_exits_without_untracking_is_untracked(make_layer):
    tracker, listener = make_layer(receive_grace=0.3, **EVENTS), make_layer(**EVENTS)
    ear = await observer(listener, "room")
    channel = await tracker.new_channel()
    await tracker.presence_track("room", channel, "alice")
    await receive(listener, ear)
    # Channels cancels a consumer's receive() when the consumer exits; nothing else tells the layer.
    consumer = asyncio.create_task(tracker.receive(channel))
    await asyncio.sleep(0.05)
    consumer.cancel()
    started = time.monotonic()
    assert await receive(listener, ear, 2) == diff(leaves={"alice": {"metas": [{}]}})
    assert time.monotonic() - started < 0.3 + 0.5  # receive_grace, then the next sweep
    assert await listener.presence_list("room") == {}
    assert tracker.stats()["tracked"] == 0


async def test_a_tracked_consumer_that_keeps_receiving_is_never_untracked(make_layer):
    tracker, listener = make_layer(receive_grace=0.2, presence_timeout=0.6, **EVENTS), make_layer(**EVENTS)
    channel = await tracker.new_channel()
    await tracker.presence_track("room", channel, "alice")
    ear = await observer(listener, "room")
    consumer = asyncio.create_task(tracker.receive(channel))
    try:
        await silent(listener, ear, 1.5)  # sweeps and beats go by: no leave
        assert await listener.presence_list("room") == {"alice": [{}]}
    finally:
        consumer.cancel()


async def test_closing_the_layer_untracks_its_channels_with_leave_events_at_once(make_layer):
    tracker, listener = make_layer(**EVENTS), make_layer(**EVENTS)  # presence_timeout stays 10 s
    ear = await observer(listener, "room")
    channels = [await tracker.new_channel() for _ in range(3)]
    for key, channel in zip(("alice", "alice", "bob"), channels, strict=True):
        await tracker.presence_track("room", channel, key)
    await receive(listener, ear)
    await receive(listener, ear)
    await tracker.close()
    event = await receive(listener, ear, 1)  # not after presence_timeout: the close said so
    assert event == diff(leaves={"alice": {"metas": [{}, {}]}, "bob": {"metas": [{}]}})
    assert await listener.presence_list("room") == {}
    await silent(listener, ear)


async def test_flush_forgets_presence_without_events(make_layer):
    tracker, listener = make_layer(**EVENTS), make_layer(**EVENTS)
    ear = await observer(listener, "elsewhere")
    channel = await tracker.new_channel()
    await tracker.presence_track("elsewhere", channel, "alice")
    await receive(listener, ear)
    await tracker.flush()
    assert await listener.presence_list("elsewhere") == {}
    assert tracker.stats()["tracked"] == 0
    await eventually(lambda: listener.stats()["tracked"] == 0)
    await silent(listener, ear, 0.3)


async def test_without_a_presence_message_type_nothing_is_published(make_layer, redis_server):
    tracker, listener = make_layer(stats_interval=0), make_layer(stats_interval=0)
    ear = await observer(listener, "room")
    channel = await tracker.new_channel()
    with redis_server.client() as client:
        before = command_calls(client, "publish")
        await tracker.presence_track("room", channel, "alice")
        await tracker.presence_untrack("room", channel)
        assert command_calls(client, "publish") == before
    await silent(listener, ear, 0.3)


async def test_presence_keys_share_the_group_topic_s_slot_and_expire_when_idle(make_layer, redis_server):
    layer = make_layer(**EVENTS)
    channel = await layer.new_channel()
    await layer.presence_track("room", channel, "alice")
    with redis_server.client() as client:
        keys = {key.decode() for key in client.keys("asgi:presence*")}
        me = client_id_of(channel)
        assert keys == {
            "asgi:presence:{room}", "asgi:presence-keys:{room}", "asgi:presence-processes:{room}",
            f"asgi:presence:{{room}}:{me}",
        }  # fmt: skip
        assert all(0 < client.ttl(key) <= 86400 for key in keys)
        assert client.zscore("asgi:presence-processes:{room}", me) > time.time() * 1000  # a deadline, Redis's ms


async def test_sync_code_can_track_and_list_through_async_to_sync(make_layer):
    from asgiref.sync import async_to_sync

    layer = make_layer(**EVENTS)

    def view() -> dict:
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.presence_track)("room", channel, "alice")
        return async_to_sync(layer.presence_list)("room")

    assert await asyncio.to_thread(view) == {"alice": [{}]}


async def test_the_deadline_is_presence_timeout_ahead_on_redis_s_clock_and_each_beat_renews_it(
    make_layer, redis_server
):
    layer = make_layer(presence_timeout=0.9, **EVENTS)  # a beat every 0.3 s
    channel = await layer.new_channel()
    await layer.presence_track("room", channel, "alice")
    key, me = "asgi:presence-processes:{room}", client_id_of(channel)
    with redis_server.client() as client:

        def ahead() -> float:
            seconds, micros = client.time()
            return client.zscore(key, me) - (seconds * 1000 + micros / 1000)

        assert 800 < ahead() <= 900
        tracked_deadline = client.zscore(key, me)
        renewed = time.monotonic()
        await eventually(lambda: client.zscore(key, me) > tracked_deadline, timeout=1)
        assert time.monotonic() - renewed < 0.3 + 0.2


async def test_a_track_that_failed_leaves_nothing_in_redis_and_an_untrack_that_failed_is_carried_out(
    private_redis, make_layer
):
    options = {**FAST, **EVENTS, "presence_timeout": 1.5}
    layer = make_layer(hosts=[private_redis.url], **options)
    alice, bob = await layer.new_channel(), await layer.new_channel()
    await layer.presence_track("room", alice, "alice")
    with private_redis.client() as client:
        for call in (layer.presence_track("room", bob, "bob"), layer.presence_untrack("room", alice)):
            # Redis answers nothing for longer than two command timeouts (1 s): a re-assertion the beat
            # has queued meanwhile times out first, then the call's own command does.
            client.client_pause(2500)
            with pytest.raises(ChannelLayerUnavailable):
                await call
            client.ping()  # answered once the pause is over
    assert layer.stats()["tracked"] == 0  # the caller was told: bob is not tracked, alice is not any more

    async def listed() -> dict:
        try:
            return await layer.presence_list("room")
        except ChannelLayerUnavailable:
            return {"not": ["answering yet"]}

    deadline = time.monotonic() + 0.5 + 3  # a beat, slack
    while (got := await listed()) != {}:
        assert time.monotonic() < deadline, f"Redis still holds {got}"
        await asyncio.sleep(0.05)
    assert layer.stats()["presence"]["resyncs"] >= 1
