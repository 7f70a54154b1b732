"""The cluster view: stats reports in Redis with a TTL, read back by cluster_stats(), across OS processes."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from channels_fanout import ChannelLayerUnavailable, FanoutChannelLayer
from channels_fanout.monitoring.reports import TTL_INTERVALS
from tests.helpers import eventually
from tests.layer_process import LayerProcess

BEAT = 0.2  # seconds between reports in these tests: a dead process is gone after TTL_INTERVALS of them


async def eventually_async(check, timeout=5.0, interval=0.05):
    """``eventually`` for an async check."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(interval)


def reports(client, prefix="asgi"):
    """The reports in Redis, by key."""
    return {key: json.loads(client.get(key)) for key in client.scan_iter(f"{prefix}:stats:*")}


async def test_a_process_reports_its_stats_under_the_prefix_with_a_ttl(make_layer, redis_server):
    layer = make_layer(stats_interval=BEAT)
    channel = await layer.new_channel()
    with redis_server.client() as client:
        # The first beat went out when the layer started, before the channel existed; a later one has it.
        with_channel = await eventually(lambda: {k: r for k, r in reports(client).items() if r["channels"]})
        ((key, report),) = with_channel.items()
        assert key.startswith(b"asgi:stats:")
        assert 0 < client.pttl(key) <= BEAT * TTL_INTERVALS * 1000
        assert report["pid"] == os.getpid() and report["ttl"] == BEAT * TTL_INTERVALS
        await layer.group_add("room", channel)
        # Later beats carry the news.
        await eventually(lambda: [r for r in reports(client).values() if r["groups"] == 1])


async def test_zero_stats_interval_writes_no_report(make_layer, redis_server):
    silent = make_layer(stats_interval=0)
    await silent.new_channel()
    beating = make_layer(stats_interval=0.05, prefix="beating")
    await beating.new_channel()
    with redis_server.client() as client:
        # The control: a layer with reports on, started after the silent one, has been reporting for a while.
        await eventually(lambda: [r for r in reports(client, "beating").values() if r["uptime"] >= 0.3])
        assert reports(client) == {}


async def test_flush_deletes_the_report_and_the_next_beat_writes_it_again(make_layer, redis_server):
    layer = make_layer(stats_interval=BEAT)
    await layer.new_channel()
    with redis_server.client() as client:
        (key,) = await eventually(lambda: reports(client))
        await layer.flush()
        assert not client.exists(key)
        await eventually(lambda: client.exists(key))


async def test_cluster_stats_lists_live_processes_and_drops_dead_ones_after_the_ttl(make_layer, redis_url):
    one, two = LayerProcess(redis_url, stats_interval=BEAT), LayerProcess(redis_url, stats_interval=BEAT)
    try:
        one.ask(join="room", count=3)
        two.ask(join="room", count=2)
        pids = {one.ask(pid=True), two.ask(pid=True)}
        viewer = make_layer(stats_interval=0)

        async def live() -> dict[int, dict]:
            return {report["pid"]: report for report in await viewer.cluster_stats()}

        async def both_joined() -> dict[int, dict]:
            view = await live()
            return view if {pid: view.get(pid, {}).get("members") for pid in pids} == {
                one.process.pid: 3, two.process.pid: 2} else {}

        view = await eventually_async(both_joined)
        assert set(view) == pids  # the viewer itself (stats_interval=0) is not listed
        for report in view.values():
            assert report["groups"] == 1 and 0 <= report["age"] <= BEAT * TTL_INTERVALS
            assert report["shards"][redis_url]["subscriptions"] == 3  # inbox, control, the room
        two.process.kill()  # dies without a word: only the TTL can tell
        died = time.monotonic()
        await eventually_async(lambda: _only(live, one.process.pid), timeout=5)
        assert time.monotonic() - died <= BEAT * TTL_INTERVALS + 1
    finally:
        one.stop()
        two.stop()


async def _only(live, pid):
    return set(await live()) == {pid}


async def test_malformed_reports_are_skipped_with_a_warning(make_layer, redis_server, caplog):
    layer = make_layer(stats_interval=BEAT)
    await layer.new_channel()
    with redis_server.client() as client:
        client.set("asgi:stats:bogus", b"not json", px=5000)
        client.set("asgi:stats:no-ttl", json.dumps({"host": "h", "pid": 1}), px=5000)
        await eventually(lambda: len(list(client.scan_iter("asgi:stats:*"))) == 3)
    (report,) = await layer.cluster_stats()
    assert report["pid"] == os.getpid()
    assert sum("malformed stats report" in r.getMessage() for r in caplog.records) == 2


async def test_reports_resume_after_redis_restarts(private_redis):
    fast = {"heartbeat_interval": 0.3, "reconnect_max_delay": 0.2, "command_timeout": 1}
    layer = FanoutChannelLayer(hosts=[private_redis.url], stats_interval=BEAT, **fast)
    try:
        await layer.new_channel()
        with private_redis.client() as client:
            await eventually(lambda: reports(client))
        private_redis.restart()  # keeps nothing: the report is gone until the next beat
        with private_redis.client() as client:
            await eventually(lambda: reports(client), timeout=10)
    finally:
        await asyncio.wait_for(layer.close(), 5)


async def test_cluster_stats_raises_unavailable_when_redis_is_down(private_redis):
    layer = FanoutChannelLayer(hosts=[private_redis.url], stats_interval=0, command_timeout=1)
    try:
        assert await layer.cluster_stats() == []
        private_redis.kill()
        with pytest.raises(ChannelLayerUnavailable, match="unavailable"):
            await layer.cluster_stats()
    finally:
        await asyncio.wait_for(layer.close(), 5)
