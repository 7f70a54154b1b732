"""Presence under the least-privilege ACL rule with the presence feature: enough, and each of its commands needed."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from channels_fanout import ChannelLayerRefused, FanoutChannelLayer
from channels_fanout.operations.acl import DEFAULT_FEATURES, FEATURES, acl_rule
from tests.helpers import FAST, command_calls, eventually, receive
from tests.layer_process import LayerProcess
from tests.redis_server import RedisServer
from tests.security.conftest import acl_log, add_user, log_text, refusals

RULE = acl_rule("app", features=(*DEFAULT_FEATURES, "presence"))
PRESENCE = {"presence_timeout": 0.6, "presence_message_type": "presence"}


def host_of(server: RedisServer, password: str) -> dict[str, Any]:
    return {"address": server.url, "username": "app", "password": password}


def layer_as(server: RedisServer, password: str, **options: Any) -> FanoutChannelLayer:
    options = {"prefix": "app", "stats_interval": 0, **FAST, **PRESENCE, **options}
    return FanoutChannelLayer(hosts=[host_of(server, password)], **options)


async def test_every_presence_script_works_under_the_rule_with_presence(acl):
    password = add_user(acl, "app", RULE)
    tracker, listener = layer_as(acl, password), layer_as(acl, password)
    doomed = LayerProcess(acl.url, hosts=[host_of(acl, password)], prefix="app", stats_interval=0, **PRESENCE)
    try:
        ear = await listener.new_channel()
        await listener.group_add("room", ear)
        await tracker.presence_track("room", await tracker.new_channel(), "alice")  # NOSCRIPT, then EVAL
        second = await tracker.new_channel()
        await tracker.presence_track("room", second, "alice")
        await tracker.presence_untrack("room", second)  # alice keeps her first channel: no event
        doomed.ask(track="room", key="bob")
        assert sorted(await listener.presence_list("room")) == ["alice", "bob"]
        joined = [await receive(listener, ear) for _ in range(2)]
        assert sorted(key for event in joined for key in event["joins"]) == ["alice", "bob"]
        doomed.process.kill()  # the tracker's beat reaps it
        assert (await receive(listener, ear, 3))["leaves"] == {"bob": {"metas": [{}]}}
        with acl.client() as client:
            client.delete(*client.keys("app:presence*"))  # as if Redis had lost them: the next beat re-asserts
        await eventually(lambda: tracker.stats()["presence"]["resyncs"] > 0, timeout=3)
        await tracker.close()  # takes its entries off, with a leave
        assert (await receive(listener, ear, 3))["leaves"] == {"alice": {"metas": [{}]}}
        with acl.client() as client:
            calls = {name: command_calls(client, name[1:]) for name in FEATURES["presence"]}
    finally:
        doomed.stop()
        await tracker.close()
        await listener.close()
    assert acl_log(acl) == []
    assert all(calls.values()), f"a command of the presence rule was never sent: {calls}"


async def _track(layer: FanoutChannelLayer) -> None:
    await layer.presence_track("room", await layer.new_channel(), "alice")


async def _list(layer: FanoutChannelLayer) -> None:
    await layer.presence_list("room")


# The permission taken out of the rule, and a call that needs it.
CALLS_NEEDING = [
    ("+evalsha", _track),
    ("+time", _track),
    ("+hincrby", _track),
    ("+zadd", _track),
    ("+hvals", _list),
]


@pytest.mark.parametrize(("missing", "call"), CALLS_NEEDING, ids=[missing for missing, _ in CALLS_NEEDING])
async def test_a_presence_rule_missing_a_command_fails_the_call_naming_it(acl, missing, call):
    password = add_user(acl, "app", " ".join(part for part in RULE.split() if part != missing))
    layer = layer_as(acl, password)
    try:
        with pytest.raises(ChannelLayerRefused) as refused:
            await asyncio.wait_for(call(layer), 2)
    finally:
        await layer.close()
    assert missing in (refused.value.permission or "").split()


async def test_refused_beats_are_logged_once_not_every_beat(acl, caplog):
    password = add_user(acl, "app", RULE)
    layer = layer_as(acl, password, presence_timeout=0.15)
    try:
        await _track(layer)
        add_user(acl, "app", " ".join(part for part in RULE.split() if part != "+scard"), password)  # BEAT's
        await eventually(lambda: refusals(acl) >= 3)
    finally:
        await layer.close()
    assert log_text(caplog, logging.ERROR).count("Presence beats are refused") == 1
