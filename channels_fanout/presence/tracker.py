"""Presence on one event loop: the channels it tracks, the beat that keeps them alive, and their re-assertion.

What this loop tracks is the truth; Redis converges to it. Local state changes before the command
is sent (so a beat counts exactly what Redis should hold when its turn comes in the pipeline), a
failed command marks its group *stale*, and a stale group is re-asserted in full (``SYNC``) by the
next beat. A script that finds Redis without this process's entries (it was reaped while
partitioned, or Redis restarted) gets them re-asserted at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from ..exceptions import ChannelLayerRefused, ChannelLayerUnavailable
from ..naming import Names, client_id_of
from ..transport.shard import Shard
from .entries import Metas, decode_list, diff_message
from .store import Reply, Store

__all__ = ["BEATS_PER_TIMEOUT", "Presence"]

logger = logging.getLogger(__name__)

#: Beats per ``presence_timeout``: a process misses two beats before it is reaped.
BEATS_PER_TIMEOUT = 3
_FAILURES = (ChannelLayerUnavailable, RedisError)


class Presence:
    """The tracked channels of one event loop (client id ``client_id``), by group."""

    def __init__(
        self,
        names: Names,
        client_id: str,
        shard_for: Callable[[bytes], Shard],
        timeout: float,
        message_type: str | None,
    ) -> None:
        self._client_id = client_id
        self._store = Store(names, client_id, timeout, message_type is not None, shard_for)
        self._interval = timeout / BEATS_PER_TIMEOUT
        self.message_type = message_type
        self._tracked: dict[str, dict[str, bytes]] = {}  # group -> {channel: entry}
        self._groups_of: dict[str, list[str]] = {}  # channel -> groups it is tracked in
        self._stale: set[str] = set()  # groups whose entries in Redis may differ from ours
        self._locks: dict[str, asyncio.Lock] = {}  # one re-assertion at a time per group
        self._syncs = 0  # re-assertions started, numbering them
        self._synced: dict[str, int] = {}  # group -> number of its latest re-assertion
        self._beating: asyncio.Task[None] | None = None
        self._untracking: dict[asyncio.Task[None], str] = {}  # untracks of dropped channels -> their group
        self._unsent: dict[str, int] = {}  # group -> those untracks not yet queued, still in Redis's count
        self.resyncs = 0  # for stats()
        self._refused = False  # beats are refused (logged once, until a beat gets through)

    # For stats()

    @property
    def tracked_count(self) -> int:
        return sum(len(channels) for channels in list(self._tracked.values()))

    @property
    def scripts(self) -> int:
        return self._store.scripts

    @property
    def reaped(self) -> int:
        return self._store.reaped

    def tracks(self, channel: str) -> bool:
        return channel in self._groups_of

    # The API, after validation by the layer

    async def track(self, group: str, channel: str, entry: bytes) -> None:
        """Track ``channel`` in ``group`` with ``entry`` (from ``encode_entry``): one round trip."""
        self._require_own(channel)
        channels = self._tracked.setdefault(group, {})
        first, previous = not channels, channels.get(channel)
        channels[channel] = entry
        if previous is None:
            self._groups_of.setdefault(channel, []).append(group)
        expected, mark = self._expected(group), self._syncs
        self._start_beating()
        try:
            await self._settle(group, await self._store.track(group, channel, entry, first), expected, mark)
        except BaseException:
            # The caller hears that the track failed; the next beat undoes it in Redis if it ran.
            if self._tracked.get(group, {}).get(channel) is entry:
                if previous is None:
                    self._forget(group, channel)
                else:
                    self._tracked[group][channel] = previous
            self._stale.add(group)
            self._start_beating()
            raise

    async def untrack(self, group: str, channel: str) -> None:
        """Stop tracking ``channel`` in ``group``; a channel not tracked here costs no round trip."""
        self._require_own(channel)
        if self._forget(group, channel):
            await self._send_untrack(group, channel)

    async def read(self, group: str) -> Metas:
        """Every key tracked in ``group`` by any process, with its metas: one round trip."""
        return decode_list(await self._store.read(group))

    def forget(self, channel: str) -> None:
        """The channel's inbox was dropped (its consumer is gone): untrack it everywhere, in the background."""
        for group in list(self._groups_of.get(channel, ())):
            self._forget(group, channel)
            self._unsent[group] = self._unsent.get(group, 0) + 1
            task = asyncio.get_running_loop().create_task(self._send_untrack(group, channel, unsent=True))
            self._untracking[task] = group
            task.add_done_callback(self._untracked)

    def clear(self) -> None:
        """Flush: Redis's keys are gone, so forget everything without a word."""
        self._tracked.clear()
        self._groups_of.clear()
        self._stale.clear()
        self._unsent.clear()

    def event(self, frame: list[Any]) -> dict[str, Any] | None:
        """The message for a group's members of a PRESENCE frame, or None if events are off here."""
        return None if self.message_type is None else diff_message(self.message_type, frame)

    async def close(self) -> None:
        """Stop beating and take every entry of this loop off Redis, with leave events (one script per group)."""
        groups = set(self._tracked) | self._stale | set(self._untracking.values())
        tasks = [task for task in (self._beating, *self._untracking) if task is not None]
        self._beating = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        results = await asyncio.gather(*(self._store.leave(group) for group in groups), return_exceptions=True)
        failed = [result for result in results if isinstance(result, BaseException)]
        if failed:
            logger.warning(
                "Could not take this process's presence off %d of %d groups (%s); the other processes "
                "will remove it, with leave events, once presence_timeout has passed",
                len(failed), len(groups), failed[0],
            )  # fmt: skip
        self.clear()

    # Keeping Redis in step

    def _require_own(self, channel: str) -> None:
        if client_id_of(channel) != self._client_id:
            raise ValueError(
                f"Channel {channel!r} was not made by new_channel() on this process's event loop: only the "
                "loop that owns a channel tracks it (its liveness is that loop's); call this where it was made"
            )

    def _forget(self, group: str, channel: str) -> bool:
        channels = self._tracked.get(group)
        if channels is None or channels.pop(channel, None) is None:
            return False
        if not channels:
            del self._tracked[group]
        groups = self._groups_of[channel]
        groups.remove(group)
        if not groups:
            del self._groups_of[channel]
        return True

    def _expected(self, group: str) -> int:
        """How many channels Redis holds for us in ``group`` once the commands queued so far have run."""
        return len(self._tracked.get(group, ())) + self._unsent.get(group, 0)

    async def _send_untrack(self, group: str, channel: str, unsent: bool = False) -> None:
        if unsent and group in self._unsent:  # queued in this step, just below
            self._unsent[group] -= 1
            if not self._unsent[group]:
                del self._unsent[group]
        expected, mark = self._expected(group), self._syncs
        try:
            reply = await self._store.untrack(group, channel)
        except BaseException:
            self._stale.add(group)
            self._start_beating()
            raise
        await self._settle(group, reply, expected, mark)

    def _untracked(self, task: asyncio.Task[None]) -> None:
        self._untracking.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            logger.debug("Untracking a dropped channel failed; the next beat retries: %s", task.exception())

    async def _settle(self, group: str, reply: Reply, expected: int, mark: int) -> None:
        """Act on what a script found: re-assert at once if Redis lost our entries, at the next beat if they differ."""
        if not reply.done:
            await self._resync(group, mark)
        elif reply.count != expected:
            self._stale.add(group)
        else:
            self._forget_group_if_idle(group)

    async def _resync(self, group: str, mark: int) -> None:
        """Re-assert ``group`` unless a re-assertion started after ``mark`` (it included our change)."""
        lock = self._locks.setdefault(group, asyncio.Lock())
        async with lock:
            if self._synced.get(group, -1) < mark:
                await self._sync(group)

    async def _sync(self, group: str) -> None:
        self._synced[group] = self._syncs
        self._syncs += 1
        self._stale.discard(group)
        self.resyncs += 1
        entries = dict(self._tracked.get(group, {}))
        try:
            reply = await self._store.sync(group, entries)
        except BaseException:
            self._stale.add(group)
            raise
        if reply.count != len(entries):
            self._stale.add(group)
        self._forget_group_if_idle(group)

    def _forget_group_if_idle(self, group: str) -> None:
        lock = self._locks.get(group)
        if group not in self._tracked and group not in self._stale and (lock is None or not lock.locked()):
            self._locks.pop(group, None)
            self._synced.pop(group, None)

    # The beat

    def _start_beating(self) -> None:
        if self._beating is None:
            self._beating = asyncio.get_running_loop().create_task(self._beat(), name="channels_fanout presence")
            self._beating.add_done_callback(_log_death)

    async def _beat(self) -> None:
        """Every interval, one script per group this loop tracks channels in, all pipelined: one round trip per host."""
        while True:
            await asyncio.sleep(self._interval)
            groups = set(self._tracked) | self._stale
            await asyncio.gather(*(self._beat_group(group) for group in groups))

    async def _beat_group(self, group: str) -> None:
        try:
            if group in self._stale:
                async with self._locks.setdefault(group, asyncio.Lock()):
                    await self._sync(group)
                return
            expected, mark = self._expected(group), self._syncs
            await self._settle(group, await self._store.beat(group), expected, mark)
            self._refused = False
        except _FAILURES as exc:
            if isinstance(exc, ChannelLayerRefused) and not self._refused:
                self._refused = True
                logger.error("Presence beats are refused, so the other processes will reap this one's: %s", exc)
            else:  # the hub already warns about an outage; the next beat tries again
                logger.debug("A presence beat for group %r failed: %s", group, exc)


def _log_death(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error(
            "The presence beat stopped; this process's presence will be reaped by the others",
            exc_info=task.exception(),
        )
