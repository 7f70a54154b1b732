"""Groups with history against a real redis-server: positions, replay after an outage, and client catch-up."""

from __future__ import annotations

import asyncio

import pytest

from channels_fanout import ChannelLayerUnavailable, FanoutChannelLayer, signals
from channels_fanout.naming import Names
from tests.helpers import FAST, command_calls, eventually, receive, subscriber_outage

HISTORY = {"room.*": {"size": 50, "ttl": 60}}


@pytest.fixture
def make_history_layer(make_layer, private_redis):
    def make(**options):
        return make_layer(hosts=[private_redis.url], **{**FAST, "history": HISTORY, **options})

    return make


@pytest.fixture
def gaps():
    seen: list[dict] = []

    def record(sender, channels, outage, groups, **kwargs):
        seen.append(groups)

    signals.gap.connect(record)
    yield seen
    signals.gap.disconnect(record)


async def member(layer: FanoutChannelLayer, *groups: str) -> str:
    channel = await layer.new_channel()
    for group in groups:
        await layer.group_add(group, channel)
    return channel


async def test_a_history_group_message_carries_its_position_and_costs_one_command(make_history_layer, private_redis):
    receiver, sender = make_history_layer(), make_history_layer()
    channel = await member(receiver, "room.1", "plain")
    with private_redis.client() as client:
        await sender.group_send("room.1", {"type": "m"})  # the first use loads the script
        before = command_calls(client, "evalsha"), command_calls(client, "eval")
        for n in range(10):
            await sender.group_send("room.1", {"type": "m", "n": n})
        assert (command_calls(client, "evalsha"), command_calls(client, "eval")) == (before[0] + 10, before[1])
    positions = [(await receive(receiver, channel))["history_position"] for _ in range(11)]
    assert len(set(positions)) == 11 and len({p.split(":")[0] for p in positions}) == 1
    await sender.group_send("plain", {"type": "p"})
    assert "history_position" not in await receive(receiver, channel)


async def test_concurrent_sends_to_one_group_share_one_script_and_arrive_in_the_order_they_were_called(
    make_history_layer, private_redis
):
    receiver, sender = make_history_layer(capacity=200), make_history_layer()
    channel = await member(receiver, "room.1")
    await sender.group_send("room.1", {"type": "m", "n": -1})  # the first use loads the script
    with private_redis.client() as client:
        before = command_calls(client, "evalsha")
        await asyncio.gather(*(sender.group_send("room.1", {"type": "m", "n": n}) for n in range(150)))
        assert command_calls(client, "evalsha") == before + 2  # 100 messages at most per script
    received = [await receive(receiver, channel) for _ in range(151)]
    assert [m["n"] for m in received] == list(range(-1, 150))
    assert len({m["history_position"] for m in received}) == 151
    history = await receiver.group_history("room.1", limit=200)
    assert [m["n"] for m in history.messages] == list(range(100, 150))  # size 50


async def test_sends_in_flight_when_the_layer_closes_end_without_hanging(make_history_layer):
    layer = make_history_layer()
    await layer.group_send("room.1", {"type": "m"})
    sends = [asyncio.ensure_future(layer.group_send("room.1", {"type": "m", "n": n})) for n in range(20)]
    await asyncio.sleep(0)
    await asyncio.wait_for(layer.close(), 2)
    for outcome in await asyncio.wait_for(asyncio.gather(*sends, return_exceptions=True), 2):
        assert outcome is None or isinstance(outcome, ChannelLayerUnavailable)


async def test_what_was_published_during_an_outage_is_replayed_in_order_before_later_messages(
    make_history_layer, private_redis, gaps
):
    receiver, sender = make_history_layer(gap_message_type="gap"), make_history_layer()
    channel = await member(receiver, "room.1", "plain")
    await sender.group_send("room.1", {"type": "m", "n": -1})
    assert (await receive(receiver, channel))["n"] == -1
    with private_redis.client() as client, subscriber_outage(client):
        for n in range(20):
            await sender.group_send("room.1", {"type": "m", "n": n})
        await sender.group_send("plain", {"type": "p"})  # lost: "plain" keeps no history
    for n in range(20, 25):  # live again, perhaps while the replay is under way
        await sender.group_send("room.1", {"type": "m", "n": n})
    got = [await receive(receiver, channel, timeout=5) for _ in range(26)]
    numbers = [message["n"] for message in got if message["type"] == "m"]
    assert numbers == list(range(25))
    (gap,) = [message for message in got if message["type"] == "gap"]
    assert gap["groups"] == ["plain"]  # room.1 was replayed in full: it is not among the groups that lost messages
    assert gaps == [{channel: ["plain"]}]
    with pytest.raises(asyncio.TimeoutError):
        await receive(receiver, channel, timeout=0.3)
    stats = receiver.stats()["history"]
    assert stats["replayed"] >= 20 and stats["unrecovered"] == 0 and stats["groups"] == 1


async def test_a_gap_longer_than_the_history_is_signalled_for_that_group(make_history_layer, private_redis, gaps):
    receiver = make_history_layer(gap_message_type="gap", history={"room.*": {"size": 5, "ttl": 60}})
    sender = make_history_layer(history={"room.*": {"size": 5, "ttl": 60}})
    channel = await member(receiver, "room.1")
    await sender.group_send("room.1", {"type": "m", "n": 0})
    await receive(receiver, channel)
    with private_redis.client() as client, subscriber_outage(client):
        for n in range(1, 11):  # ten messages: the stream keeps five, so message 1 is gone
            await sender.group_send("room.1", {"type": "m", "n": n})
    gap = await receive(receiver, channel, timeout=5)
    assert gap["type"] == "gap" and gap["groups"] == ["room.1"]
    assert gaps == [{channel: ["room.1"]}]
    await sender.group_send("room.1", {"type": "m", "n": 11})
    assert (await receive(receiver, channel))["n"] == 11  # nothing replayed that cannot be trusted; live goes on
    assert receiver.stats()["history"]["unrecovered"] == 1


async def test_group_history_returns_what_a_client_missed_and_whether_that_is_all(make_history_layer):
    layer = make_history_layer(history={"room.*": {"size": 5, "ttl": 60}})
    for n in range(3):
        await layer.group_send("room.1", {"type": "m", "n": n})
    everything = await layer.group_history("room.1")
    assert [m["n"] for m in everything.messages] == [0, 1, 2] and everything.covered
    assert everything.position == everything.messages[-1]["history_position"]
    first = everything.messages[0]["history_position"]
    after_first = await layer.group_history("room.1", since=first)
    assert [m["n"] for m in after_first.messages] == [1, 2] and after_first.covered
    assert (await layer.group_history("room.1", since=first, limit=1)).messages[0]["n"] == 1
    up_to_date = await layer.group_history("room.1", since=everything.position)
    assert up_to_date.messages == [] and up_to_date.covered and up_to_date.position == everything.position
    for n in range(3, 8):  # the stream keeps five: message 0 and 1 are trimmed
        await layer.group_send("room.1", {"type": "m", "n": n})
    trimmed = await layer.group_history("room.1", since=first)
    assert not trimmed.covered and trimmed.messages == []
    latest = await layer.group_history("room.1", limit=2)
    assert [m["n"] for m in latest.messages] == [6, 7] and not latest.covered


async def test_a_history_lost_and_created_again_is_a_new_epoch_never_covered(make_history_layer):
    layer = make_history_layer()
    await layer.group_send("room.1", {"type": "m", "n": 0})
    old = (await layer.group_history("room.1")).position
    await layer.flush()  # as a restart without persistence, an eviction or a FLUSHALL would
    await layer.group_send("room.1", {"type": "m", "n": 1})
    after = await layer.group_history("room.1", since=old)
    assert not after.covered and after.messages == []
    assert after.position.split(":")[0] != old.split(":")[0]


def _history_keys(group: str) -> list[str]:
    names = Names("asgi")
    return [names.group_key("history", group), names.group_key("history-epoch", group)]


async def test_a_history_that_lost_acknowledged_messages_starts_a_new_epoch_at_their_senders_next_message(
    make_history_layer, private_redis
):
    # As a replica promoted without the tail, or an AOF that lost its last second: Redis goes back to an
    # earlier state of both keys while the sender holds the position of a message that is gone.
    sender, other = make_history_layer(), make_history_layer()
    await sender.group_send("room.1", {"type": "m", "n": 0})
    kept = (await sender.group_history("room.1")).position
    with private_redis.client() as client:
        snapshot = [client.dump(key) for key in _history_keys("room.1")]
        await sender.group_send("room.1", {"type": "m", "n": 1})
        for key, value in zip(_history_keys("room.1"), snapshot, strict=True):
            client.restore(key, 60_000, value, replace=True)
    await other.group_send("room.1", {"type": "m", "n": 2})  # a process that lost nothing: same epoch
    assert (await sender.group_history("room.1", since=kept)).covered
    await sender.group_send("room.1", {"type": "m", "n": 3})
    after = await sender.group_history("room.1", since=kept)
    assert not after.covered and after.position.split(":")[0] != kept.split(":")[0]


async def test_messages_trimmed_or_added_by_others_since_a_senders_last_keep_the_epoch(make_history_layer):
    sender, other = make_history_layer(), make_history_layer()
    await sender.group_send("room.1", {"type": "m", "n": 0})
    epoch = (await sender.group_history("room.1")).position.split(":")[0]
    await other.group_send("room.1", {"type": "m", "n": 1})
    await sender.group_send("room.1", {"type": "m", "n": 2})  # its last is in the stream, not the newest
    for n in range(3, 3 + HISTORY["room.*"]["size"] + 5):  # its last is trimmed away
        await other.group_send("room.1", {"type": "m", "n": n})
    await sender.group_send("room.1", {"type": "m", "n": 99})
    latest = await sender.group_history("room.1", limit=1)
    assert latest.position.split(":")[0] == epoch and latest.messages[0]["n"] == 99


async def test_a_history_expires_ttl_seconds_after_the_last_message(make_history_layer):
    layer = make_history_layer(history={"room.*": {"size": 5, "ttl": 0.3}})
    await layer.group_send("room.1", {"type": "m"})
    position = (await layer.group_history("room.1")).position
    await asyncio.sleep(0.5)
    expired = await layer.group_history("room.1", since=position)
    assert (expired.messages, expired.position, expired.covered) == ([], None, False)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        ({"group": "plain"}, ValueError, "keeps no history: give it a pattern in CONFIG"),
        ({"group": "room.1", "since": "yesterday"}, ValueError, "is not a history position"),
        ({"group": "room.1", "limit": 0}, ValueError, "limit must be an integer from 1 to 10000"),
        ({"group": "room.1", "limit": True}, ValueError, "limit must be an integer"),
        ({"group": "bad group!"}, TypeError, "Group name"),
    ],
)
async def test_group_history_refuses_bad_input_clearly(make_history_layer, call, error, match):
    with pytest.raises(error, match=match):
        await make_history_layer().group_history(**call)


@pytest.mark.parametrize(
    ("history", "error", "match"),
    [
        ([("room.*", 5)], TypeError, "must be a dict of group pattern"),
        ({"room.*": {"size": 5}}, ValueError, r"history\['room.\*'\] must be a dict with exactly 'size'"),
        ({"room.*": {"size": 0, "ttl": 5}}, ValueError, "must be at least 1"),
        ({"room.*": {"size": 5, "ttl": -1}}, ValueError, "must be positive"),
    ],
)
def test_a_bad_history_option_fails_at_construction_naming_it(history, error, match):
    with pytest.raises(error, match=match):
        FanoutChannelLayer(history=history)


@pytest.mark.parametrize("persistent", [True, False], ids=["aof-always", "no-persistence"])
async def test_a_redis_restart_is_recovered_with_aof_and_signalled_without(
    make_layer, tmp_path, persistent, gaps
):
    from tests.redis_server import RedisServer

    extra = ("--appendonly", "yes", "--appendfsync", "always") if persistent else ()
    server = RedisServer(tmp_path / "redis", None, *extra)
    server.start()
    try:
        options = {**FAST, "hosts": [server.url], "history": HISTORY}
        receiver, sender = make_layer(**options, gap_message_type="gap"), make_layer(**options)
        channel = await member(receiver, "room.1")
        for n in range(5):
            await sender.group_send("room.1", {"type": "m", "n": n})
        assert [(await receive(receiver, channel))["n"] for _ in range(5)] == list(range(5))
        with server.client() as client, subscriber_outage(client):
            for n in range(5, 10):
                await sender.group_send("room.1", {"type": "m", "n": n})
            server.restart()  # SIGKILL: only what the AOF kept survives
        await eventually(lambda: receiver.stats()["reconnects"] >= 1, timeout=10)
        await sender.group_send("room.1", {"type": "m", "n": 10})
        got = [await receive(receiver, channel, timeout=5) for _ in range(7 if persistent else 2)]
        (gap,) = [message for message in got if message["type"] == "gap"]
        numbers = [message["n"] for message in got if message["type"] == "m"]
        if persistent:  # only the process inbox (direct sends) may have lost something: no group is named
            assert numbers == list(range(5, 11)) and gap["groups"] == [] and gaps == [{channel: []}]
        else:
            assert numbers == [10] and gap["groups"] == ["room.1"] and gaps == [{channel: ["room.1"]}]
            assert got[0] is gap  # signalled before anything later is delivered
    finally:
        server.stop()
