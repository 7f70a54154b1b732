"""The layer from sync code (async_to_sync), from threads and from several event loops."""

import asyncio
import gc
import threading
import time
import warnings

from asgiref.sync import async_to_sync, sync_to_async

from channels_fanout import FanoutChannelLayer
from tests.helpers import connections_received


def test_thousand_async_to_sync_group_sends_reuse_connections(redis_url, redis_server):
    layer = FanoutChannelLayer(hosts=[redis_url])
    threads_before = set(threading.enumerate())
    with redis_server.client() as client:
        opened_before = connections_received(client)
        for n in range(1000):
            async_to_sync(layer.group_send)("g", {"type": "x", "n": n})
        opened = connections_received(client) - opened_before
        async_to_sync(layer.close)()
        assert opened <= 2, opened
        assert client.client_list().__len__() == 1  # only this checking client is left
    # asgiref's per-call executor thread may take a moment to exit after the last call returns.
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) != threads_before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(threading.enumerate()) == threads_before
    assert layer._nodes == {}


def test_sync_code_can_make_receive_and_send_on_a_channel(redis_url):
    layer = FanoutChannelLayer(hosts=[redis_url])
    try:
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)("g", channel)
        async_to_sync(layer.group_send)("g", {"type": "from.sync"})
        assert async_to_sync(layer.receive)(channel) == {"type": "from.sync"}
    finally:
        async_to_sync(layer.close)()


async def test_sync_view_inside_the_loop_uses_the_loop_s_own_node(make_layer):
    layer = make_layer()
    channel = await layer.new_channel()

    def view():
        async_to_sync(layer.send)(channel, {"type": "from.view"})

    await sync_to_async(view)()
    assert await asyncio.wait_for(layer.receive(channel), 2) == {"type": "from.view"}
    assert not layer._loop_thread.running


def test_new_loop_per_call_releases_its_state(redis_url):
    layer = FanoutChannelLayer(hosts=[redis_url])

    async def round_trip(n):
        channel = await layer.new_channel()
        await layer.send(channel, {"n": n})
        return (await asyncio.wait_for(layer.receive(channel), 2))["n"]

    for n in range(5):
        assert asyncio.run(round_trip(n)) == n
        assert layer._nodes == {}


def test_a_thread_running_its_own_loop_talks_to_the_main_loop(redis_url):
    layer = FanoutChannelLayer(hosts=[redis_url])
    results = []

    async def main():
        channel = await layer.new_channel()

        def other_thread():
            asyncio.run(layer.send(channel, {"type": "from.thread"}))

        thread = threading.Thread(target=other_thread)
        thread.start()
        results.append(await asyncio.wait_for(layer.receive(channel), 10))
        await asyncio.to_thread(thread.join, 5)
        await layer.close()

    asyncio.run(main())
    assert results == [{"type": "from.thread"}]
    assert layer._nodes == {}


def test_close_leaves_no_connection_of_the_loop_thread_open(redis_url, redis_server):
    # With the garbage collector off, a connection close() forgot stays open where Redis can see it.
    gc.disable()
    try:
        with redis_server.client() as client, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            for _ in range(20):
                layer = FanoutChannelLayer(hosts=[redis_url])
                async_to_sync(layer.group_send)("g", {"type": "x"})  # served by the private loop thread
                asyncio.run(layer.close())
                deadline = time.monotonic() + 2
                while len(client.client_list()) > 1 and time.monotonic() < deadline:
                    time.sleep(0.005)
                assert len(client.client_list()) == 1  # only this checking client
            del layer
            gc.collect()  # an unclosed connection would warn when collected
        assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    finally:
        gc.enable()
