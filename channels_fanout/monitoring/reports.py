"""The cluster view: every process keeps its stats report in Redis under a key that expires.

Each process writes ``{prefix}:stats:{reporter id}`` every ``stats_interval`` seconds with a TTL of
``TTL_INTERVALS`` intervals, so a process that died drops out of the view on its own and a
missed beat or two does not. The key is under the layer's prefix: ``flush`` deletes it (the next
beat writes it again) and one SCAN finds every process. Reports are JSON, readable with redis-cli.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ..exceptions import ChannelLayerRefused, ChannelLayerUnavailable
from ..transport.keyspace import unavailable
from ..transport.supervised import CONNECTION_ERRORS

__all__ = ["TTL_INTERVALS", "ReportStore", "Reporter", "read_reports"]

logger = logging.getLogger(__name__)

TTL_INTERVALS = 3
_SCAN_COUNT = 500


class _Executor(Protocol):
    async def execute(self, *args: Any) -> Any: ...


class ReportStore(Protocol):
    """What the reporter needs of a shard: pipelined commands to write, a redis-py client to SCAN and read."""

    description: str
    client: Any  # redis.asyncio.Redis or RedisCluster: both SCAN every node and route GET by key

    @property
    def publisher(self) -> _Executor: ...


class Reporter:
    """Writes one process's report under one key; each of the layer's event loops runs a copy."""

    def __init__(self, key: str, interval: float, report: Callable[[], dict[str, Any]]) -> None:
        self.key = key
        self.interval = interval
        self.ttl = interval * TTL_INTERVALS
        self._report = report

    def start(self, loop: asyncio.AbstractEventLoop, hub: ReportStore) -> asyncio.Task[None]:
        """Start beating on ``loop``; the caller owns (cancels and awaits) the task."""
        task = loop.create_task(self._run(hub), name="channels_fanout stats reporter")
        task.add_done_callback(_log_death)
        return task

    async def _run(self, hub: ReportStore) -> None:
        ttl_ms = max(1, round(self.ttl * 1000))
        refused: str | None = None  # the refusal last logged, so each is logged once, not every beat
        while True:
            payload = json.dumps({**self._report(), "ttl": self.ttl}, separators=(",", ":"))
            try:
                # Through the publisher: the SET rides in a batch that is being sent anyway.
                await hub.publisher.execute("SET", self.key, payload, "PX", ttl_ms)
                refused = None
            except ChannelLayerRefused as exc:
                if str(exc) != refused:
                    logger.warning("Stats reports are refused, so fanout_status cannot list this process: %s", exc)
                    refused = str(exc)
            except ChannelLayerUnavailable as exc:
                # The hub already warns about the outage; the next beat tries again.
                logger.debug("Skipped a stats report: %s", exc)
            await asyncio.sleep(self.interval)


async def read_reports(hubs: Iterable[ReportStore], pattern: str) -> list[dict[str, Any]]:
    """Every live report on any of ``hubs``, each with ``age``: seconds since it was written.

    Raises ChannelLayerUnavailable if a host cannot be read.
    """
    reports = []
    for hub in hubs:
        try:
            keys = [key async for key in hub.client.scan_iter(match=pattern, count=_SCAN_COUNT)]
            async with hub.client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.get(key)
                    pipe.pttl(key)
                replies = await pipe.execute()
        except CONNECTION_ERRORS as exc:
            raise unavailable(exc, hub.description, f"reading the stats reports {pattern!r}", pattern) from exc
        for key, value, pttl in zip(keys, replies[::2], replies[1::2], strict=True):
            report = _parse(key, value, pttl)
            if report is not None:
                reports.append(report)
    return sorted(reports, key=_by_host_and_pid)


def _by_host_and_pid(report: dict[str, Any]) -> tuple[str, int]:
    pid = report.get("pid")
    return str(report.get("host")), pid if isinstance(pid, int) else 0


def _parse(key: bytes, value: bytes | None, pttl: int) -> dict[str, Any] | None:
    if value is None or pttl < 0:  # expired between SCAN and GET
        return None
    try:
        report = json.loads(value)
        # The age comes from Redis's own clock: clock skew between hosts does not matter.
        report["age"] = round(max(0.0, float(report["ttl"]) - pttl / 1000), 3)
    except (ValueError, TypeError, KeyError) as exc:
        logger.warning("Ignored a malformed stats report under %r (%s)", key, exc)
        return None
    return dict(report)


def _log_death(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error(
            "The stats reporter stopped; fanout_status no longer lists this process", exc_info=task.exception()
        )
