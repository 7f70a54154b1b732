"""The auto-pipelining publisher against a real Redis: lone commands, batches, settling callers, bad arguments,
a caller cancelled mid-exchange."""

from __future__ import annotations

import asyncio

import pytest
import redis
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from channels_fanout.transport.publisher import Publisher
from tests.helpers import eventually


@pytest.fixture
async def publisher(redis_url):
    host, port = redis_url.removeprefix("redis://").split("/")[0].split(":")
    made: list[Connection] = []

    def make_connection() -> Connection:
        made.append(Connection(host=host, port=int(port)))
        return made[-1]

    publisher = Publisher(make_connection, redis_url, timeout=2)
    publisher.made = made
    publisher.url = redis_url
    yield publisher
    await asyncio.wait_for(publisher.close(), 2)


async def blocked_in_redis(publisher: Publisher) -> None:
    """Until Redis shows the publisher's connection blocked in a BLPOP (CLIENT LIST): it was sent."""
    with redis.Redis.from_url(publisher.url) as client:
        await eventually(lambda: any(c["cmd"] == "blpop" for c in client.client_list()), timeout=2)


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
    await blocked_in_redis(publisher)  # sent, its reply not read yet
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The BLPOP's reply would come on the old connection a second later: the next command must not read it.
    assert await asyncio.wait_for(publisher.execute("ECHO", "next"), 2) == b"next"
    assert len(publisher.made) == 2 and not publisher.made[0].is_connected


async def test_commands_queued_behind_a_cancelled_lone_command_are_still_sent(publisher):
    lone = asyncio.create_task(publisher.execute("BLPOP", "nothing-here", "1"))
    await blocked_in_redis(publisher)
    queued = [asyncio.create_task(publisher.execute("ECHO", str(n))) for n in range(3)]
    await asyncio.sleep(0)
    lone.cancel()
    assert await asyncio.wait_for(asyncio.gather(*queued), 2) == [b"0", b"1", b"2"]
    with pytest.raises(asyncio.CancelledError):
        await lone


async def test_an_argument_redis_cannot_take_fails_that_call_alone(publisher):
    results = await asyncio.gather(
        publisher.execute("SET", "a", b"1"),
        publisher.execute("SET", "b", None),
        publisher.execute("GET", "a"),
        return_exceptions=True,
    )
    assert results[0] == b"OK" and results[2] == b"1"
    assert isinstance(results[1], DataError) and "SET 'b'" in str(results[1])


async def test_a_caller_is_settled_when_its_reply_arrives_not_when_its_batch_ends(publisher):
    # A lone BLPOP in flight holds the next two commands back: they go as one batch, a PING then a
    # BLPOP that Redis holds for a second. The PING's caller goes on as soon as its reply is read.
    lone = asyncio.create_task(publisher.execute("BLPOP", "nothing", 0.2))
    await blocked_in_redis(publisher)
    ping = asyncio.create_task(publisher.execute("PING"))
    blocked = asyncio.create_task(publisher.execute("BLPOP", "nothing", 1))
    assert await asyncio.wait_for(ping, 0.8) == b"PONG"
    assert not blocked.done()
    assert await asyncio.wait_for(asyncio.gather(lone, blocked), 2) == [None, None]
    assert publisher.commands == 3 and publisher.latency.count == 2
