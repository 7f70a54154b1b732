from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from channels_fanout import FanoutChannelLayer
from tests.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One private redis-server shared by the session; tests that break Redis use ``private_redis``."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the shared private server, emptied before the test."""
    with redis_server.client() as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, which it may kill, pause and restart."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def make_layer(redis_url: str) -> AsyncIterator[Callable[..., FanoutChannelLayer]]:
    """Build layers on the shared private Redis; each is closed (under a timeout) after the test."""
    layers: list[FanoutChannelLayer] = []

    def make(**options: Any) -> FanoutChannelLayer:
        options.setdefault("hosts", [redis_url])
        layer = FanoutChannelLayer(**options)
        layers.append(layer)
        return layer

    yield make
    for layer in layers:
        await asyncio.wait_for(layer.close(), 5)


@pytest.fixture
def layer(make_layer: Callable[..., FanoutChannelLayer]) -> FanoutChannelLayer:
    return make_layer()


@pytest.fixture(autouse=True)
def no_unclosed_resources() -> Iterator[None]:
    """Fail the test that leaks a socket or connection, not whichever test the collector runs in."""
    yield
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, f"resources left open: {leaks}"
