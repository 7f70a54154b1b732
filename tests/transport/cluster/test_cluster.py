"""Redis Cluster with sharded pub/sub, for real: three primaries with a replica each, on loopback."""

from __future__ import annotations

import asyncio
import gc
import time
import warnings
from collections.abc import Iterator

import pytest
from redis.crc import key_slot

from channels_fanout import ChannelLayerUnavailable, FanoutChannelLayer, signals
from channels_fanout.naming import Names
from channels_fanout.transport.cluster import hub as cluster_hub
from tests.helpers import FAST, Collector, Numbered, assert_no_silent_hole, eventually, flows_again
from tests.layer_process import LayerProcess
from tests.redis_cluster import RedisClusterServers
from tests.redis_server import RedisServer

NAMES = Names("asgi")


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory) -> Iterator[RedisClusterServers]:
    """One cluster for the tests that leave it whole (a migrated slot does)."""
    cluster = RedisClusterServers(tmp_path_factory.mktemp("cluster"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster(shared_cluster) -> RedisClusterServers:
    for primary in shared_cluster.primaries():
        with primary.client() as client:
            client.flushall()
    return shared_cluster


@pytest.fixture
def private_cluster(tmp_path) -> Iterator[RedisClusterServers]:
    """A cluster of the test's own, whose primaries it may kill."""
    cluster = RedisClusterServers(tmp_path / "cluster")
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
async def make_cluster_layer():
    layers = []

    def make(cluster: RedisClusterServers, **options):
        layer = FanoutChannelLayer(hosts=[{"cluster": cluster.url}], **{**FAST, **options})
        layers.append(layer)
        return layer

    yield make
    for layer in layers:
        await asyncio.wait_for(layer.close(), 5)


@pytest.fixture(autouse=True)
def no_unclosed_resources() -> Iterator[None]:
    """Here, collect leaked sockets quietly instead of failing (overrides the conftest fixture).

    redis-py's cluster client replaces ClusterNode objects on a slot-map refresh and drops the old
    ones with their connections unclosed (redis/asyncio/cluster.py, NodesManager.set_nodes), out
    of this layer's reach; they would otherwise warn in whichever test the collector runs in.
    """
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def group_on(cluster: RedisClusterServers, primary: RedisServer, avoid: set[int] = frozenset()) -> str:
    """A group name whose topic's slot ``primary`` owns (and not one of the ``avoid`` slots)."""
    slots = cluster.slots_of(primary) - avoid
    return next(f"room{n}" for n in range(100_000) if key_slot(NAMES.group_topic(f"room{n}")) in slots)


def cluster_stats(node: RedisServer) -> dict[str, int]:
    with node.client() as client:
        text = client.execute_command("CLUSTER", "INFO").decode()
    return {key: int(value) for key, value in (line.split(":", 1) for line in text.split()) if "publish" in key}


def sharded_subscribers(node: RedisServer) -> list[dict[str, str]]:
    with node.client() as client:
        return [c for c in client.client_list() if int(c["ssub"]) > 0]


def shard_numsub(node: RedisServer, topic: bytes) -> int:
    with node.client() as client:
        return int(client.execute_command("PUBSUB", "SHARDNUMSUB", topic)[1])


class GapSignals:
    """Collects the gap signal while the test runs."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, set[str], float]] = []
        self.reports: list[tuple[object, dict[str, list[str]]]] = []

    def __call__(self, sender, channels, outage, groups, **kwargs) -> None:
        self.calls.append((sender, channels, outage))
        self.reports.append((sender, groups))

    def channels(self) -> set[str]:
        return {channel for _, channels, _ in self.calls for channel in channels}


@pytest.fixture
def gaps() -> Iterator[GapSignals]:
    collected = GapSignals()
    signals.gap.connect(collected)
    yield collected
    signals.gap.disconnect(collected)


async def test_fan_out_across_two_processes_and_three_shards_travels_only_within_each_shard(
    cluster, make_cluster_layer
):
    hosts = [{"cluster": cluster.url}]
    primaries = cluster.primaries()
    groups = [group_on(cluster, primary) for primary in primaries]
    one, two = LayerProcess(cluster.url, hosts=hosts), LayerProcess(cluster.url, hosts=hosts)
    try:
        members = {group: one.ask(join=group, count=2) + two.ask(join=group, count=1) for group in groups}
        before = {node.port: cluster_stats(node) for node in cluster.nodes}
        sender = make_cluster_layer(cluster)
        for group in groups:
            for n in range(5):
                await sender.group_send(group, {"type": "chat", "group": group, "n": n})

        def everyone_has_five():
            received = {**one.ask(report=True), **two.ask(report=True)}
            complete = all(len(received.get(c, [])) >= 5 for channels in members.values() for c in channels)
            return received if complete else None

        received = await eventually(everyone_has_five, timeout=10, interval=0.1)
        for group, channels in members.items():
            for channel in channels:
                assert received[channel] == [{"type": "chat", "group": group, "n": n} for n in range(5)]
        for primary, group in zip(primaries, groups, strict=True):
            topic = NAMES.group_topic(group)
            # Subscribed where the slot lives, by one connection per process for all its topics.
            assert [shard_numsub(p, topic) for p in primaries] == [2 if p is primary else 0 for p in primaries]
            assert len(sharded_subscribers(primary)) == 2
            assert all(int(c["sub"]) == 0 for c in sharded_subscribers(primary))  # no plain SUBSCRIBE
            # SPUBLISH went to the primary's replica only; a PUBLISH would have gone to all five nodes.
            stats = cluster_stats(primary)
            assert (
                stats.get("cluster_stats_messages_publishshard_sent", 0)
                - before[primary.port].get("cluster_stats_messages_publishshard_sent", 0)
                == 5
            )
        assert all(
            cluster_stats(node).get("cluster_stats_messages_publish_sent", 0)
            == before[node.port].get("cluster_stats_messages_publish_sent", 0)
            for node in cluster.nodes
        )
    finally:
        one.stop()
        two.stop()


async def test_worker_channels_and_flush_work_across_primaries(cluster, make_cluster_layer):
    sender, worker = make_cluster_layer(cluster), make_cluster_layer(cluster)
    channels = [f"jobs{index}" for index in range(30)]
    for n in range(150):
        await sender.send(channels[n % 30], {"type": "job", "n": n})
    assert all(cluster_dbsize(primary) > 0 for primary in cluster.primaries())  # keys spread by slot
    numbers = []
    for channel in channels:
        numbers += [(await asyncio.wait_for(worker.receive(channel), 3))["n"] for _ in range(5)]
    assert sorted(numbers) == list(range(150))

    for n in range(30):
        await sender.send(channels[n], {"type": "job", "n": n})
    await sender.flush()
    assert [cluster_dbsize(primary) for primary in cluster.primaries()] == [0, 0, 0]


def cluster_dbsize(node: RedisServer) -> int:
    with node.client() as client:
        return int(client.dbsize())


async def test_slot_migrated_while_messages_flow_moves_the_subscription(cluster, make_cluster_layer, gaps):
    receiver, sender = make_cluster_layer(cluster, capacity=10_000), make_cluster_layer(cluster, capacity=10_000)
    source, target = cluster.primaries()[:2]
    group = group_on(cluster, source)
    slot = key_slot(NAMES.group_topic(group))
    # A worker channel whose list lives in the same slot: its key migrates with the subscription.
    work = next(f"jobs{n}" for n in range(1_000_000) if key_slot(NAMES.queue_key(f"jobs{n}").encode()) == slot)
    member = await receiver.new_channel()
    await receiver.group_add(group, member)
    sent = 0
    stop = asyncio.Event()

    async def send_until_stopped() -> None:
        nonlocal sent
        while not stop.is_set():
            await sender.group_send(group, {"type": "chat", "n": sent})
            await sender.send(work, {"type": "job", "n": sent})
            sent += 1
            await asyncio.sleep(0.002)

    sending = asyncio.create_task(send_until_stopped())
    await eventually(lambda: sent >= 50 or sending.done())
    await asyncio.to_thread(cluster.move_slot, slot, target)
    moved_at = sent
    await eventually(lambda: sent >= moved_at + 100 or sending.done())
    stop.set()
    await sending  # a publish that failed would raise here: MOVED and ASK are followed

    got = []
    while len(got) < sent:
        try:
            got.append((await asyncio.wait_for(receiver.receive(member), 1))["n"])
        except asyncio.TimeoutError:
            break
    assert got == sorted(set(got)) and got[-1] == sent - 1  # in order, no duplicates, flowing at the end
    assert len(got) > sent - 50  # at most the messages of the move's short gap are missing
    await eventually(lambda: member in gaps.channels())
    assert (shard_numsub(source, NAMES.group_topic(group)), shard_numsub(target, NAMES.group_topic(group))) == (0, 1)
    jobs = [(await asyncio.wait_for(receiver.receive(work), 3))["n"] for _ in range(sent)]
    assert sorted(jobs) == list(range(sent))  # lists are never lost: every job, exactly once


async def test_killed_primary_is_replaced_by_its_replica_and_other_shards_keep_flowing(
    private_cluster, make_cluster_layer, gaps
):
    cluster = private_cluster
    receiver, sender = make_cluster_layer(cluster), make_cluster_layer(cluster)
    doomed, *others = cluster.primaries()
    replica = cluster.replica_of(doomed)
    doomed_group, other_group = group_on(cluster, doomed), group_on(cluster, others[0])
    channel = await receiver.new_channel()
    for group in (doomed_group, other_group):
        await receiver.group_add(group, channel)
        await flows_again(sender, receiver, channel, group)

    cluster.kill(doomed)
    started = time.monotonic()
    await sender.group_send(other_group, {"type": "during"})  # the other shards are not waiting for it
    assert (await asyncio.wait_for(receiver.receive(channel), 1))["type"] == "during"
    with pytest.raises(ChannelLayerUnavailable):
        await sender.group_send(doomed_group, {"type": "lost"})
    assert time.monotonic() - started < 2

    await eventually(lambda: replica in cluster.primaries(), timeout=15, interval=0.1)
    assert await flows_again(sender, receiver, channel, doomed_group, timeout=10) < 10
    await eventually(lambda: channel in gaps.channels())
    assert shard_numsub(replica, NAMES.group_topic(doomed_group)) == 1


async def test_unexpected_error_while_routing_is_logged_and_routing_goes_on(
    cluster, make_cluster_layer, monkeypatch, caplog
):
    failures = []
    primary_of = cluster_hub.primary_of

    def fails_once(client, topic):
        if not failures:
            failures.append(topic)
            raise RuntimeError("unforeseen")
        return primary_of(client, topic)

    monkeypatch.setattr(cluster_hub, "primary_of", fails_once)
    layer = make_cluster_layer(cluster)
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    await layer.group_send("room", {"type": "after"})
    assert (await asyncio.wait_for(layer.receive(channel), 5))["type"] == "after"
    assert failures
    (record,) = [r for r in caplog.records if "failed unexpectedly" in r.getMessage()]
    assert record.exc_info and "unforeseen" in str(record.exc_info[1])


async def test_stats_and_the_stats_reports_work_on_a_cluster(cluster, make_cluster_layer):
    layer = make_cluster_layer(cluster, stats_interval=0.2)
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    await layer.group_send("room", {"type": "chat"})
    await asyncio.wait_for(layer.receive(channel), 2)
    (shard,) = layer.stats()["shards"].values()
    assert shard["subscribed"] and shard["subscriptions"] == 3  # inbox, control and the group
    assert shard["publish"]["commands"] >= 1
    deadline = time.monotonic() + 3
    # Written with SET on the key's primary, read with SCAN on every primary; a later beat has the group.
    while [report["groups"] for report in await layer.cluster_stats()] != [1]:
        assert time.monotonic() < deadline, "no stats report with the group within 3s"
        await asyncio.sleep(0.05)


async def test_with_history_a_primary_failover_is_recovered_or_signalled_never_a_silent_hole(
    private_cluster, make_cluster_layer, gaps
):
    cluster = private_cluster
    history = {"room*": {"size": 10_000, "ttl": 60}}
    receiver, sender = make_cluster_layer(cluster, history=history), make_cluster_layer(cluster, history=history)
    doomed = cluster.primaries()[0]
    replica = cluster.replica_of(doomed)
    group = group_on(cluster, doomed)
    channel = await receiver.new_channel()
    await receiver.group_add(group, channel)
    numbered, collector = Numbered(sender, group), Collector(receiver, channel)
    try:
        numbered.start()
        await eventually(lambda: len(numbered.acknowledged) > 50)
        cluster.kill(doomed)
        await eventually(lambda: replica in cluster.primaries(), timeout=15, interval=0.1)
        after = len(numbered.acknowledged)
        await eventually(lambda: len(numbered.acknowledged) > after + 50, timeout=15)
        await numbered.stop()
        received = await collector.until_quiet()
    finally:
        await numbered.stop()
        await collector.until_quiet(0)
    assert_no_silent_hole(numbered.acknowledged, received, group, [report for _, report in gaps.reports])
    assert received[-1]["n"] == numbered.acknowledged[-1]  # and it flows on the promoted replica
    assert receiver.stats()["history"]["reads"] >= 2  # where it subscribed, and the replay after the failover
