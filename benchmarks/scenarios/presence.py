"""Scenario: presence (issue 17), for channels_fanout without history (``presence_layers``).

P tracker processes track N channels spread over G groups (two channels per key, as a user with two
tabs), K tracks in flight per process, each channel with a consumer waiting in ``receive()`` so that
nothing is untracked by itself. Then:

- tracks/s, Redis commands per track (the scripts the layer sends, and the commands Redis ran)
  and Redis memory per tracked channel;
- the traffic of keeping the N entries alive: a window with them tracked (from one beat after the
  tracking, so that each server's first run of the beat script, an EVAL, is not counted) minus an
  equally long window of the same processes before anything was tracked (stats reports, heartbeats
  and the runner's own snapshots cancel out), as scripts, commands and bytes per minute;
- ``presence_list`` latency from another process, on a group of 1,000 and one of 10,000 channels;
- untracks/s of the N channels.

Layers run with default options: a beat every ``presence_timeout / 3`` = 3.3 s, and no
``presence_message_type`` (with it, each join and leave adds one PUBLISH to its script).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from ..harness import Run
from ..measure import percentiles_ms
from ..processes import Control, expect_all
from .base import Metric, Outcome, Scenario, presence_layers

__all__ = ["PRESENCE", "lister", "tracker"]


async def tracker(layer: Any, params: dict[str, Any], control: Control) -> None:
    waiting: list[asyncio.Task[Any]] = []
    tracked: list[tuple[str, str]] = []  # (group, channel) of the spread groups, untracked at the end
    await layer.new_channel()  # connected, beating and reporting stats before the idle window
    await control.send("ready")
    for phase in ("spread", "list-small", "list-large"):
        plan: dict[str, int] = await control.expect("track")
        work = []
        for group, count in plan.items():
            for n in range(count):
                channel = await layer.new_channel()
                waiting.append(asyncio.create_task(layer.receive(channel)))  # a live consumer
                meta = {"name": f"user {params['index']}-{n // 2}", "device": "tab"}
                work.append((group, channel, f"{params['index']}-{n // 2}", meta))
        if phase == "spread":
            tracked = [(group, channel) for group, channel, _, _ in work]
        await asyncio.sleep(0)  # the consumers' first steps run now, not inside the timed tracks
        started = time.monotonic()
        await _in_parallel(params["in_flight"], [lambda w=w: layer.presence_track(*w) for w in work])
        await control.send("tracked", {"started": started, "finished": time.monotonic(), "count": len(work)})
    await control.expect("untrack")
    started = time.monotonic()
    await _in_parallel(params["in_flight"], [lambda t=t: layer.presence_untrack(*t) for t in tracked])
    await control.send("untracked", {"started": started, "finished": time.monotonic(), "count": len(tracked)})
    await control.expect("teardown")
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)


async def lister(layer: Any, params: dict[str, Any], control: Control) -> None:
    await layer.presence_list("warm-up")  # connected and reporting stats before the idle window
    await control.send("ready")
    for _ in range(2):
        group = await control.expect("list")
        await layer.presence_list(group)  # the script's first run on the server is an EVAL: not timed
        latencies, entries = [], 0
        for _ in range(params["list_repeats"]):
            began = time.perf_counter()
            listed = await layer.presence_list(group)
            latencies.append(time.perf_counter() - began)
            entries = sum(len(metas) for metas in listed.values())
        await control.send("listed", {"latencies": sorted(latencies), "entries": entries})
    await control.expect("teardown")


async def _in_parallel(tasks: int, calls: list[Any]) -> None:
    """Run ``calls`` (coroutine factories) with ``tasks`` of them in flight, as that many consumers would."""
    pending = iter(calls)

    async def worker() -> None:
        for call in pending:
            await call()

    await asyncio.gather(*(worker() for _ in range(tasks)))


def _rate(reports: list[dict[str, Any]]) -> float:
    """Operations per second over all trackers, first start to last finish."""
    seconds = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
    return sum(r["count"] for r in reports) / seconds if seconds > 0 else 0.0


def _plan(groups: list[str], channels: int, trackers: int) -> list[dict[str, int]]:
    """Each tracker's share of ``channels`` over ``groups``."""
    per_group = channels // len(groups) // trackers
    return [dict.fromkeys(groups, per_group) for _ in range(trackers)]


def run(run: Run, params: dict[str, Any]) -> Outcome:
    run_id, count = uuid.uuid4().hex[:8], params["trackers"]
    trackers = [run.spawn(f"{__name__}:tracker", {**params, "index": i}) for i in range(count)]
    listing = run.spawn(f"{__name__}:lister", params)
    expect_all([*trackers, listing], "ready", run.left())

    idle_start = run.snapshot()
    time.sleep(params["window"])
    idle = run.snapshot() - idle_start

    spread = [f"bench-{run_id}-{g}" for g in range(params["groups"])]
    tracked = _track(run, trackers, _plan(spread, params["channels"], count))
    # One beat before the window: a server runs a script's first call as EVAL, a one-off per server start.
    time.sleep(params["settle"])
    busy_start = run.snapshot()
    time.sleep(params["window"])
    busy = run.snapshot() - busy_start

    lists = {}
    for size, phase in ((params["small"], "small"), (params["large"], "large")):
        group = f"bench-{run_id}-list-{phase}"
        _track(run, trackers, _plan([group], size, count))
        listing.send("list", group)
        lists[phase] = listing.expect("listed", run.left())
        lists[phase]["expected"] = size

    for worker in trackers:
        worker.send("untrack")
    untracked = expect_all(trackers, "untracked", run.left())
    run.finish([*trackers, listing])
    return _outcome(params, tracked, untracked, idle, busy, lists)


def _track(run: Run, trackers: list[Any], plans: list[dict[str, int]]) -> dict[str, Any]:
    before = run.snapshot()
    for worker, plan in zip(trackers, plans, strict=True):
        worker.send("track", plan)
    reports = expect_all(trackers, "tracked", run.left())
    return {"reports": reports, "redis": run.snapshot() - before}


def _outcome(
    params: dict[str, Any], tracked: dict[str, Any], untracked: list[dict[str, Any]], idle: Any, busy: Any,
    lists: dict[str, dict[str, Any]],
) -> Outcome:  # fmt: skip
    tracks = sum(r["count"] for r in tracked["reports"])
    scripts = tracked["redis"].commands.get("evalsha", 0) + tracked["redis"].commands.get("eval", 0)
    per_minute = 60 / params["window"]

    def kept_alive(name: str) -> float:
        return (getattr(busy, name) - getattr(idle, name)) * per_minute

    busy_scripts = busy.commands.get("evalsha", 0) - idle.commands.get("evalsha", 0)
    small, large = (percentiles_ms(lists[phase]["latencies"]) for phase in ("small", "large"))
    return {
        "metrics": {
            "tracks_per_s": _rate(tracked["reports"]),
            "untracks_per_s": _rate(untracked),
            "scripts_per_track": scripts / tracks,
            "commands_per_track": tracked["redis"].total_commands / tracks,
            "redis_bytes_per_entry": tracked["redis"].memory / tracks,
            "list_small_p50_ms": small["p50_ms"],
            "list_small_p99_ms": small["p99_ms"],
            "list_large_p50_ms": large["p50_ms"],
            "list_large_p99_ms": large["p99_ms"],
            "keepalive_scripts_per_min": busy_scripts * per_minute,
            "keepalive_commands_per_min": kept_alive("total_commands"),
            "keepalive_kb_in_per_min": kept_alive("net_input") / 1000,
            "keepalive_kb_out_per_min": kept_alive("net_output") / 1000,
            "listed_wrong": sum(lists[phase]["entries"] != lists[phase]["expected"] for phase in lists),
        },
        "details": {
            "params": params,
            "tracked": tracks,
            "tracking_redis": tracked["redis"].as_dict(),
            "idle_window": idle.as_dict(),
            "busy_window": busy.as_dict(),
            "lists": {phase: {"entries": got["entries"], "expected": got["expected"]} for phase, got in lists.items()},
        },
    }


PRESENCE = Scenario(
    name="presence",
    title=(
        "Presence: P={trackers} processes track {channels:,} channels over G={groups} groups, {in_flight} tracks "
        "in flight each; list of {small:,} and {large:,}; keep-alive over {window:g} s"
    ),
    run=run,
    metrics=(
        Metric("tracks_per_s", "tracks/s", "higher"),
        Metric("untracks_per_s", "untracks/s", "higher"),
        Metric("scripts_per_track", "Redis scripts sent / track", "lower", 2, redis=True),
        Metric("commands_per_track", "Redis commands run / track (inside the script)", "lower", 1, redis=True),
        Metric("redis_bytes_per_entry", "Redis bytes / tracked channel (used_memory)", "lower", 0, redis=True),
        Metric("list_small_p50_ms", "presence_list p50, small group (ms)", "lower", 1),
        Metric("list_small_p99_ms", "presence_list p99, small group (ms)", "lower", 1),
        Metric("list_large_p50_ms", "presence_list p50, large group (ms)", "lower", 1),
        Metric("list_large_p99_ms", "presence_list p99, large group (ms)", "lower", 1),
        Metric("keepalive_scripts_per_min", "keep-alive scripts / min", "lower", 0, redis=True),
        Metric("keepalive_commands_per_min", "keep-alive Redis commands / min", "lower", 0, redis=True),
        Metric("keepalive_kb_in_per_min", "keep-alive kB to Redis / min", "lower", 1, redis=True),
        Metric("keepalive_kb_out_per_min", "keep-alive kB from Redis / min", "lower", 1, redis=True),
        Metric("listed_wrong", "lists with a wrong number of entries", "lower", ratio=False),
    ),
    full={
        "trackers": 2, "channels": 10_000, "groups": 100, "in_flight": 50, "small": 1_000, "large": 10_000,
        "list_repeats": 50, "window": 60.0, "settle": 4.0,
    },
    quick={
        "trackers": 2, "channels": 2_000, "groups": 20, "in_flight": 50, "small": 100, "large": 1_000,
        "list_repeats": 10, "window": 4.0, "settle": 4.0,
    },
    profile_role="tracker",
    takes=presence_layers,
    references=(),
)
