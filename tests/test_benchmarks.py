"""The benchmark suite's smoke run, so that it keeps working: real worker processes, a private redis-server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.measure import OrderedTally, Tally, merge
from benchmarks.payload import message_factory, probe

ROOT = Path(__file__).resolve().parent.parent
CORRECTNESS_TARGETS = {
    "fanout: zero loss in every run",
    "fanout: exactly 1 Redis command per group_send",
    "p2p: exactly 1 Redis command per direct send",
    "churn: 0 Redis commands per join/leave",
    "churn: no delivery after group_discard returned",
}


@pytest.mark.timeout(180)
def test_a_quick_run_counts_every_delivery_and_meets_the_correctness_targets(tmp_path):
    scenarios = "fanout,p2p,churn"
    command = [sys.executable, "-m", "benchmarks", "--quick", "--scenarios", scenarios, "--backends", "fanout"]
    result = subprocess.run(
        [*command, "--output", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=170
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (path,) = tmp_path.glob("*-quick.json")
    report = json.loads(path.read_text())

    (fanout,) = report["scenarios"]["fanout"]["runs"]
    assert fanout["details"]["received"] == fanout["details"]["expected"] > 0
    assert fanout["metrics"]["lost"] == fanout["metrics"]["duplicates"] == 0
    (p2p,) = report["scenarios"]["p2p"]["runs"]
    assert p2p["metrics"]["lost"] == p2p["metrics"]["duplicates"] == 0
    (churn,) = report["scenarios"]["churn"]["runs"]
    assert churn["metrics"]["joins_per_s"] > 0 and churn["metrics"]["stuck"] == 0
    met = {target["target"] for target in report["targets"] if target["status"] == "met"}
    assert CORRECTNESS_TARGETS <= met, report["targets"]


HISTORY_TARGETS = {
    "history: exactly 1 Redis command sent per group_send with history",
    "recovery: no message lost with history",
    "recovery: no message duplicated with history",
    "recovery: no message out of order with history",
}


@pytest.mark.timeout(120)
def test_a_quick_run_of_history_and_recovery_replays_every_kill_and_sends_one_command(tmp_path):
    command = [sys.executable, "-m", "benchmarks", "--quick", "--scenarios", "history,recovery"]
    result = subprocess.run(
        [*command, "--backends", "fanout-history", "--output", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=110,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (path,) = tmp_path.glob("*-quick.json")
    report = json.loads(path.read_text())

    (history,) = report["scenarios"]["history"]["runs"]
    assert history["metrics"]["keys_per_group"] == 2 and history["metrics"]["bytes_per_group"] > 0
    accounting = history["details"]["accounting"]  # a heartbeat PING or stats report may fall in it too
    assert accounting["clients"]["evalsha"] == accounting["group_sends"] == accounting["scripts"]["xadd"]
    (recovery,) = report["scenarios"]["recovery"]["runs"]
    metrics = recovery["metrics"]
    assert metrics["killed"] > 0 and metrics["outages"] > 0 and metrics["replayed"] > 0
    assert metrics["lossy_outages"] == metrics["unrecovered"] == metrics["gap_groups"] == 0
    assert metrics["catch_up_p50_ms"] is not None  # the hub's resubscription is still seen
    met = {target["target"] for target in report["targets"] if target["status"] == "met"}
    assert HISTORY_TARGETS <= met, report["targets"]


async def test_an_ordered_tally_counts_reorderings_and_when_a_message_reached_every_member():
    make = message_factory(200)
    tally = OrderedTally(sequence_numbers=4, groups=2)  # seq 0 and 2 go to group 0, 1 and 3 to group 1
    first, second, other = tally.add_member(0, expected=2), tally.add_member(0, expected=2), tally.add_member(1, 2)
    for index, seq in ((first, 2), (first, 0), (second, 0), (other, 1), (other, 3)):
        tally.record(index, make(seq))
    assert tally.out_of_order == 1  # 0 after 2 on the first channel
    assert tally.complete_at[0] > 0 and tally.complete_at[1] > 0 and tally.complete_at[3] > 0
    assert tally.complete_at[2] == 0.0  # the second member of group 0 never got 2


async def test_a_tally_counts_losses_and_duplicates_exactly_across_workers():
    make = message_factory(200)
    first, second = Tally(sequence_numbers=4), Tally(sequence_numbers=4)
    a, b = first.add_channel(expected=4), second.add_channel(expected=4)
    for tally, index in ((first, a), (second, b)):
        tally.record(index, probe())  # before the clock: primes the channel, counts nothing
        assert tally.primed.is_set()
    for seq in (0, 1, 1, 2, 3):
        first.record(a, make(seq))
    for seq in (0, 2, 2, 2):
        second.record(b, make(seq))
    assert first.complete.is_set() and not second.complete.is_set()

    merged = merge([first.summary(), second.summary()])
    assert (merged["expected"], merged["received"]) == (8, 9)
    assert (merged["lost"], merged["duplicates"]) == (2, 3)  # 1 and 3 never reached the second channel
    assert len(merged["latencies"]) == 9 and merged["latencies"] == sorted(merged["latencies"])


@pytest.mark.timeout(120)
def test_a_quick_dispatch_run_measures_a_layer_and_the_floor_through_channels_own_receive_loop(tmp_path):
    command = [sys.executable, "-m", "benchmarks", "--quick", "--scenarios", "dispatch", "--backends", "fanout,floor"]
    result = subprocess.run(
        [*command, "--output", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=110
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (path,) = tmp_path.glob("*-quick.json")
    runs = {run["backend"]: run for run in json.loads(path.read_text())["scenarios"]["dispatch"]["runs"]}

    assert set(runs) == {"fanout", "floor"}
    for run in runs.values():
        params = run["details"]["params"]
        assert run["details"]["deliveries"] == params["members"] * params["messages"] > 0
        assert run["metrics"]["cpu_us_per_delivery"] > 0 and run["metrics"]["deliveries_per_s"] > 0


def test_the_floor_is_an_in_process_reference_only_the_dispatch_scenario_takes():
    from benchmarks.backends import parse_backend
    from benchmarks.scenarios import SCENARIOS

    floor = parse_backend("floor")
    takers = {name for name, scenario in SCENARIOS.items() if scenario.takes(floor)}
    assert floor.in_memory and takers == {"dispatch", "dispatch-10"}


def test_one_room_of_two_hundred_has_one_sender_and_idle_connections_sit_apart():
    from benchmarks.seating import room_count, seats

    params = {"processes": 2, "connections": 100, "rooms": 1, "idle_connections": 500, "idle_rooms": 100}
    first, second = seats(params, 0), seats(params, 1)

    active = [seat for seat in first + second if seat.active]
    assert len(active) == 200 and {seat.room for seat in active} == {0}
    assert [seat for seat in first + second if seat.sends] == [first[0]]
    idle = [seat for seat in first + second if not seat.active]
    assert len(idle) == 1000 and {seat.room for seat in idle} == set(range(1, 101))
    assert not any(seat.sends for seat in idle) and room_count(params) == 101
    assert all(seat.active for seat in first[:100]) and not any(seat.active for seat in first[100:])


def test_each_room_has_one_sender_in_the_process_it_is_assigned_to():
    from benchmarks.seating import seats

    params = {"processes": 2, "connections": 100, "rooms": 10}
    senders = [(process, seat.room) for process in (0, 1) for seat in seats(params, process) if seat.sends]
    assert sorted(senders) == sorted((room % 2, room) for room in range(10))


def test_idle_connections_without_rooms_of_their_own_are_refused():
    from benchmarks.seating import seats

    with pytest.raises(ValueError, match="idle_rooms"):
        seats({"processes": 1, "connections": 1, "rooms": 1, "idle_connections": 5}, 0)


def test_quick_runs_the_smoke_websocket_scenario_and_a_full_run_every_variant():
    from benchmarks.__main__ import _chosen

    quick = {scenario.name for scenario in _chosen(None, quick=True)}
    full = {scenario.name for scenario in _chosen(None, quick=False)}
    variants = {f"websocket{kind}{db}" for kind in ("", "-room", "-idle") for db in ("", "-pg")}
    assert variants <= full and "websocket" in quick and not (variants - {"websocket"}) & quick
    assert [scenario.name for scenario in _chosen(["websocket-room-pg"], quick=True)] == ["websocket-room-pg"]


def _websocket_results(fanout: dict[str, float], pubsub: dict[str, float]) -> dict[str, object]:
    medians = {name: {"values": values} for name, values in (("fanout", fanout), ("pubsub", pubsub))}
    return {"backends": {"fanout": "", "pubsub": ""}, "scenarios": {"websocket-room-pg": {"medians": medians}}}


def test_websocket_targets_ask_for_less_daphne_cpu_and_more_deliveries_than_pubsub():
    from benchmarks.targets import check

    met = check(_websocket_results(
        {"server_cpu_ms_per_1k": 80.0, "deliveries_per_s": 1200.0},
        {"server_cpu_ms_per_1k": 100.0, "deliveries_per_s": 1000.0},
    ))  # fmt: skip
    missed = check(_websocket_results(
        {"server_cpu_ms_per_1k": 95.0, "deliveries_per_s": 1050.0},
        {"server_cpu_ms_per_1k": 100.0, "deliveries_per_s": 1000.0},
    ))  # fmt: skip

    def websocket(found: list[dict[str, str]]) -> dict[str, str]:
        return {t["target"]: t["status"] for t in found if t["target"].startswith("websocket-room-pg")}

    assert websocket(met) == {
        "websocket-room-pg server_cpu_ms_per_1k: fanout <= 0.9 x pubsub": "met",
        "websocket-room-pg deliveries_per_s: fanout >= 1.1 x pubsub": "met",
    }
    assert set(websocket(missed).values()) == {"missed"}


def test_profile_parts_charge_a_builtin_to_its_callers(tmp_path):
    import marshal

    from benchmarks.profiling import OTHER, part_of, parts

    inbox, loop, builtin = (
        ("/channels_fanout/local/inbox.py", 1, "take"),
        ("/asyncio/events.py", 1, "_run"),
        ("~", 0, "len"),
    )
    stats = {
        inbox: (1, 1, 0.5, 0.8, {loop: (1, 1, 0.5, 0.8)}),
        loop: (1, 1, 0.25, 1.0, {}),
        builtin: (4, 4, 0.4, 0.4, {inbox: (3, 3, 0.3, 0.3), loop: (1, 1, 0.1, 0.1)}),
    }
    (tmp_path / "run.prof").write_bytes(marshal.dumps(stats))
    assert parts(str(tmp_path / "run.prof")) == pytest.approx(
        {"layer: channels_fanout fan-out and inboxes": 0.8, "event loop": 0.35}
    )
    assert part_of(("/site-packages/channels_fanout/local/inbox.py", 1, "take")).startswith("layer: channels_fanout")
    assert part_of(("/site-packages/channels_redis/pubsub.py", 1, "receive")) == "layer: channels_redis"
    assert part_of(("/site-packages/channels/consumer.py", 1, "dispatch")) == "Channels consumer dispatch"
    assert part_of(("/usr/lib/python3.11/asyncio/base_events.py", 1, "_run_once")) == "event loop"
    assert part_of(("/usr/lib/python3.11/heapq.py", 1, "heappush")) == OTHER


def test_a_profiled_window_leaves_out_what_came_before_it():
    from benchmarks import profiled_server

    key = ("app.py", 1, "handle")
    caller = ("loop.py", 1, "run")
    profiled_server._opened.clear()
    profiled_server._opened[key] = (2, 2, 0.5, 0.7, {caller: (2, 2, 0.5, 0.7)})
    window = profiled_server._window({
        key: (5, 5, 2.0, 2.5, {caller: (5, 5, 2.0, 2.5)}),
        ("gone.py", 1, "setup"): (1, 1, 0.1, 0.1, {}),
    })  # fmt: skip
    profiled_server._opened.clear()
    (cc, nc, own, cumulative, callers) = window[key]
    assert (cc, nc) == (3, 3) and own == pytest.approx(1.5) and cumulative == pytest.approx(1.8)
    assert callers[caller][2] == pytest.approx(1.5)
    assert ("gone.py", 1, "setup") in window  # first seen inside the window: all of it counts


def test_a_profile_that_was_never_written_is_reported_as_such(tmp_path):
    from benchmarks.profiling import summary

    assert "no profile written" in summary(str(tmp_path / "run-daphne-0.prof"))


def test_a_sqlite_chat_database_is_a_file_in_the_run_directory(tmp_path):
    from benchmarks.chatsite import chat_database

    with chat_database("sqlite", tmp_path) as url:
        assert url == f"sqlite:///{tmp_path / 'db.sqlite3'}"
    with pytest.raises(ValueError, match="sqlite, postgresql"), chat_database("mysql", tmp_path):
        pass


@pytest.mark.timeout(60)
def test_a_quick_profiled_websocket_run_on_postgresql_profiles_each_daphne(tmp_path):
    import psycopg

    from benchmarks.chatsite import POSTGRES_URL

    try:
        psycopg.connect(f"{POSTGRES_URL}/postgres", connect_timeout=2).close()
    except psycopg.OperationalError as exc:  # a machine without the server (this kind of machine has one)
        pytest.skip(f"no PostgreSQL server at {POSTGRES_URL} (BENCHMARK_POSTGRES_URL): {exc}")
    command = [sys.executable, "-m", "benchmarks", "--quick", "--scenarios", "websocket-idle-pg", "--backends"]
    result = subprocess.run(
        [*command, "fanout", "--profile", "cprofile", "--output", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=55,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (path,) = tmp_path.glob("*-quick.json")
    (run,) = json.loads(path.read_text())["scenarios"]["websocket-idle-pg"]["runs"]
    assert run["metrics"]["lost"] == run["metrics"]["errors"] == 0
    assert run["details"]["received"] == 20 * 10  # 20 active members of the room, 10 messages; the idle get none
    assert len(run["profiles"]) == 2 and "own time by part" in result.stdout
