"""Several independent Redis hosts (client-side sharding): every message reaches its consumer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from channels_fanout import FanoutChannelLayer
from channels_fanout.naming import Names, client_id_of
from channels_fanout.transport.sharding import shard_of
from tests.helpers import eventually, numsub, pubsub_clients, subscriber_outage
from tests.layer_process import LayerProcess
from tests.redis_server import RedisServer

NAMES = Names("asgi")


@pytest.fixture
def three_hosts(tmp_path) -> Iterator[list[RedisServer]]:
    servers = [RedisServer(tmp_path / f"redis{index}") for index in range(3)]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def processes(three_hosts) -> Iterator[list[LayerProcess]]:
    urls = [server.url for server in three_hosts]
    children = [LayerProcess(urls[0], hosts=urls) for _ in range(3)]
    yield children
    for child in children:
        child.stop()


def host_of(name: bytes) -> int:
    return shard_of(name, 3)


def groups_on(host: int, count: int) -> list[str]:
    """Group names whose topics live on ``host`` (of three)."""
    names = (f"room{index}" for index in range(10_000))
    return [name for name in names if host_of(NAMES.group_topic(name)) == host][:count]


async def receivers_on_every_host(make_layer, urls: list[str]) -> list[tuple[FanoutChannelLayer, str]]:
    """Layers (one process-like node each) until their inbox topics cover the three hosts."""
    receivers, hosts = [], set()
    for _ in range(60):  # each layer's random client id picks a host: 60 tries all miss one in ~10^10
        layer = make_layer(hosts=urls, capacity=1000)  # the test sends everything, then receives
        channel = await layer.new_channel()
        receivers.append((layer, channel))
        hosts.add(host_of(NAMES.inbox_topic(client_id_of(channel))))
        if len(hosts) == 3:
            return receivers
    raise AssertionError("no receiver landed on some host")


async def test_a_thousand_direct_sends_over_three_hosts_all_arrive(three_hosts, make_layer):
    urls = [server.url for server in three_hosts]
    receivers = await receivers_on_every_host(make_layer, urls)
    sender = make_layer(hosts=urls)
    for _, channel in receivers:
        # Subscribed on the host the sender publishes to, and nowhere else (the prior art's bug).
        topic = NAMES.inbox_topic(client_id_of(channel))
        for index, server in enumerate(three_hosts):
            with server.client() as client:
                assert numsub(client, topic) == (1 if index == host_of(topic) else 0)

    expected: dict[str, list[int]] = {channel: [] for _, channel in receivers}
    for n in range(1000):
        channel = receivers[n % len(receivers)][1]
        expected[channel].append(n)
        await sender.send(channel, {"type": "direct", "n": n})
    for layer, channel in receivers:
        got = [(await asyncio.wait_for(layer.receive(channel), 2))["n"] for _ in expected[channel]]
        assert got == expected[channel]
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(receivers[0][0].receive(receivers[0][1]), 0.2)


async def test_worker_channel_lists_are_spread_over_hosts_and_each_message_arrives_once(three_hosts, make_layer):
    urls = [server.url for server in three_hosts]
    sender, worker = make_layer(hosts=urls), make_layer(hosts=urls)
    channels = [f"jobs{index}" for index in range(30)]
    for n in range(300):
        await sender.send(channels[n % 30], {"type": "job", "n": n})
    for index, server in enumerate(three_hosts):
        with server.client() as client:
            keys = {key.decode() for key in client.keys("asgi:queue:*")}
        assert keys == {NAMES.queue_key(c) for c in channels if host_of(NAMES.queue_key(c).encode()) == index}
        assert keys  # 30 channels never all miss a host (jump hash spreads them)
    numbers = []
    for channel in channels:
        numbers += [(await asyncio.wait_for(worker.receive(channel), 3))["n"] for _ in range(10)]
    assert sorted(numbers) == list(range(300))


async def test_group_send_reaches_members_on_every_host_in_every_process(processes, three_hosts, make_layer):
    urls = [server.url for server in three_hosts]
    groups = [group for host in range(3) for group in groups_on(host, 2)]
    one, two, three = processes
    members = {group: one.ask(join=group, count=2) + two.ask(join=group, count=1) for group in groups}
    for group in groups_on(0, 2):  # the third process has members on the first host only
        members[group] += three.ask(join=group, count=1)
    sender = make_layer(hosts=urls)
    for group in groups:
        for n in range(5):
            await sender.group_send(group, {"type": "chat", "group": group, "n": n})

    def everyone_has_five():
        received = {**one.ask(report=True), **two.ask(report=True), **three.ask(report=True)}
        complete = all(len(received.get(c, [])) >= 5 for channels in members.values() for c in channels)
        return received if complete else None

    received = await eventually(everyone_has_five, timeout=10, interval=0.1)
    for group, channels in members.items():
        for channel in channels:
            assert received[channel] == [{"type": "chat", "group": group, "n": n} for n in range(5)]


async def test_each_process_holds_one_subscriber_connection_per_host_it_needs(processes, three_hosts):
    one, two, three = processes
    everywhere = [group for host in range(3) for group in groups_on(host, 4)]
    needs = []
    for process, groups in ((one, everywhere), (two, everywhere), (three, groups_on(0, 4))):
        channels = [channel for group in groups for channel in process.ask(join=group, count=3)]
        topics = [NAMES.inbox_topic(client_id_of(channels[0])), NAMES.control_topic]
        topics += [NAMES.group_topic(group) for group in groups]
        needs.append({host_of(topic) for topic in topics})
    for index, server in enumerate(three_hosts):
        with server.client() as client:
            # Twelve group topics plus inbox and control per process, yet one connection per process.
            assert len(pubsub_clients(client)) == sum(index in hosts for hosts in needs)
            for group in groups_on(index, 4):
                assert numsub(client, NAMES.group_topic(group)) == (3 if index == 0 else 2)


async def test_a_group_s_history_lives_on_its_topic_s_host_and_recovers_an_outage_there(make_layer, three_hosts):
    urls = [server.url for server in three_hosts]
    history = {"room*": {"size": 100, "ttl": 60}}
    receiver = make_layer(hosts=urls, history=history, heartbeat_interval=0.3, reconnect_max_delay=0.2)
    sender = make_layer(hosts=urls, history=history)
    groups = [groups_on(host, 1)[0] for host in range(3)]
    channel = await receiver.new_channel()
    for group in groups:
        await receiver.group_add(group, channel)
    for host, group in enumerate(groups):
        await sender.group_send(group, {"type": "m", "group": group, "n": 0})
        with three_hosts[host].client() as client:
            assert client.exists(NAMES.group_key("history", group), NAMES.group_key("history-epoch", group)) == 2
            others = [server for index, server in enumerate(three_hosts) if index != host]
        for other in others:
            with other.client() as client:
                assert not client.exists(NAMES.group_key("history", group))
    assert sorted([(await asyncio.wait_for(receiver.receive(channel), 2))["group"] for _ in groups]) == sorted(groups)
    outage_host = host_of(NAMES.group_topic(groups[1]))
    with three_hosts[outage_host].client() as client, subscriber_outage(client):
        await sender.group_send(groups[1], {"type": "m", "group": groups[1], "n": 1})
    assert (await asyncio.wait_for(receiver.receive(channel), 5))["n"] == 1  # replayed from that host's stream
    assert receiver.stats()["history"]["replayed"] == 1
    assert [m["n"] for m in (await sender.group_history(groups[1])).messages] == [0, 1]
