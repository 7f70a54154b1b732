"""Two deployments on one Redis, each with its own prefix and ACL user: neither can receive the other's messages,
publish to it, take or delete its keys, or read its stats, whether through the layer or with raw commands."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis

from channels_fanout import ChannelLayerRefused, FanoutChannelLayer
from channels_fanout.operations.acl import acl_rule
from channels_fanout.transport.keyspace import PUSH
from tests.helpers import eventually, receive
from tests.redis_server import RedisServer
from tests.security.conftest import add_user

PAIRS = [("alpha", "beta"), ("beta", "alpha")]


@pytest.fixture
def passwords(acl: RedisServer) -> dict[str, str]:
    """The users alpha and beta, each with the rule of the prefix of its name."""
    return {name: add_user(acl, name, acl_rule(name)) for name in ("alpha", "beta")}


def layer_as(server: RedisServer, user: str, password: str, prefix: str, **options: Any) -> FanoutChannelLayer:
    host = {"address": server.url, "username": user, "password": password}
    return FanoutChannelLayer(hosts=[host], prefix=prefix, **{"stats_interval": 0, **options})


async def deployment(server: RedisServer, name: str, password: str) -> tuple[FanoutChannelLayer, str]:
    """A running deployment: a channel in a group, a message waiting in a worker channel, a stats report."""
    layer = layer_as(server, name, password, name, stats_interval=0.05)
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    await layer.send("jobs", {"type": "job"})
    with server.client() as client:
        await eventually(lambda: list(client.scan_iter(f"{name}:stats:*")))
    return layer, channel


@pytest.mark.parametrize(("intruder", "victim"), PAIRS)
async def test_the_layer_with_one_deployments_user_and_the_others_prefix_is_refused(acl, passwords, intruder, victim):
    victims, channel = await deployment(acl, victim, passwords[victim])
    intruding = layer_as(acl, intruder, passwords[intruder], prefix=victim)
    attempts = {
        "receive its messages (SUBSCRIBE)": (intruding.new_channel, f"&{victim}:*"),
        "publish to its groups": (lambda: intruding.group_send("room", {"type": "forged"}), f"&{victim}:*"),
        "publish to its channels": (lambda: intruding.send(channel, {"type": "forged"}), f"&{victim}:*"),
        "push to its worker channels": (lambda: intruding.send("jobs", {"type": "forged"}), f"~{victim}:*"),
        "take its worker messages": (lambda: receive(intruding, "jobs"), f"~{victim}:*"),
        "flush it": (intruding.flush, f"~{victim}:*"),
        "read its stats": (intruding.cluster_stats, f"~{victim}:*"),
    }
    try:
        for attempt, (call, permission) in attempts.items():
            with pytest.raises(ChannelLayerRefused) as refused:
                await asyncio.wait_for(call(), 2)
            assert refused.value.permission == permission, attempt
        with pytest.raises(asyncio.TimeoutError):  # nothing forged arrived
            await receive(victims, channel, timeout=0.5)
        assert (await receive(victims, "jobs"))["type"] == "job"  # its message is still there for it
        assert len(await victims.cluster_stats()) == 1
    finally:
        await intruding.close()
        await victims.close()


@pytest.mark.parametrize(("intruder", "victim"), PAIRS)
async def test_raw_commands_of_one_deployments_user_on_the_others_channels_and_keys_are_refused(
    acl, passwords, intruder, victim
):
    victims, _ = await deployment(acl, victim, passwords[victim])
    try:
        with acl.client() as admin:
            (stats_key,) = admin.scan_iter(f"{victim}:stats:*")
        queue = f"{victim}:queue:jobs"
        commands = [
            ("SUBSCRIBE", f"{victim}:group:{{room}}"),
            ("SUBSCRIBE", f"{victim}:control"),
            ("PSUBSCRIBE", "*"),
            ("PUBLISH", f"{victim}:group:{{room}}", "forged"),
            ("PUBLISH", f"{victim}:control", "forged"),
            ("GET", stats_key),
            ("SET", stats_key, "forged"),
            ("UNLINK", queue, stats_key),
            ("BLPOP", queue, "0.1"),
            ("EVAL", PUSH.text, 1, queue, "forged", 100, 60000),
        ]
        with acl.client(username=intruder, password=passwords[intruder]) as client:
            for command in commands:
                with pytest.raises(redis.exceptions.NoPermissionError):
                    client.execute_command(*command)
        with acl.client() as admin:
            assert admin.llen(queue) == 1 and admin.exists(stats_key)
    finally:
        await victims.close()
