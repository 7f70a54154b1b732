"""Scripts run by SHA on a shard's publisher, and sent in full only to a server that does not know them."""

from __future__ import annotations

import pytest

from channels_fanout import FanoutChannelLayer
from channels_fanout.transport.scripts import Script
from tests.helpers import command_calls

ECHO = Script("return {KEYS[1], ARGV[1]}")


async def test_a_script_is_sent_in_full_once_then_run_by_sha(make_layer, redis_server):
    layer: FanoutChannelLayer = make_layer()
    await layer.group_send("warm", {"type": "m"})  # the node and its hub exist on this loop now
    (hub,) = layer._nodes[next(iter(layer._nodes))].hubs
    with redis_server.client() as client:
        client.script_flush()
        client.config_resetstat()
        assert await ECHO.run(hub.publisher, ("k",), ("v",)) == [b"k", b"v"]
        assert (command_calls(client, "evalsha"), command_calls(client, "eval")) == (1, 1)
        assert await ECHO.run(hub.publisher, ("k",), ("w",)) == [b"k", b"w"]
        assert (command_calls(client, "evalsha"), command_calls(client, "eval")) == (2, 1)
        client.script_flush()  # as after a restart or a failover
        assert await ECHO.run(hub.publisher, ("k",), ("x",)) == [b"k", b"x"]
        assert (command_calls(client, "evalsha"), command_calls(client, "eval")) == (3, 2)


async def test_an_error_in_a_script_reaches_the_caller_and_the_connection_stays_usable(make_layer):
    layer: FanoutChannelLayer = make_layer()
    await layer.group_send("warm", {"type": "m"})
    (hub,) = layer._nodes[next(iter(layer._nodes))].hubs
    with pytest.raises(Exception, match="boom"):
        await Script("return redis.error_reply('boom')").run(hub.publisher, ("k",), ())
    assert await ECHO.run(hub.publisher, ("k",), ("v",)) == [b"k", b"v"]
