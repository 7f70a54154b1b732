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
