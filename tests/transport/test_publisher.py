"""The auto-pipelining publisher against a real Redis: lone commands, batches, a caller cancelled mid-exchange."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio.connection import Connection

from channels_fanout.transport.publisher import Publisher


@pytest.fixture
async def publisher(redis_url):
    host, port = redis_url.removeprefix("redis://").split("/")[0].split(":")
    made: list[Connection] = []

    def make_connection() -> Connection:
        made.append(Connection(host=host, port=int(port)))
        return made[-1]

    publisher = Publisher(make_connection, redis_url, timeout=2)
    publisher.made = made
    yield publisher
    await asyncio.wait_for(publisher.close(), 2)


async def test_a_lone_command_is_sent_from_the_caller_s_task_without_a_flusher(publisher):
    before = asyncio.all_tasks()
    assert await publisher.execute("ECHO", "lone") == b"lone"
    assert await publisher.execute("ECHO", "x") == b"x"
    assert asyncio.all_tasks() == before and publisher.commands == 2 and publisher.latency.count == 2


async def test_concurrent_commands_batch_behind_the_one_in_flight_and_each_gets_its_reply(publisher):
    replies = await asyncio.wait_for(asyncio.gather(*(publisher.execute("ECHO", str(n)) for n in range(100))), 2)
    assert replies == [str(n).encode() for n in range(100)]
    assert publisher.commands == 100 and publisher.latency.count <= 3  # the lone first, then one or two batches
    assert await publisher.execute("ECHO", "after") == b"after"


async def test_a_caller_cancelled_mid_exchange_leaves_a_fresh_connection_for_the_next(publisher):
    task = asyncio.create_task(publisher.execute("BLPOP", "nothing-here", "1"))
    await asyncio.sleep(0.05)  # sent, its reply not read yet
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The BLPOP's reply would come on the old connection a second later: the next command must not read it.
    assert await asyncio.wait_for(publisher.execute("ECHO", "next"), 2) == b"next"
    assert len(publisher.made) == 2 and not publisher.made[0].is_connected


async def test_commands_queued_behind_a_cancelled_lone_command_are_still_sent(publisher):
    lone = asyncio.create_task(publisher.execute("BLPOP", "nothing-here", "1"))
    await asyncio.sleep(0.05)
    queued = [asyncio.create_task(publisher.execute("ECHO", str(n))) for n in range(3)]
    await asyncio.sleep(0)
    lone.cancel()
    assert await asyncio.wait_for(asyncio.gather(*queued), 2) == [b"0", b"1", b"2"]
    with pytest.raises(asyncio.CancelledError):
        await lone
