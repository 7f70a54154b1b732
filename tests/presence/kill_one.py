"""Shared by the topology tests: two processes track in every group, one is killed, the leaves are heard once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from channels_fanout import FanoutChannelLayer
from tests.helpers import FAST, receive
from tests.layer_process import LayerProcess
from tests.redis_server import RedisServer

TIMEOUT = 1.5
OPTIONS = {"presence_timeout": TIMEOUT, "presence_message_type": "presence", "stats_interval": 0}


def presence_keys(server: RedisServer) -> set[str]:
    with server.client() as client:
        return {key.decode() for key in client.keys("asgi:presence*")}


async def track_kill_and_hear_the_leaves(hosts: list[Any], url: str, groups: list[str], make_layer: Any) -> None:
    """Two processes track in every group; one is killed; a listener hears each group's leave once."""
    keeper, victim = LayerProcess(url, hosts=hosts, **OPTIONS), LayerProcess(url, hosts=hosts, **OPTIONS)
    try:
        listener: FanoutChannelLayer = make_layer(hosts=hosts, **OPTIONS, **FAST)
        ears = {}
        for group in groups:
            ears[group] = await listener.new_channel()
            await listener.group_add(group, ears[group])
            keeper.ask(track=group, key="keeper")
            victim.ask(track=group, key="victim", meta={"group": group})
        for group in groups:
            assert sorted(await listener.presence_list(group)) == ["keeper", "victim"]
            assert {(await receive(listener, ears[group]))["group"] for _ in range(2)} == {group}
        victim.process.kill()
        for group in groups:
            left = await receive(listener, ears[group], TIMEOUT + TIMEOUT / 3 + 2)
            assert left["leaves"] == {"victim": {"metas": [{"group": group}]}}
        for group in groups:
            with pytest.raises(asyncio.TimeoutError):
                await receive(listener, ears[group], 0.3)
            assert await listener.presence_list(group) == {"keeper": [{}]}
    finally:
        keeper.stop()
        victim.stop()
