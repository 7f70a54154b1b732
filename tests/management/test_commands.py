"""manage.py fanout_status and fanout_ping, in-process and as child processes, against real Redis."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.management import CommandError, call_command

from channels_fanout import FanoutChannelLayer
from channels_fanout.management.commands.fanout_status import COLUMNS, duration
from channels_fanout.monitoring.reports import TTL_INTERVALS
from tests.layer_process import LayerProcess
from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
BEAT = 0.2


def wait_until(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(0.05)
    return value


def layers_setting(*hosts: str, **config: Any) -> dict[str, Any]:
    return {
        "default": {"BACKEND": "channels_fanout.FanoutChannelLayer", "CONFIG": {"hosts": list(hosts), **config}},
        "memory": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
    }


@pytest.fixture
def fanout_app(settings, redis_url):
    """channels_fanout installed, and the default alias on the test's Redis."""
    if "channels_fanout" not in settings.INSTALLED_APPS:
        settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "channels_fanout"]
    settings.CHANNEL_LAYERS = layers_setting(redis_url)
    return settings


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def manage(redis_url: str, *args: str, **popen: Any) -> subprocess.Popen[str]:
    """``python -m django`` in a child process, with only channels_fanout installed."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.fanout_settings", "REDIS_URL": redis_url}
    return subprocess.Popen(
        [sys.executable, "-m", "django", *args], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen,
    )


@pytest.fixture
def two_processes(redis_url) -> Iterator[list[LayerProcess]]:
    processes = [LayerProcess(redis_url, stats_interval=BEAT) for _ in range(2)]
    yield processes
    for process in processes:
        process.stop()


@pytest.fixture
def backed_up_layer(redis_url) -> Iterator[tuple[FanoutChannelLayer, str]]:
    """This test process as a third process: a layer with a channel nobody receives from, 3 messages deep."""
    layer = FanoutChannelLayer(hosts=[redis_url], stats_interval=BEAT)
    channel = async_to_sync(layer.new_channel)()
    for n in range(3):
        async_to_sync(layer.send)(channel, {"type": "waiting", "n": n})
    yield layer, channel
    async_to_sync(layer.close)()


# fanout_status


def test_fanout_status_prints_a_row_per_live_process_and_drops_dead_ones(fanout_app, two_processes, backed_up_layer):
    one, two = two_processes
    one.ask(join="room", count=3)
    two.ask(join="room", count=2)
    _, backed_up = backed_up_layer
    pids = {one.process.pid, two.process.pid, os.getpid()}

    def table_of_all_three() -> list[str]:
        lines = run("fanout_status")[0].splitlines()
        rows = [line.split() for line in lines[1:-1]]
        members = {int(row[1]): int(row[6]) for row in rows}
        return lines if members == {one.process.pid: 3, two.process.pid: 2, os.getpid(): 0} else []

    lines = wait_until(table_of_all_three)
    assert lines[0].split() == " ".join(COLUMNS).split()
    assert all(line.split()[10:12] == ["0", "0"] for line in lines[1:-1])  # REPLAYED, UNRECOVERED
    assert lines[-1].startswith("3 live processes, 6 channels, prefix 'asgi'")
    mine = next(line for line in lines if f" {os.getpid()} " in line)
    assert mine.endswith(f"{backed_up}=3")  # the most backed-up inbox, with its depth
    assert {int(line.split()[1]) for line in lines[1:-1]} == pids

    two.process.kill()
    killed = time.monotonic()
    wait_until(lambda: f" {two.process.pid} " not in run("fanout_status")[0])
    assert time.monotonic() - killed <= BEAT * TTL_INTERVALS + 1.5


def test_fanout_status_shows_each_process_s_tracked_channels(fanout_app, two_processes):
    one, two = two_processes
    one.ask(track="lobby", key="alice", count=2)
    two.ask(join="room", count=1)
    column = COLUMNS.index("TRACKED")

    def tracked_by_pid() -> dict[int, int] | None:
        rows = [line.split() for line in run("fanout_status")[0].splitlines()[1:-1]]
        tracked = {int(row[1]): int(row[column]) for row in rows}
        return tracked if tracked == {one.process.pid: 2, two.process.pid: 0} else None

    wait_until(tracked_by_pid)


def test_fanout_status_json_is_the_reports(fanout_app, two_processes):
    for process in two_processes:
        process.ask(join="room", count=1)
    pids = {process.process.pid for process in two_processes}

    def both_reported() -> list[dict[str, Any]]:
        reports = json.loads(run("fanout_status", "--json")[0])
        return reports if {report["pid"] for report in reports} == pids else []

    for report in wait_until(both_reported):
        assert {"host", "uptime", "channels", "members", "messages", "shards", "age", "ttl"} <= set(report)
        assert report["ttl"] == BEAT * TTL_INTERVALS
    assert run("fanout_status", "--json")[0].count("\n") == 1  # one line: JSON lines under --watch


def test_fanout_status_says_so_when_no_process_reports(fanout_app):
    out, _ = run("fanout_status")
    assert out.startswith("No live process reports under prefix 'asgi'")
    assert json.loads(run("fanout_status", "--json")[0]) == []


def test_fanout_status_watch_refreshes_until_interrupted(redis_url, backed_up_layer):
    child = manage(redis_url, "fanout_status", "--watch", "0.2")
    try:
        assert child.stdout is not None
        summaries = 0
        deadline = time.monotonic() + 20
        while summaries < 2 and time.monotonic() < deadline:
            line = child.stdout.readline()
            assert line, child.stderr.read() if child.stderr else "no output"
            assert "\x1b" not in line  # no screen clearing when the output is not a terminal
            summaries += "live process" in line
        assert summaries == 2
        child.send_signal(signal.SIGINT)
        assert child.wait(10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize(("alias", "message"), [("nope", "no alias 'nope'"), ("memory", "no alias 'memory'")])
def test_fanout_status_refuses_an_alias_that_does_not_use_this_backend(fanout_app, alias, message):
    with pytest.raises(CommandError, match=message):
        run("fanout_status", "--layer", alias)


def test_fanout_status_fails_when_redis_cannot_be_read(settings, fanout_app):
    settings.CHANNEL_LAYERS = layers_setting(f"redis://127.0.0.1:{free_port()}/0", command_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(CommandError, match="Cannot read the stats reports"):
        run("fanout_status")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0, "0s"), (42.9, "42s"), (185, "3m05s"), (7620, "2h07m"), (356400, "4d03h")]
)
def test_uptime_is_shown_in_its_two_largest_units(seconds, shown):
    assert duration(seconds) == shown


# fanout_ping


def test_fanout_ping_prints_one_round_trip_per_host(settings, fanout_app, redis_server, private_redis):
    settings.CHANNEL_LAYERS = layers_setting(redis_server.url, private_redis.url)
    out, err = run("fanout_ping")
    lines = out.splitlines()
    expected = [f"PONG from {server.url}" for server in (redis_server, private_redis)]
    assert [line.split(" in ")[0] for line in lines] == expected
    assert all(0 < float(line.split(" in ")[1].removesuffix(" ms")) < 5000 for line in lines)
    assert err == ""


def test_fanout_ping_fails_on_the_host_that_is_down_and_still_times_the_others(
    settings, fanout_app, redis_server, private_redis
):
    settings.CHANNEL_LAYERS = layers_setting(redis_server.url, private_redis.url)
    private_redis.kill()
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with pytest.raises(CommandError, match=f"No round trip through {private_redis.url}"):
        call_command("fanout_ping", "--timeout", "1", stdout=out, stderr=err)
    assert time.monotonic() - started < 5
    assert out.getvalue().startswith(f"PONG from {redis_server.url}")
    assert err.getvalue().startswith(f"FAIL {private_redis.url}")


def test_fanout_ping_exit_status_is_zero_when_redis_answers_and_one_when_it_does_not(redis_url):
    up = manage(redis_url, "fanout_ping")
    down = manage(f"redis://127.0.0.1:{free_port()}/0", "fanout_ping", "--timeout", "1")
    up_out, _ = up.communicate(timeout=30)
    down_out, down_err = down.communicate(timeout=30)
    assert up.returncode == 0 and up_out.startswith("PONG from ")
    assert down.returncode == 1 and "FAIL " in down_err and "CommandError: No round trip" in down_err


def test_fanout_ping_lists_nothing_in_the_cluster_view(fanout_app, redis_server):
    run("fanout_ping")
    with redis_server.client() as client:
        assert list(client.scan_iter("asgi:stats:*")) == []


def test_the_testproject_s_manage_py_has_the_commands(redis_url):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "testproject.settings", "REDIS_URL": redis_url}
    done = subprocess.run(
        [sys.executable, "manage.py", "fanout_ping"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0 and done.stdout.startswith(f"PONG from {redis_url}"), done.stderr
