"""The benchmark suite's smoke run, so that it keeps working: real worker processes, a private redis-server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.backends import parse_backend, supports
from benchmarks.measure import Tally, merge
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


def test_a_scenario_that_needs_an_extension_runs_only_on_layers_that_list_it():
    assert supports(parse_backend("fanout"), "presence")
    assert not supports(parse_backend("inmemory"), "presence")
    assert supports(parse_backend("inmemory"), None)
    assert not supports(parse_backend("not_installed.module.Layer"), "presence")


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
