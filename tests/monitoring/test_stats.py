"""layer.stats(): every counter and gauge, provoked for real against Redis."""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import pkgutil
import socket
import time

import msgpack
import pytest
from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull, MessageTooLarge

import channels_fanout
from channels_fanout import ChannelLayerUnavailable, envelope
from channels_fanout.config import redact
from channels_fanout.monitoring.stats import DROP_REASONS
from channels_fanout.naming import client_id_of
from channels_fanout.transport.latency import BOUNDS, Latency
from tests.helpers import eventually, receive

QUIET = {"stats_interval": 0}  # these tests read stats() in-process; the heartbeat has tests of its own
FAST = {"heartbeat_interval": 0.3, "reconnect_max_delay": 0.2, "command_timeout": 1, **QUIET}


def inbox_topic(channel: str) -> str:
    return f"asgi:inbox:{client_id_of(channel)}"


def test_a_new_layer_reports_zeroes_in_the_documented_shape(make_layer):
    stats = make_layer(**QUIET).stats()
    assert set(stats) == {
        "host", "pid", "prefix", "started_at", "uptime", "loops", "channels", "groups", "members", "backlog",
        "messages", "inbox_high_water", "top_inboxes", "history", "reconnects", "gaps", "shards", "tracked",
        "presence",
    }
    assert stats["history"] == {"groups": 0, "replayed": 0, "unrecovered": 0, "reads": 0}
    assert (stats["host"], stats["pid"], stats["prefix"]) == (socket.gethostname(), os.getpid(), "asgi")
    assert stats["messages"] == {
        "published": 0, "received": 0, "delivered": 0, "dropped": dict.fromkeys(DROP_REASONS, 0),
    }
    assert stats["loops"] == stats["channels"] == stats["inbox_high_water"] == stats["reconnects"] == 0
    assert stats["top_inboxes"] == [] and stats["shards"] == {}
    assert stats["tracked"] == 0 and stats["presence"] == {"scripts": 0, "reaped": 0, "resyncs": 0}
    assert 0 <= stats["uptime"] < 5 and abs(stats["started_at"] - time.time()) < 5
    assert json.loads(json.dumps(stats)) == stats


async def test_channels_groups_members_and_subscriptions_per_shard(make_layer, redis_server, private_redis):
    layer = make_layer(hosts=[redis_server.url, private_redis.url], **QUIET)
    a, b, c = [await layer.new_channel() for _ in range(3)]
    for group, channel in (("one", a), ("one", b), ("two", a), ("three", c)):
        await layer.group_add(group, channel)
    stats = layer.stats()
    assert (stats["loops"], stats["channels"], stats["groups"], stats["members"]) == (1, 3, 3, 4)
    assert set(stats["shards"]) == {redis_server.url, private_redis.url}
    for server in (redis_server, private_redis):
        with server.client() as client:
            # Redis's own view: the topics with a subscriber on that server.
            assert stats["shards"][server.url]["subscriptions"] == len(client.pubsub_channels())
            assert stats["shards"][server.url]["subscribed"] is True
    assert sum(shard["subscriptions"] for shard in stats["shards"].values()) == 2 + 3  # inbox, control, groups
    await layer.group_discard("three", c)
    assert layer.stats()["groups"] == 2 and layer.stats()["members"] == 3


async def test_group_send_is_one_publish_one_receipt_and_a_delivery_per_local_member(make_layer):
    receiver, sender = make_layer(**QUIET), make_layer(**QUIET)
    members = [await receiver.new_channel() for _ in range(3)]
    for channel in members:
        await receiver.group_add("room", channel)
    await sender.group_send("room", {"type": "hello"})
    for channel in members:
        assert await receive(receiver, channel) == {"type": "hello"}
    assert sender.stats()["messages"]["published"] == 1
    assert receiver.stats()["messages"] | {"dropped": None} == {
        "published": 0, "received": 1, "delivered": 3, "dropped": None,
    }


async def test_direct_and_worker_sends_are_published_and_a_local_send_is_not(make_layer):
    layer, other = make_layer(**QUIET), make_layer(**QUIET)
    mine, theirs = await layer.new_channel(), await other.new_channel()
    await layer.send(mine, {"type": "local"})
    assert layer.stats()["messages"]["published"] == 0
    await layer.send(theirs, {"type": "direct"})
    await layer.send("jobs", {"type": "work"})
    assert layer.stats()["messages"]["published"] == 2
    assert await receive(other, theirs) == {"type": "direct"}
    assert await receive(other, "jobs") == {"type": "work"}
    assert other.stats()["messages"]["received"] == 2  # one from pub/sub, one from the worker list
    assert layer.stats()["messages"]["delivered"] == 1 and other.stats()["messages"]["delivered"] == 2


async def test_a_full_inbox_counts_drops_and_its_high_water_mark(make_layer):
    receiver, sender = make_layer(capacity=2, **QUIET), make_layer(**QUIET)
    channel = await receiver.new_channel()
    await receiver.group_add("room", channel)
    for n in range(5):
        await sender.group_send("room", {"type": "m", "n": n})
    await eventually(lambda: receiver.stats()["messages"]["received"] == 5)
    stats = receiver.stats()
    assert stats["messages"]["dropped"]["inbox_full"] == 3 and stats["messages"]["delivered"] == 2
    assert stats["inbox_high_water"] == 2 and stats["backlog"] == 2
    assert stats["top_inboxes"] == [{"channel": channel, "depth": 2, "high_water": 2, "dropped": 3, "receivers": 0}]
    assert [(await receive(receiver, channel))["n"] for _ in range(2)] == [0, 1]
    stats = receiver.stats()
    assert stats["backlog"] == 0 and stats["top_inboxes"] == [] and stats["inbox_high_water"] == 2


async def test_top_inboxes_are_the_five_deepest(make_layer):
    layer = make_layer(**QUIET)
    channels = [await layer.new_channel() for _ in range(7)]
    for depth, channel in enumerate(channels):
        for _ in range(depth):
            await layer.send(channel, {"type": "m"})
    top = layer.stats()["top_inboxes"]
    assert [entry["channel"] for entry in top] == channels[:1:-1]
    assert [entry["depth"] for entry in top] == [6, 5, 4, 3, 2]


async def test_a_message_expired_in_the_inbox_is_counted_when_a_receiver_skips_it(make_layer):
    layer = make_layer(expiry=0.2, **QUIET)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "stale"})
    await asyncio.sleep(0.25)  # the expiry itself is under test: time must pass
    with pytest.raises(asyncio.TimeoutError):
        await receive(layer, channel, timeout=0.2)
    assert layer.stats()["messages"]["dropped"]["expired"] == 1


@pytest.mark.parametrize("kind", ["direct", "group"])
async def test_a_message_expired_on_arrival_is_counted_and_not_delivered(make_layer, redis_server, kind):
    layer = make_layer(**QUIET)
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    body, expired_at = msgpack.packb({"type": "late"}), time.time() - 1
    if kind == "direct":
        topic, frame = inbox_topic(channel), envelope.pack(envelope.MESSAGE, channel, expired_at, body)
    else:
        topic, frame = "asgi:group:{room}", envelope.pack(envelope.GROUP, expired_at, body)
    with redis_server.client() as client:
        assert client.publish(topic, frame) == 1
    await eventually(lambda: layer.stats()["messages"]["received"] == 1)
    assert layer.stats()["messages"]["dropped"]["expired"] == 1
    assert layer.stats()["messages"]["delivered"] == 0


async def test_undecodable_frames_and_worker_items_are_counted_and_logged_with_totals(make_layer, redis_server, caplog):
    layer = make_layer(**QUIET)
    channel = await layer.new_channel()
    with redis_server.client() as client:
        for _ in range(3):
            client.publish(inbox_topic(channel), b"not a frame")
        client.rpush("asgi:queue:jobs", b"not a frame either")
    with pytest.raises(asyncio.TimeoutError):
        await receive(layer, "jobs", timeout=0.5)
    await eventually(lambda: layer.stats()["messages"]["dropped"]["undecodable"] == 4)
    warnings = [r.getMessage() for r in caplog.records if "undecodable" in r.getMessage()]
    assert len(warnings) == 1 and "1 skipped in total" in warnings[0]  # rate-limited, with the total


async def test_messages_left_in_an_inbox_that_is_dropped_are_counted_as_discarded(make_layer):
    layer = make_layer(receive_grace=0.1, **QUIET)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "never read"})
    await layer.send(channel, {"type": "never read"})
    await eventually(lambda: layer.stats()["channels"] == 0)
    assert layer.stats()["messages"]["dropped"]["discarded"] == 2
    assert layer.stats()["messages"]["delivered"] == 2  # counters outlive the inbox


async def test_too_large_and_channel_full_are_counted_where_the_sender_gets_the_error(make_layer):
    layer = make_layer(max_message_size=100, capacity=1, **QUIET)
    channel = await layer.new_channel()
    with pytest.raises(MessageTooLarge):
        await layer.send(channel, {"type": "x" * 200})
    with pytest.raises(MessageTooLarge):
        await layer.group_send("room", {"type": "x" * 200})
    await layer.send(channel, {"type": "fits"})
    with pytest.raises(ChannelFull):
        await layer.send(channel, {"type": "local inbox full"})
    await layer.send("jobs", {"type": "fits"})
    with pytest.raises(ChannelFull):
        await layer.send("jobs", {"type": "worker list full"})
    stats = layer.stats()
    assert stats["messages"]["dropped"]["too_large"] == 2
    assert stats["messages"]["dropped"]["channel_full"] == 2
    assert stats["messages"]["published"] == 1  # only the worker push that fitted reached Redis


async def test_a_reconnect_and_the_gap_it_left_are_counted_per_shard(private_redis):
    layer = channels_fanout.FanoutChannelLayer(hosts=[private_redis.url], **FAST)
    try:
        channel = await layer.new_channel()
        await layer.group_add("room", channel)
        assert layer.stats()["shards"][private_redis.url]["subscribed"] is True
        private_redis.kill()
        await eventually(lambda: layer.stats()["shards"][private_redis.url]["subscribed"] is False)
        private_redis.start()
        await eventually(lambda: layer.stats()["gaps"] == 1, timeout=10)
        stats = layer.stats()
        assert stats["reconnects"] == 1 and stats["shards"][private_redis.url]["reconnects"] == 1
        assert stats["shards"][private_redis.url]["gaps"] == 1
        await eventually(lambda: layer.stats()["shards"][private_redis.url]["subscribed"] is True)
    finally:
        await asyncio.wait_for(layer.close(), 5)


async def test_publish_latency_is_summarised_per_batch(make_layer, redis_url):
    layer = make_layer(**QUIET)
    await asyncio.gather(*(layer.group_send("room", {"type": "m"}) for _ in range(50)))
    publish = layer.stats()["shards"][redis_url]["publish"]
    assert publish["commands"] == 50 and 1 <= publish["batches"] < 50  # concurrent sends share batches
    assert 0 < publish["seconds_max"] <= publish["seconds_total"] < 5
    buckets = list(publish["buckets"].values())
    assert buckets == sorted(buckets) and publish["buckets"]["+Inf"] == publish["batches"]
    assert list(publish["buckets"])[:-1] == [repr(bound) for bound in BOUNDS]


async def test_commands_that_found_redis_down_are_counted_as_failed(private_redis):
    layer = channels_fanout.FanoutChannelLayer(hosts=[private_redis.url], **FAST)
    try:
        await layer.group_send("room", {"type": "m"})
        private_redis.kill()
        with pytest.raises(ChannelLayerUnavailable):
            await layer.group_send("room", {"type": "m"})
        publish = layer.stats()["shards"][private_redis.url]["publish"]
        assert (publish["commands"], publish["failed"]) == (1, 1)
    finally:
        await asyncio.wait_for(layer.close(), 5)


def test_latency_buckets_are_cumulative_and_include_their_bound():
    latency = Latency()
    for seconds in (0.0001, 0.0002, 0.003, 10.0):
        latency.observe(seconds)
    buckets = latency.cumulative()
    assert (buckets["0.0001"], buckets["0.00025"], buckets["0.005"], buckets["2.5"], buckets["+Inf"]) == (1, 2, 3, 3, 4)
    assert (latency.count, latency.max) == (4, 10.0) and latency.total == pytest.approx(10.0033)


async def test_presence_counts_tracked_channels_scripts_and_re_assertions(make_layer, redis_server):
    layer = make_layer(presence_timeout=0.6, **QUIET)
    a, b = await layer.new_channel(), await layer.new_channel()
    await layer.presence_track("room", a, "alice")
    await layer.presence_track("room", b, "bob")
    await layer.presence_track("lobby", b, "bob")
    await layer.presence_list("room")
    stats = layer.stats()
    assert stats["tracked"] == 3  # one per (group, channel)
    assert stats["presence"]["scripts"] >= 4 and stats["presence"]["resyncs"] == 0
    await layer.presence_untrack("room", a)
    assert layer.stats()["tracked"] == 2
    with redis_server.client() as client:
        client.delete(*client.keys("asgi:presence*{lobby}*"))  # as if Redis had lost them
    await eventually(lambda: layer.stats()["presence"]["resyncs"] == 1, timeout=2)  # the next beat re-asserts
    assert await layer.presence_list("lobby") == {"bob": [{}]}


async def test_counters_outlive_a_closed_event_loop_and_keep_growing(make_layer):
    layer = make_layer(**QUIET)
    await layer.group_send("room", {"type": "m"})
    await layer.close()
    stats = layer.stats()
    assert stats["loops"] == 0 and stats["messages"]["published"] == 1
    await layer.group_send("room", {"type": "m"})
    assert layer.stats()["messages"]["published"] == 2 and layer.stats()["loops"] == 1


async def test_stats_sum_over_every_event_loop_of_the_process(make_layer):
    layer = make_layer(**QUIET)
    await layer.group_send("room", {"type": "from the loop"})
    # A thread without a loop: async_to_sync runs the call on the layer's private loop thread.
    await asyncio.to_thread(async_to_sync(layer.group_send), "room", {"type": "from a thread"})
    stats = layer.stats()
    assert stats["loops"] == 2 and stats["messages"]["published"] == 2


@pytest.mark.parametrize(
    ("description", "shown"),
    [
        ("redis://:secret@cache:6379/2", "redis://cache:6379/2"),
        ("rediss://user:secret@[::1]:6380/0?ssl_cert_reqs=none", "rediss://[::1]:6380/0"),
        ("unix:///run/redis.sock?db=1&password=secret", "unix:///run/redis.sock"),
        ("cache:6379", "cache:6379"),
    ],
)
def test_shard_names_never_carry_credentials(description, shown):
    assert redact(description) == shown


async def test_messages_are_never_logged_one_by_one(make_layer, caplog):
    caplog.set_level(logging.DEBUG, logger="channels_fanout")
    receiver, sender = make_layer(**QUIET), make_layer(**QUIET)
    channel = await receiver.new_channel()
    await receiver.group_add("room", channel)
    caplog.clear()
    for n in range(100):
        await sender.group_send("room", {"type": "m", "n": n})
        await sender.send(channel, {"type": "m", "n": n})
        await receive(receiver, channel)
        await receive(receiver, channel)
    assert [r.getMessage() for r in caplog.records] == []


def test_every_module_logs_under_its_own_name():
    names = [info.name for info in pkgutil.walk_packages(channels_fanout.__path__, "channels_fanout.")]
    modules = [importlib.import_module(name) for name in names]
    loggers = {module.__name__: module.logger.name for module in modules if hasattr(module, "logger")}
    assert len(loggers) >= 6
    assert all(name == logger for name, logger in loggers.items()), loggers
