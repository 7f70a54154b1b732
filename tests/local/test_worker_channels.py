"""Normal channels (runworker, background tasks): each message reaches exactly one receiver."""

import asyncio
import collections

import pytest
from channels.exceptions import ChannelFull

from tests.helpers import eventually


async def test_message_waits_for_a_receiver_that_arrives_later(make_layer):
    sender, worker = make_layer(), make_layer()
    await sender.send("thumbnails", {"type": "make", "id": 1})
    await asyncio.sleep(0.2)
    assert await asyncio.wait_for(worker.receive("thumbnails"), 3) == {"type": "make", "id": 1}


async def test_two_receivers_share_the_messages_each_exactly_once(make_layer):
    sender, one, two = make_layer(), make_layer(), make_layer()
    got: collections.Counter[int] = collections.Counter()
    by_receiver = {"one": 0, "two": 0}

    async def work(name, layer):
        while True:
            message = await layer.receive("jobs")
            got[message["n"]] += 1
            by_receiver[name] += 1
            await asyncio.sleep(0.002)  # a worker that takes a moment lets the other one in

    workers = [asyncio.create_task(work("one", one)), asyncio.create_task(work("two", two))]
    for n in range(100):
        await sender.send("jobs", {"type": "job", "n": n})
    await eventually(lambda: sum(got.values()) >= 100, timeout=10)
    await asyncio.sleep(0.2)
    for worker in workers:
        worker.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    assert sorted(got) == list(range(100))
    assert set(got.values()) == {1}
    assert by_receiver["one"] and by_receiver["two"]


async def test_full_worker_channel_raises_channel_full(make_layer):
    sender = make_layer(channel_capacity={"jobs": 3})
    for n in range(3):
        await sender.send("jobs", {"n": n})
    with pytest.raises(ChannelFull):
        await sender.send("jobs", {"n": 3})


async def test_expired_worker_message_is_not_delivered(make_layer):
    sender, worker = make_layer(expiry=0.2), make_layer(expiry=0.2)
    await sender.send("jobs", {"n": "stale"})
    await asyncio.sleep(0.4)
    await sender.send("jobs", {"n": "fresh"})
    assert await asyncio.wait_for(worker.receive("jobs"), 3) == {"n": "fresh"}


async def test_cancelled_receive_on_a_worker_channel_loses_nothing(make_layer):
    sender, worker = make_layer(), make_layer()
    received = []
    sending = asyncio.create_task(_send_numbers(sender, 30))
    while len(received) < 30:
        try:
            received.append((await asyncio.wait_for(worker.receive("jobs"), 0.01))["n"])
        except asyncio.TimeoutError:
            pass
    await sending
    assert received == list(range(30))


async def test_publish_only_process_opens_no_blocking_connection(make_layer, redis_server):
    sender = make_layer()
    with redis_server.client() as client:
        await sender.send("jobs", {"n": 1})
        assert not [c for c in client.client_list() if c["cmd"] == "blpop"]


async def _send_numbers(layer, count):
    for n in range(count):
        await layer.send("jobs", {"n": n})
        await asyncio.sleep(0.005)
