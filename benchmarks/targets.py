"""Issues 6, 13, 16 and 17's targets for channels_fanout, checked against the medians of one run of the suite.

A target whose scenario or reference backend was not run is "n/a"; one that was run and fell short
is "missed" with the numbers, never left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["check"]

SUBJECT = "fanout"
HISTORY = "fanout-history"


def check(results: dict[str, Any]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    if SUBJECT in results["backends"]:
        found += _layer_targets(results) + _websocket_targets(results) + _presence_targets(results)
    if HISTORY in results["backends"]:
        found += _history_targets(results)
    return found


def _layer_targets(results: dict[str, Any]) -> list[dict[str, str]]:
    """Issue 6: channels_fanout against channels_redis."""
    found: list[dict[str, str]] = []
    for scenario in ("fanout", "fanout-1g"):
        found += [
            _ratio(results, scenario, "deliveries_per_s", "pubsub", 1.5),
            _ratio(results, scenario, "deliveries_per_s", "core", 10),
            _all_runs(results, scenario, "lost", "zero loss in every run", lambda total: total == 0),
            _ratio(results, scenario, "p99_ms", "pubsub", 1.0, below=True, strict=True),
            _ratio(results, scenario, "p99_ms", "core", 1.0, below=True, strict=True),
        ]
    found += [
        _ratio(results, "publish", "sends_per_s", "pubsub", 5),
        _value(results, "publish", "connections_opened", "at most 2 connections opened", lambda v: v <= 2),
        _value(results, "fanout", "commands_per_send", "exactly 1 Redis command per group_send", _about(1)),
        _value(results, "p2p", "commands_per_send", "exactly 1 Redis command per direct send", _about(1)),
        _value(results, "churn", "commands_per_join", "0 Redis commands per join/leave", _about(0)),
        _ratio(results, "churn", "joins_per_s", "pubsub", 3),
        _all_runs(results, "churn", "violations", "no delivery after group_discard returned", lambda t: t == 0),
        _value(results, "memory", "layer_bytes", "under 2 KB per idle consumer in the process", lambda v: v < 2048),
        _ratio(results, "fanout-rate", "p99_ms", "pubsub", 1.0, below=True),
    ]
    return found


def _websocket_targets(results: dict[str, Any]) -> list[dict[str, str]]:
    """Issue 16: end to end through daphne, less server CPU per delivery and more deliveries than pubsub."""
    found: list[dict[str, str]] = []
    for scenario in results["scenarios"]:
        if scenario.startswith("websocket"):
            found += [
                _ratio(results, scenario, "server_cpu_ms_per_1k", "pubsub", 0.9, below=True),
                _ratio(results, scenario, "deliveries_per_s", "pubsub", 1.1),
            ]
    return found


def _history_targets(results: dict[str, Any]) -> list[dict[str, str]]:
    """Issue 13: history costs at most 30% of the throughput and one command; recovery loses nothing."""
    found = [
        _ratio(results, "history", "sends_per_s", SUBJECT, 0.7, subject=HISTORY),
        _value(
            results, "history", "client_commands_per_send", "exactly 1 Redis command sent per group_send with "
            "history", _about(1), subject=HISTORY,
        ),
    ]  # fmt: skip
    for metric, what in (("lost", "lost"), ("duplicates", "duplicated"), ("out_of_order", "out of order")):
        found.append(
            _all_runs(results, "recovery", metric, f"no message {what} with history", lambda t: t == 0, HISTORY)
        )
    return found


def _presence_targets(results: dict[str, Any]) -> list[dict[str, str]]:
    """Issue 17: a list of 10,000 (the large group of a full run) under 50 ms, and always complete."""
    return [
        _value(results, "presence", "list_large_p99_ms", "list of the large group under 50 ms", lambda v: v < 50),
        _all_runs(results, "presence", "listed_wrong", "every presence_list complete", lambda total: total == 0),
    ]


def _about(expected: float) -> Callable[[float], bool]:
    return lambda value: abs(value - expected) < 0.01


def _median(results: dict[str, Any], scenario: str, metric: str, backend: str) -> float | None:
    entry = results["scenarios"].get(scenario)
    if entry is None or backend not in entry["medians"]:
        return None
    value: float | None = entry["medians"][backend]["values"].get(metric)
    return value


def _result(target: str, met: bool | None, detail: str) -> dict[str, str]:
    return {"target": target, "status": "n/a" if met is None else ("met" if met else "missed"), "detail": detail}


def _ratio(
    results: dict[str, Any],
    scenario: str,
    metric: str,
    reference: str,
    factor: float,
    below: bool = False,
    strict: bool = False,
    subject: str = SUBJECT,
) -> dict[str, str]:
    """The subject's median at least ``factor`` x the reference's (or, with ``below``, at most / under it)."""
    relation = ("<" if strict else "<=") if below else ">="
    target = f"{scenario} {metric}: {subject} {relation} {factor:g} x {reference}"
    mine, theirs = _median(results, scenario, metric, subject), _median(results, scenario, metric, reference)
    if mine is None or theirs is None or theirs == 0:
        return _result(target, None, "not measured")
    ratio = mine / theirs
    if below:
        met = ratio < factor if strict else ratio <= factor
    else:
        met = ratio >= factor
    return _result(target, met, f"{mine:,.1f} vs {theirs:,.1f} ({ratio:.2f}x)")


def _value(
    results: dict[str, Any],
    scenario: str,
    metric: str,
    target: str,
    ok: Callable[[float], bool],
    subject: str = SUBJECT,
) -> dict[str, str]:
    value = _median(results, scenario, metric, subject)
    label = f"{scenario}: {target}"
    if value is None:
        return _result(label, None, "not measured")
    return _result(label, ok(value), f"median {metric} = {value:,.3f}")


def _all_runs(
    results: dict[str, Any],
    scenario: str,
    metric: str,
    target: str,
    ok: Callable[[float], bool],
    subject: str = SUBJECT,
) -> dict[str, str]:
    entry = results["scenarios"].get(scenario)
    label = f"{scenario}: {target}"
    runs = [] if entry is None else [r for r in entry["runs"] if r["backend"] == subject]
    values = [r["metrics"].get(metric) for r in runs if "metrics" in r]
    if not runs:
        return _result(label, None, "not measured")
    if len(values) < len(runs) or None in values:
        return _result(label, False, f"{len(runs) - len(values)} of {len(runs)} runs failed")
    total = sum(v for v in values if v is not None)
    return _result(label, ok(total), f"{metric} = {total:,.0f} over {len(values)} runs")
