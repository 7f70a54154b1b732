"""System checks: bad CHANNEL_LAYERS options are errors, an unreachable Redis a deploy-time warning."""

from __future__ import annotations

import io
import time

import pytest
from django.core.checks import Error, Warning, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from channels_fanout.operations.checks import PROBE_TIMEOUT, check_options, check_redis
from tests.redis_server import free_port


def fanout(config, backend="channels_fanout.FanoutChannelLayer"):
    return {"BACKEND": backend, "CONFIG": config}


@pytest.fixture
def installed(settings, redis_url):
    if "channels_fanout" not in settings.INSTALLED_APPS:
        settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "channels_fanout"]
    settings.CHANNEL_LAYERS = {"default": fanout({"hosts": [redis_url]})}
    return settings


def ours(messages):
    return [message for message in messages if message.id.startswith("channels_fanout.")]


def test_a_valid_configuration_passes_every_check(installed):
    assert ours(run_checks(include_deployment_checks=True)) == []
    call_command("check", "--deploy", "--tag", "channels_fanout", stdout=io.StringIO())


@pytest.mark.parametrize(
    ("config", "text", "hint"),
    [
        ({"capacity": "100"}, "'capacity' must be an integer", "Correct 'capacity' in CHANNEL_LAYERS['bad']['CONFIG']"),
        ({"expiry": -1}, "'expiry' must be positive", "Correct 'expiry'"),
        ({"hosts": "redis://h"}, "'hosts' must be a list of hosts", "Correct 'hosts'"),
        ({"capactiy": 10}, "Unknown CONFIG option 'capactiy'", "Check the spelling of 'capactiy'"),
        ({"random_prefix_length": 12}, "not supported by channels_fanout", "docs/operations.md"),
        ({"stats_interval": "10s"}, "'stats_interval' must be a number", "Correct 'stats_interval'"),
    ],
)
def test_a_bad_option_is_an_error_with_the_layer_s_message_and_a_hint(installed, config, text, hint):
    installed.CHANNEL_LAYERS = {**installed.CHANNEL_LAYERS, "bad": fanout(config)}
    (error,) = check_options()
    assert isinstance(error, Error) and error.id == "channels_fanout.E002"
    assert error.msg.startswith("CHANNEL_LAYERS['bad']['CONFIG']: ") and text in error.msg
    assert hint in error.hint
    with pytest.raises(SystemCheckError, match="channels_fanout.E002"):
        call_command("check", stdout=io.StringIO(), stderr=io.StringIO())


def test_config_that_is_not_a_dict_is_an_error(installed):
    installed.CHANNEL_LAYERS = {"default": fanout(["redis://h"])}
    (error,) = check_options()
    assert error.id == "channels_fanout.E001" and "must be a dict of options, not list" in error.msg


def test_other_backends_and_subclasses_are_judged_by_their_backend(installed):
    installed.CHANNEL_LAYERS = {
        "memory": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capactiy": 1}},
        "broken": {"BACKEND": "no.such.Layer"},
        "full_path": fanout({"capacity": 0}, backend="channels_fanout.layer.FanoutChannelLayer"),
    }
    (error,) = check_options()
    assert "CHANNEL_LAYERS['full_path']" in error.msg


def test_unreachable_redis_is_a_warning_only_in_deploy_checks(installed):
    installed.CHANNEL_LAYERS = {"default": fanout({"hosts": [f"redis://127.0.0.1:{free_port()}/0"]})}
    assert ours(run_checks()) == []
    started = time.monotonic()
    (warning,) = ours(run_checks(include_deployment_checks=True))
    assert time.monotonic() - started < PROBE_TIMEOUT + 3
    assert isinstance(warning, Warning) and warning.id == "channels_fanout.W001"
    assert "CHANNEL_LAYERS['default']: Redis at redis://127.0.0.1:" in warning.msg and "unreachable" in warning.msg
    assert "fanout_ping" in warning.hint


def test_a_stopped_redis_is_reported_per_host(installed, redis_url, private_redis):
    installed.CHANNEL_LAYERS = {"default": fanout({"hosts": [redis_url, private_redis.url]})}
    assert check_redis() == []
    private_redis.kill()
    (warning,) = check_redis()
    assert f"Redis at {private_redis.url} is unreachable" in warning.msg


def test_an_invalid_entry_is_not_probed_again_by_the_deploy_check(installed):
    installed.CHANNEL_LAYERS = {"default": fanout({"capacity": 0, "hosts": [f"redis://127.0.0.1:{free_port()}/0"]})}
    assert check_redis() == []
    assert [message.id for message in ours(run_checks(include_deployment_checks=True))] == ["channels_fanout.E002"]


async def test_the_deploy_check_runs_where_an_event_loop_is_running(installed):
    assert check_redis() == []
