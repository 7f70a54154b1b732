"""Refused credentials and permissions: each call that needs Redis fails promptly saying why, the subscriber
retries slowly (a fix in Redis takes effect without a restart), logs once, shows it in stats(), and no
credential appears in a log, an exception or stats."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from typing import Any

import pytest

from channels_fanout import ChannelLayerRefused, ChannelLayerUnavailable, FanoutChannelLayer
from channels_fanout.operations.acl import acl_rule
from channels_fanout.operations.ping import ping
from channels_fanout.operations.prometheus import FanoutCollector
from channels_fanout.transport.supervised import REFUSED_RETRY_FACTOR
from tests.helpers import eventually, receive
from tests.operations.test_prometheus import render, samples
from tests.security.conftest import add_user, log_text, refusals

RULE = acl_rule("app")
FAST_RETRY = 0.05  # reconnect_max_delay: a refused connection is tried again every half second


def shard_errors(layer: FanoutChannelLayer) -> list[str]:
    return [shard["error"] for shard in layer.stats()["shards"].values() if shard["error"]]


CALLS = {
    "new_channel": lambda layer: layer.new_channel(),
    "group_add": lambda layer: layer.group_add("room", "specific.abc!def"),  # a channel of another process
    "group_send": lambda layer: layer.group_send("room", {"type": "x"}),
    "send to a worker channel": lambda layer: layer.send("jobs", {"type": "x"}),
    "receive from a worker channel": lambda layer: receive(layer, "jobs"),
    "flush": lambda layer: layer.flush(),
    "cluster_stats": lambda layer: layer.cluster_stats(),
}


async def test_a_wrong_password_fails_every_call_at_once_and_is_retried_slowly_until_fixed(acl, caplog):
    add_user(acl, "app", RULE, password="right-one")
    host = {"address": acl.url, "username": "app", "password": "wrong-one"}
    layer = FanoutChannelLayer(hosts=[host], prefix="app", reconnect_max_delay=FAST_RETRY, stats_interval=0)
    try:
        for name, call in CALLS.items():
            started = time.monotonic()
            with pytest.raises(ChannelLayerRefused, match="refused the credentials") as refused:
                await asyncio.wait_for(call(layer), 2)
            assert refused.value.reason == "credentials", name
            assert time.monotonic() - started < 1, f"{name} waited for command_timeout (5s) instead of failing"
        assert "correct the username and password" in shard_errors(layer)[0]
        metrics = samples(render(FanoutCollector(lambda: {"app": layer})))
        assert metrics[("channels_fanout_refused", (("alias", "app"), ("shard", acl.url)))] == 1

        # The subscriber tries again every REFUSED_RETRY_FACTOR * reconnect_max_delay, not at reconnection pace.
        counted, started = refusals(acl), time.monotonic()
        await eventually(lambda: refusals(acl) >= counted + 2)
        assert time.monotonic() - started > 1.5 * REFUSED_RETRY_FACTOR * FAST_RETRY * 0.8
        assert log_text(caplog, logging.ERROR).count("refused the credentials") == 1

        add_user(acl, "app", RULE, password="wrong-one")  # fixed in Redis; the application keeps running
        await eventually(lambda: not shard_errors(layer), timeout=3)
        channel = await layer.new_channel()
        await layer.group_add("room", channel)
        await layer.group_send("room", {"type": "after the fix"})
        assert (await receive(layer, channel))["type"] == "after the fix"
    finally:
        await layer.close()
    assert "accepts this process again" in log_text(caplog)


async def test_no_credentials_for_a_redis_that_requires_them_says_so(private_redis):
    with private_redis.client() as client:
        client.config_set("requirepass", "the-admin-password")
    layer = FanoutChannelLayer(hosts=[private_redis.url], stats_interval=0)
    try:
        for call in (CALLS["new_channel"], CALLS["group_send"], CALLS["flush"]):
            with pytest.raises(ChannelLayerRefused, match="requires a user and password"):
                await asyncio.wait_for(call(layer), 2)
    finally:
        await layer.close()


async def test_a_permission_revoked_and_restored_at_runtime(acl, caplog):
    password = add_user(acl, "app", RULE)
    layer = FanoutChannelLayer(
        hosts=[{"address": acl.url, "username": "app", "password": password}],
        prefix="app", reconnect_max_delay=FAST_RETRY, heartbeat_interval=0.2, stats_interval=0,
    )  # fmt: skip
    try:
        channel = await layer.new_channel()
        await layer.group_add("room", channel)
        # Redis drops the subscriptions of a user who loses the channels; the resubscription is refused.
        add_user(acl, "app", RULE.replace("&app:*", ""), password=password)
        await eventually(lambda: any("&app:*" in error for error in shard_errors(layer)), timeout=3)
        with pytest.raises(ChannelLayerRefused, match="needs &app:\\*"):
            await layer.group_add("another-room", channel)
        assert not layer.stats()["shards"][acl.url]["subscribed"]

        add_user(acl, "app", RULE, password=password)  # restored: the refused subscriptions are tried again
        await eventually(lambda: layer.stats()["shards"][acl.url]["subscribed"], timeout=3)
        assert shard_errors(layer) == []
        await layer.group_send("room", {"type": "back"})
        assert (await receive(layer, channel))["type"] == "back"
    finally:
        await layer.close()
    assert log_text(caplog, logging.ERROR).count("needs &app:*") == 1


def everything_shown(caplog: pytest.LogCaptureFixture, layer: FanoutChannelLayer, errors: list[BaseException]) -> str:
    """Every place a credential could leak to: log records, exceptions with their causes, stats, the config."""
    shown = [record.getMessage() for record in caplog.records]
    shown += ["".join(traceback.format_exception(error)) for error in errors]
    shown += [json.dumps(layer.stats()), repr(layer.config)]
    return "\n".join(shown)


@pytest.mark.parametrize("form", ["url", "dict"])
async def test_no_password_appears_in_logs_exceptions_or_stats(acl, caplog, form):
    caplog.set_level(logging.DEBUG)
    secret = "Sup3r-s3cret-passw0rd"
    add_user(acl, "app", RULE, password="another")
    host: Any = (
        acl.url.replace("redis://", f"redis://app:{secret}@")
        if form == "url"
        else {"address": acl.url, "username": "app", "password": secret}
    )
    layer = FanoutChannelLayer(hosts=[host], prefix="app", stats_interval=0.05)
    errors: list[BaseException] = []
    try:
        for call in CALLS.values():
            try:
                await asyncio.wait_for(call(layer), 2)
            except ChannelLayerUnavailable as exc:
                errors.append(exc)
        errors.extend(ChannelLayerUnavailable(pong.error) for pong in await ping({"hosts": [host]}, 1))
    finally:
        await layer.close()
    assert len(errors) == len(CALLS) + 1
    shown = everything_shown(caplog, layer, errors)
    assert "refused the credentials" in shown and secret not in shown
