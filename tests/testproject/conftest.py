"""Fixtures of the chat project's tests: the real layer on the private Redis, users, rooms, WebSocket clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from channels.layers import BaseChannelLayer, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from selenium.webdriver.chrome.webdriver import WebDriver

from testproject.asgi import application
from testproject.chat import services
from testproject.chat.models import ChatRoom
from tests.redis_server import RedisServer
from tests.testproject import chromium
from tests.testproject.site import ChatSite

ORIGIN = (b"origin", b"http://127.0.0.1")
RECEIVE_TIMEOUT = 2.0

Connect = Callable[..., Awaitable[WebsocketCommunicator]]


class CachePool(redis.ConnectionPool):
    """The cache's connection pools in tests, remembered so that each is disconnected after its test.

    Django's RedisCache never closes its pools; changed settings just drop the cache objects, leaving the
    sockets to the garbage collector, which ``filterwarnings = error`` rightly reports as unclosed.
    """

    pools: list[redis.ConnectionPool] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pools.append(self)


def use_redis(settings: Any, url: str, **layer_options: Any) -> None:
    """Point the channel layer and the cache (flood control's counters) at the Redis at ``url``, as REDIS_URL does.

    The project's other layer options (presence_message_type) stay, unless ``layer_options`` changes them.
    """
    config = {**settings.CHANNEL_LAYERS["default"]["CONFIG"], "hosts": [url], **layer_options}
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_fanout.FanoutChannelLayer", "CONFIG": config}}
    cache = settings.CACHES["default"]
    options = {**cache.get("OPTIONS", {}), "pool_class": f"{__name__}.CachePool"}
    settings.CACHES = {"default": {**cache, "LOCATION": url, "OPTIONS": options}}


@pytest.fixture(autouse=True)
def cache_pools_closed() -> Iterator[None]:
    """Disconnect the cache's pools after each test (CachePool)."""
    yield
    while CachePool.pools:
        CachePool.pools.pop().disconnect()


@pytest.fixture(autouse=True)
async def chat_layer(redis_url: str, settings: Any) -> AsyncIterator[BaseChannelLayer]:
    """Every test here runs on the project's FanoutChannelLayer and cache on the private Redis, never on 6379."""
    use_redis(settings, redis_url)
    layer = get_channel_layer()
    yield layer
    await asyncio.wait_for(layer.close(), 5)


@pytest.fixture
def make_user(db: None) -> Callable[..., User]:
    """Create a user with an API token (``user.api_token``) and no password (hashing one costs 0.2 s)."""

    def make(username: str) -> User:
        user = User.objects.create_user(username)
        user.api_token = services.issue_token(user)  # the token in the clear: only here and in the test
        return user

    return make


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Callable[..., User]) -> User:
    return make_user("bob")


@pytest.fixture
def carol(make_user: Callable[..., User]) -> User:
    return make_user("carol")


@pytest.fixture
def room(alice: User, bob: User) -> ChatRoom:
    """Alice's and Bob's room; Carol is not in it."""
    room = ChatRoom.objects.create(title="Alice and Bob")
    room.members.add(alice, bob)
    return room


@pytest.fixture
def lobby(alice: User, bob: User, carol: User) -> ChatRoom:
    """Everyone's room: a message here is the marker that proves an earlier one did or did not arrive."""
    lobby = ChatRoom.objects.create(title="Lobby")
    lobby.members.add(alice, bob, carol)
    return lobby


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Open a WebSocket to the project's ASGI application, authenticated by ``user``'s token or ``headers``."""
    communicators: list[WebsocketCommunicator] = []

    async def open_connection(
        user: User | None = None, headers: list[tuple[bytes, bytes]] | None = None
    ) -> WebsocketCommunicator:
        communicator = WebsocketCommunicator(application, "/ws/chat/", headers=[ORIGIN, *(headers or [])])
        communicators.append(communicator)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        if user is not None:
            await communicator.send_json_to({"uuid": "auth", "action": "authenticate", "token": user.api_token})
            assert await receive(communicator) == {"uuid": "auth", "action": "authenticate", "status": "success"}
        return communicator

    yield open_connection
    for communicator in communicators:
        if not communicator.future.done():  # a receive that timed out has cancelled the application already
            await communicator.disconnect(timeout=5)


async def receive(communicator: WebsocketCommunicator) -> dict[str, Any]:
    """The next frame but presence pushes, which come whenever a member signs in or out (test_presence.py's)."""
    while True:
        frame = await receive_any(communicator)
        if frame.get("action") != "presence":
            return frame


async def receive_any(communicator: WebsocketCommunicator) -> dict[str, Any]:
    return await communicator.receive_json_from(timeout=RECEIVE_TIMEOUT)


@pytest.fixture(scope="session")
def chat_site(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatSite]:
    """Two daphne processes on two free ports, sharing the private Redis and one migrated SQLite file."""
    site = ChatSite(tmp_path_factory.mktemp("chat_site"), redis_server.url, processes=2)
    try:
        site.start()
        yield site
    finally:
        site.stop()


@pytest.fixture(scope="session")
def busy_site(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatSite]:
    """Like ``chat_site``, without flood control: for tests that post faster than a person."""
    site = ChatSite(
        tmp_path_factory.mktemp("busy_site"),
        redis_server.url,
        processes=2,
        settings="tests.testproject.unlimited_settings",
    )
    try:
        site.start()
        yield site
    finally:
        site.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Callable[[], WebDriver]]:
    """Start chromium pages (each with a fresh profile); all are quit after the test."""
    drivers: list[WebDriver] = []

    def launch() -> WebDriver:
        drivers.append(chromium.launch(tmp_path / f"profile-{len(drivers)}"))
        return drivers[-1]

    yield launch
    for driver in drivers:
        driver.quit()


@pytest.fixture
def demo(chat_site: ChatSite) -> dict[str, str]:
    """The demo's users and rooms on ``chat_site``: API tokens by user, room ids by title."""
    return chromium.set_up_demo(chat_site)


@pytest.fixture
def busy_demo(busy_site: ChatSite) -> dict[str, str]:
    """The demo's users and rooms on ``busy_site``."""
    return chromium.set_up_demo(busy_site)
