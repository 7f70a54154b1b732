"""Scenario 8: what history costs (issue 13), channels_fanout with and without it, side by side.

The ``publish`` scenario's burst (one process, many concurrent tasks sending group_sends; another
process with one member in each group), where ``fanout-history`` keeps every group's last messages
in a Redis Stream: each group_send is then one script (XADD, trim, TTLs, PUBLISH). Besides
throughput and CPU, two readings after the measured burst:

- Who sends what. INFO commandstats counts the commands a script runs like any other (six for a
  lone group_send with history), so a short accounting step of serial group_sends runs under MONITOR,
  which tells what clients sent (EVALSHA is one command) from what their scripts ran. MONITOR
  slows Redis down, hence its own step.
- Redis memory per group: MEMORY USAGE of every key that names one of the run's groups, over the
  groups. Every group got more group_sends than its history keeps, so its stream is full.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..backends import HISTORY, Backend
from ..harness import Run
from ..payload import message_factory
from ..processes import Control, Worker
from .base import Metric, Outcome, Scenario
from .publish import burst, measure_burst, outcome

__all__ = ["HISTORY_COST", "publisher"]


async def publisher(layer: Any, params: dict[str, Any], control: Control) -> None:
    """The publish scenario's burst, then the accounting step's serial group_sends."""
    await burst(layer, params, control)
    await control.expect("account")
    groups = [f"bench-{params['run_id']}-{g}" for g in range(params["groups"])]
    make = message_factory(params["size"])
    for seq in range(params["accounted"]):
        await layer.group_send(groups[seq % len(groups)], make(seq))
    await control.send("accounted")
    await control.expect("teardown")


def run(run: Run, params: dict[str, Any]) -> Outcome:
    params = dict(params, run_id=uuid.uuid4().hex[:8])
    measured = measure_burst(run, params, f"{__name__}:publisher")
    keys, key_bytes = run.key_memory(f"*bench-{params['run_id']}-*")
    sources = run.commands_by_source(lambda: _account(run, measured.publisher))
    run.finish([measured.receiver, measured.publisher])
    result = outcome(params, measured)
    groups, accounted, sent = params["groups"], params["accounted"], measured.published["sent"]
    result["metrics"].update({
        "receiver_cpu_ms_per_1k": measured.receiver_cpu * 1e6 / sent if sent else None,
        "client_commands_per_send": sum(sources.clients.values()) / accounted,
        "burst_scripts_per_send": measured.redis.commands.get("evalsha", 0) / sent if sent else None,
        "bytes_per_group": key_bytes / groups,
        "keys_per_group": keys / groups,
    })  # fmt: skip
    usec = {name: round(spent / sent, 2) for name, spent in measured.redis.usec.items()} if sent else {}
    result["details"].update({
        "accounting": {"group_sends": accounted, **vars(sources)},
        "keys": keys,
        "redis_usec_per_send": usec,  # by command, as commandstats counts it: a script's time includes its commands'
    })  # fmt: skip
    return result


def _account(run: Run, publisher: Worker) -> None:
    publisher.send("account")
    publisher.expect("accounted", run.left())


def _fanout(backend: Backend) -> bool:
    """channels_fanout with and without history: the comparison this scenario is for."""
    return backend.fanout


# 100 groups, each sent more than its history keeps (the quick run: exactly as many).
_SHAPE = {"tasks": 1000, "groups": 100, "size": 200, "kept": HISTORY["bench-*"]["size"]}

HISTORY_COST = Scenario(
    name="history",
    title="Cost of history: one process, {tasks:,} concurrent tasks x {per_task} group_sends of {size} B to "
    "G={groups} groups (one member each in another process); with history each group keeps its last {kept}",
    run=run,
    metrics=(
        Metric("sends_per_s", "group_sends/s", "higher"),
        Metric("client_commands_per_send", "Redis commands sent / group_send (EVALSHA = 1)", "lower", 2, redis=True),
        Metric("burst_scripts_per_send", "scripts / group_send in the burst (a group's sends of a turn share one)",
               "lower", 3, redis=True),
        Metric("commands_per_send", "Redis commands run / group_send (those scripts run too)", "lower", 2, redis=True),
        Metric("redis_cpu_ms_per_1k", "Redis CPU ms / 1k group_sends", "lower", 1, redis=True),
        Metric("publisher_cpu_ms_per_1k", "publisher CPU ms / 1k group_sends", "lower", 1),
        Metric("receiver_cpu_ms_per_1k", "receiver CPU ms / 1k group_sends", "lower", 1),
        Metric("bytes_per_group", "Redis bytes / group (MEMORY USAGE of its keys)", "lower", redis=True),
        Metric("keys_per_group", "Redis keys / group", None, 1, ratio=False, redis=True),
        Metric("errors", "group_send errors", "lower", ratio=False),
        Metric("lost", "lost at the receiver (context)", None, ratio=False),
    ),
    full={**_SHAPE, "per_task": 50, "idle": 3.0, "accounted": 1000},
    quick={**_SHAPE, "per_task": 10, "idle": 1.5, "accounted": 200},
    profile_role="publisher",
    takes=_fanout,
    references=("fanout",),
)
