"""The layer under a least-privilege ACL user: the documented rule is enough, and every part of it is needed."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command

from channels_fanout import ChannelLayerRefused, FanoutChannelLayer
from channels_fanout.operations.acl import DEFAULT_FEATURES, acl_rule
from channels_fanout.operations.ping import ping
from tests.helpers import command_calls, eventually, receive
from tests.redis_server import RedisServer
from tests.security.conftest import acl_log, add_user, log_text, refusals

RULE = acl_rule("app")
HISTORY_RULE = acl_rule("app", features=(*DEFAULT_FEATURES, "history"))
HISTORY = {"room*": {"size": 10, "ttl": 60}}


def host_of(server: RedisServer, user: str, password: str) -> dict[str, Any]:
    return {"address": server.url, "username": user, "password": password}


def layer_as(server: RedisServer, password: str, user: str = "app", **options: Any) -> FanoutChannelLayer:
    options = {"prefix": "app", "stats_interval": 0, "command_timeout": 2, **options}
    return FanoutChannelLayer(hosts=[host_of(server, user, password)], **options)


async def wait_for_reports(layer: FanoutChannelLayer, count: int) -> list[dict[str, Any]]:
    for _ in range(100):
        reports = await layer.cluster_stats()
        if len(reports) >= count:
            return reports
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} stats reports within 5s")


def test_the_rule_lists_prefix_keys_channels_and_commands():
    assert RULE == (
        "resetchannels &app:* resetkeys ~app:* -@all +publish +subscribe +unsubscribe +ping "
        "+evalsha +eval +llen +rpush +pexpire +blpop +scan +unlink +set +get +pttl"
    )
    assert acl_rule("app", features=()) == "resetchannels &app:* resetkeys -@all +publish +subscribe +unsubscribe +ping"
    assert "+ssubscribe" in acl_rule("app", cluster=True) and "+subscribe" not in acl_rule("app", cluster=True)
    with pytest.raises(ValueError, match="prefix"):
        acl_rule("a b")
    with pytest.raises(ValueError, match="unknown features"):
        acl_rule("app", features=("telepathy",))


def test_the_readme_shows_the_rule_acl_rule_gives():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"ACL SETUSER app on >PASSWORD {RULE}\n" in readme


async def test_every_feature_works_under_exactly_the_documented_rule(acl):
    password = add_user(acl, "app", RULE)
    sender = layer_as(acl, password, stats_interval=0.1)
    receiver = layer_as(acl, password, stats_interval=0.1, heartbeat_interval=0.1)
    try:
        channel = await receiver.new_channel()
        await sender.group_add("room", channel)  # forwarded to the receiver's process
        await eventually(lambda: receiver.stats()["groups"] == 1)
        await sender.group_send("room", {"type": "group"})
        await sender.send(channel, {"type": "direct"})
        assert [(await receive(receiver, channel))["type"] for _ in range(2)] == ["group", "direct"]
        await receiver.group_discard("room", channel)
        await sender.send("jobs", {"type": "job"})  # scripts were flushed: NOSCRIPT, then EVAL
        await sender.send("jobs", {"type": "job"})  # EVALSHA
        assert (await receive(receiver, "jobs"))["type"] == "job"
        assert len(await wait_for_reports(sender, 2)) == 2
        (pong,) = await ping({"hosts": [host_of(acl, "app", password)], "prefix": "app"}, timeout=2)
        assert pong.error is None and pong.seconds is not None
        await sender.flush()
        with acl.client() as client:
            await eventually(lambda: command_calls(client, "ping") > 0)  # the heartbeat
            assert not [key for key in client.scan_iter("app:queue:*")]
            calls = {name: command_calls(client, name[1:]) for name in RULE.split() if name.startswith("+")}
    finally:
        await sender.close()
        await receiver.close()
    assert acl_log(acl) == []
    assert all(calls.values()), f"a command of the rule was never sent: {calls}"
    assert {error for shard in receiver.stats()["shards"].values() if (error := shard["error"])} == set()


def test_fanout_status_and_fanout_ping_work_under_the_rule(acl, settings):
    password = add_user(acl, "app", RULE)
    config = {"hosts": [host_of(acl, "app", password)], "prefix": "app", "stats_interval": 0.1}
    if "channels_fanout" not in settings.INSTALLED_APPS:
        settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "channels_fanout"]
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_fanout.FanoutChannelLayer", "CONFIG": config}}
    layer = FanoutChannelLayer(**config)
    async_to_sync(layer.new_channel)()  # a process reporting its stats, on the layer's private loop thread
    try:
        for _ in range(100):  # until a beat after new_channel() is in Redis
            out = io.StringIO()
            call_command("fanout_status", "--json", stdout=out)
            if [report["channels"] for report in json.loads(out.getvalue())] == [1]:
                break
        (report,) = json.loads(out.getvalue())
        assert report["prefix"] == "app" and report["channels"] == 1
        out = io.StringIO()
        call_command("fanout_ping", stdout=out)
        assert out.getvalue().startswith(f"PONG from {acl.url}")
    finally:
        async_to_sync(layer.close)()
    assert acl_log(acl) == []


async def _send_to_worker_channel(layer: FanoutChannelLayer) -> None:
    await layer.send("jobs", {"type": "job"})


async def _receive_from_worker_channel(layer: FanoutChannelLayer) -> None:
    await receive(layer, "jobs")


async def _flush_with_a_key_there(layer: FanoutChannelLayer) -> None:
    await layer.send("jobs", {"type": "job"})
    await layer.flush()


async def _read_a_stats_report(layer: FanoutChannelLayer) -> None:
    await layer.new_channel()  # the reporter starts with the event loop's node
    await wait_for_reports(layer, 1)


# The permission taken out of the rule, and a call that needs it: the call must fail naming it.
CALLS_NEEDING: list[tuple[str, Callable[[FanoutChannelLayer], Awaitable[Any]]]] = [
    ("&app:*", lambda layer: layer.new_channel()),
    ("+subscribe", lambda layer: layer.new_channel()),
    ("+publish", lambda layer: layer.group_send("room", {"type": "x"})),
    ("~app:*", _send_to_worker_channel),
    ("+evalsha", _send_to_worker_channel),
    ("+eval", _send_to_worker_channel),  # the fixture flushed the scripts: EVALSHA answers NOSCRIPT
    ("+llen", _send_to_worker_channel),
    ("+rpush", _send_to_worker_channel),
    ("+pexpire", _send_to_worker_channel),
    ("+blpop", _receive_from_worker_channel),
    ("+scan", lambda layer: layer.flush()),
    ("+unlink", _flush_with_a_key_there),
    ("+get", _read_a_stats_report),
    ("+pttl", _read_a_stats_report),
]


@pytest.mark.parametrize(("missing", "call"), CALLS_NEEDING, ids=[missing for missing, _ in CALLS_NEEDING])
async def test_a_rule_missing_one_permission_fails_the_call_that_needs_it_naming_the_permission(acl, missing, call):
    password = add_user(acl, "app", " ".join(part for part in RULE.split() if part != missing))
    layer = layer_as(acl, password, stats_interval=0.1)
    try:
        with pytest.raises(ChannelLayerRefused) as refused:
            await asyncio.wait_for(call(layer), 2)
    finally:
        await layer.close()
    assert refused.value.reason == "permission" and f"needs {refused.value.permission}" in str(refused.value)
    assert missing in (refused.value.permission or "").split()
    assert isinstance(refused.value, PermissionError)


@pytest.mark.parametrize("missing", ["+unsubscribe", "+ping"])
async def test_a_refused_background_command_shows_in_stats_and_the_log_once(acl, caplog, missing):
    password = add_user(acl, "app", " ".join(part for part in RULE.split() if part != missing))
    layer = layer_as(acl, password, heartbeat_interval=0.05)
    try:
        channel = await layer.new_channel()
        for group in ("one", "two"):
            await layer.group_add(group, channel)
            await layer.group_discard(group, channel)
        (shard,) = await eventually(lambda: [s for s in layer.stats()["shards"].values() if s["error"]])
        assert missing in shard["error"]
        await eventually(lambda: refusals(acl) >= 2)  # refused again, and still one log line
    finally:
        await layer.close()
    assert log_text(caplog, logging.ERROR).count(missing) == 1


async def test_refused_stats_reports_are_logged_once_not_every_beat(acl, caplog):
    password = add_user(acl, "app", " ".join(part for part in RULE.split() if part != "+set"))
    layer = layer_as(acl, password, stats_interval=0.05)
    try:
        await layer.new_channel()
        await eventually(lambda: refusals(acl) >= 4)
    finally:
        await layer.close()
    assert log_text(caplog).count("+set") == 1
    assert "Stats reports are refused" in log_text(caplog)


@pytest.mark.parametrize("rule", [f"{RULE} +select", RULE])
async def test_a_database_other_than_0_needs_select(acl, rule):
    password = add_user(acl, "app", rule)
    host = {"address": acl.url.replace("/0", "/1"), "username": "app", "password": password}
    layer = FanoutChannelLayer(hosts=[host], prefix="app", stats_interval=0)
    try:
        if "+select" in rule:
            await layer.send("jobs", {"type": "job"})
            with acl.client(db=1) as client:
                assert client.llen("app:queue:jobs") == 1
        else:
            with pytest.raises(ChannelLayerRefused) as refused:
                await asyncio.wait_for(layer.send("jobs", {"type": "job"}), 2)
            assert refused.value.permission == "+select"
    finally:
        await layer.close()


async def test_groups_with_history_work_under_the_rule_with_history(acl):
    password = add_user(acl, "app", HISTORY_RULE)
    layer = layer_as(acl, password, history=HISTORY)
    try:
        channel = await layer.new_channel()
        await layer.group_add("room", channel)  # a first member reads the group's history position
        for text in ("a", "b"):
            await layer.group_send("room", {"type": "m", "text": text})
        first, second = [await receive(layer, channel) for _ in range(2)]
        missed = await layer.group_history("room", since=first["history_position"])
        assert [message["text"] for message in missed.messages] == ["b"] and missed.covered
        with acl.client() as client:
            calls = {name: command_calls(client, name) for name in ("xadd", "xrange", "xrevrange", "del", "eval")}
    finally:
        await layer.close()
    assert acl_log(acl) == []
    assert all(calls.values()), f"a command of the history rule was never sent: {calls}"


async def _read_history(layer: FanoutChannelLayer) -> None:
    await layer.group_send("room", {"type": "x"})  # with no stream yet, nothing is read
    await layer.group_history("room")


HISTORY_CALLS_NEEDING = [
    ("+xadd", lambda layer: layer.group_send("room", {"type": "x"})),
    ("+del", lambda layer: layer.group_send("room", {"type": "x"})),  # the first append clears a stale stream
    ("+xrevrange", _read_history),
]


@pytest.mark.parametrize(
    ("missing", "call"), HISTORY_CALLS_NEEDING, ids=[missing for missing, _ in HISTORY_CALLS_NEEDING]
)
async def test_a_history_rule_missing_a_command_of_its_scripts_names_them(acl, missing, call):
    password = add_user(acl, "app", " ".join(part for part in HISTORY_RULE.split() if part != missing))
    layer = layer_as(acl, password, history=HISTORY)
    try:
        with pytest.raises(ChannelLayerRefused, match="the commands this script runs") as refused:
            await asyncio.wait_for(call(layer), 2)
    finally:
        await layer.close()
    assert missing in (refused.value.permission or "").split()
