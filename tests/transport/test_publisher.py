"""The auto-pipelining publisher against a real redis-server: batches, settling callers, bad arguments."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from channels_fanout.transport.publisher import Publisher
from tests.redis_server import RedisServer


@pytest.fixture
async def publisher(redis_server: RedisServer, redis_url: str) -> AsyncIterator[Publisher]:
    publisher = Publisher(lambda: Connection(host="127.0.0.1", port=redis_server.port), "test", timeout=5)
    yield publisher
    await asyncio.wait_for(publisher.close(), 2)


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
    # One batch: PING, then a BLPOP that Redis holds for a second. The PING's caller goes on at once.
    ping = asyncio.create_task(publisher.execute("PING"))
    blocked = asyncio.create_task(publisher.execute("BLPOP", "nothing", 1))
    assert await asyncio.wait_for(ping, 0.5) == b"PONG"
    assert not blocked.done()
    assert await asyncio.wait_for(blocked, 2) is None
    assert publisher.commands == 2
