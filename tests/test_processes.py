"""Two OS processes, each with its own layer, against one private Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from channels_fanout import FanoutChannelLayer
from tests.helpers import eventually, numsub, pubsub_clients
from tests.layer_process import LayerProcess


@pytest.fixture
def two_processes(redis_url: str) -> Iterator[list[LayerProcess]]:
    processes = [LayerProcess(redis_url), LayerProcess(redis_url)]
    yield processes
    for process in processes:
        process.stop()


async def test_group_send_reaches_members_in_two_processes_exactly_once(two_processes, make_layer, redis_server):
    one, two = two_processes
    members = one.ask(join="room", count=3) + two.ask(join="room", count=2)
    with redis_server.client() as client:
        assert numsub(client, "asgi:group:{room}") == 2
        subscribers = pubsub_clients(client)
        assert len(subscribers) == 2  # one subscriber connection per process, whatever its consumers
        publisher = make_layer()
        for n in range(10):
            await publisher.group_send("room", {"type": "chat", "n": n})

        def everyone_has_ten():
            received = {**one.ask(report=True), **two.ask(report=True)}
            return received if all(len(received.get(c, [])) >= 10 for c in members) else None

        received = await eventually(everyone_has_ten, timeout=10, interval=0.1)
        for channel in members:
            assert [m["n"] for m in received[channel]] == list(range(10))
        one.ask(leave="room")
        await eventually(lambda: numsub(client, "asgi:group:{room}") == 1)
        two.ask(leave="room")
        await eventually(lambda: numsub(client, "asgi:group:{room}") == 0)


async def test_worker_channel_messages_are_delivered_once_across_processes(two_processes, make_layer):
    for process in two_processes:
        process.ask(work="jobs")
    sender = make_layer()
    for n in range(100):
        await sender.send("jobs", {"type": "job", "n": n})

    def all_delivered():
        numbers = [m["n"] for p in two_processes for m in p.ask(report=True).get("jobs", [])]
        return numbers if len(numbers) >= 100 else None

    numbers = await eventually(all_delivered, timeout=15, interval=0.1)
    await asyncio.sleep(0.3)
    numbers = [m["n"] for p in two_processes for m in p.ask(report=True).get("jobs", [])]
    assert sorted(numbers) == list(range(100))


async def test_direct_send_crosses_processes(two_processes, make_layer):
    channel = two_processes[0].ask(join="solo", count=1)[0]
    sender: FanoutChannelLayer = make_layer()
    await sender.send(channel, {"type": "direct"})
    received = await eventually(lambda: two_processes[0].ask(report=True).get(channel), timeout=5, interval=0.05)
    assert received == [{"type": "direct"}]
