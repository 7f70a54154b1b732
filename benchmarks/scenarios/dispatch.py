"""Scenarios: what a layer adds to each delivery in a consumer's own loop, against the floor (issue 16).

Through daphne the whole path costs 100-400 µs of CPU per delivery, and the layer is a few of them.
This measures those few directly, without daphne, the ORM or a profiler's distortion: N consumers in
one process, each in Channels' own receive loop (``await_many_dispatch``, as ``AsyncConsumer`` runs
it, beside an idle ASGI receive queue), all in one group; the process sends group_sends one at a
time, the next when every member has dispatched the last. Process CPU per delivery, send and
Redis reads included. The ``floor`` backend (``benchmarks/floor.py``) does the least any layer must:
what another layer costs above it is the layer's own share of a consumer's delivery.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from typing import Any

from channels.utils import await_many_dispatch

from ..backends import Backend
from ..harness import Run
from ..measure import cpu_seconds
from ..payload import message_factory
from ..processes import Control
from .base import Metric, Outcome, Scenario

__all__ = ["DISPATCH", "consumers"]


class _Countdown:
    """Counts dispatched messages: ``expect(n)`` before a send, then ``reached()`` once ``n`` more were dispatched."""

    def __init__(self) -> None:
        self.dispatched = 0
        self._target = 0
        self._reached = asyncio.Event()

    async def dispatch(self, message: dict[str, Any]) -> None:
        self.dispatched += 1
        if self.dispatched == self._target:
            self._reached.set()

    def expect(self, count: int) -> None:
        self._target = self.dispatched + count
        self._reached.clear()

    async def reached(self, timeout: float) -> None:
        await asyncio.wait_for(self._reached.wait(), timeout)


async def consumers(layer: Any, params: dict[str, Any], control: Control) -> None:
    members, group = params["members"], f"bench-{params['run_id']}"
    countdown, make = _Countdown(), message_factory(params["size"])
    loops = []
    for _ in range(members):
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        asgi_receive = asyncio.Queue[dict[str, Any]]().get  # the WebSocket side: idle here
        receivers = [asgi_receive, functools.partial(layer.receive, channel)]
        loops.append(asyncio.create_task(await_many_dispatch(receivers, countdown.dispatch)))

    async def send(first: int, count: int) -> None:
        for seq in range(first, first + count):
            countdown.expect(members)
            await layer.group_send(group, make(seq))
            await countdown.reached(control.remaining())

    await send(0, params["warmup"])  # subscriptions live, caches and code paths warm
    started, cpu = time.monotonic(), cpu_seconds()
    await send(params["warmup"], params["messages"])
    seconds, cpu = time.monotonic() - started, cpu_seconds() - cpu
    deliveries = members * params["messages"]
    await control.send("measured", {"deliveries": deliveries, "seconds": seconds, "cpu": cpu})
    await control.expect("teardown")
    for task in loops:
        task.cancel()
    await asyncio.gather(*loops, return_exceptions=True)


def run(run: Run, params: dict[str, Any]) -> Outcome:
    params = dict(params, run_id=uuid.uuid4().hex[:8])
    worker = run.spawn(f"{__name__}:consumers", params)
    result = worker.expect("measured", run.left())
    run.finish([worker])
    deliveries = result["deliveries"]
    return {
        "metrics": {
            "cpu_us_per_delivery": result["cpu"] / deliveries * 1e6,
            "deliveries_per_s": deliveries / result["seconds"],
        },
        "details": {"params": params, **result},
    }


def _takes(backend: Backend) -> bool:
    """Every layer, in one process: the floor and the in-memory layer too."""
    return not backend.history


def _variant(name: str, full: dict[str, Any], quick: dict[str, Any]) -> Scenario:
    return Scenario(
        name=name,
        title=(
            "Consumer dispatch: {members} consumers of one group in one process, each in Channels' own receive "
            "loop, {messages:,} group_sends of {size} B one at a time"
        ),
        run=run,
        metrics=(
            Metric("cpu_us_per_delivery", "process CPU µs / delivery", "lower", 2),
            Metric("deliveries_per_s", "deliveries/s", "higher"),
        ),
        full=full,
        quick=quick,
        profile_role="consumers",
        takes=_takes,
        references=("pubsub", "floor"),
        smoke=name == "dispatch",
    )


# One room of 200 over two daphne processes is 100 members a process (websocket-room); the chat's ten
# rooms of 20 are 10 (websocket), where what a layer does once per message weighs ten times as much.
DISPATCH = (
    _variant("dispatch", {"members": 100, "messages": 2000, "warmup": 100, "size": 200},
             {"members": 50, "messages": 200, "warmup": 20, "size": 200}),
    _variant("dispatch-10", {"members": 10, "messages": 20000, "warmup": 1000, "size": 200},
             {"members": 10, "messages": 1000, "warmup": 100, "size": 200}),
)  # fmt: skip
