"""One process's presence scripts in Redis: each group's keys and arguments, routed to the group's shard.

Every command about a group goes where the group's topic lives (``shard_for(group_topic)``), so its
keys and the topic its events are published on share one host, or one cluster slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from ..naming import Names
from ..transport.scripts import Script
from ..transport.shard import Shard
from . import scripts

__all__ = ["TOMBSTONE_SECONDS", "Reply", "Store"]

#: How long a reaped process is remembered: back from a partition within this time, it re-asserts
#: its entries with join events; later, silently. Idle groups' keys expire after it too.
TOMBSTONE_SECONDS = 86400


@dataclass(frozen=True)
class Reply:
    """What a script says of this process in the group."""

    done: bool  # False: Redis does not hold this process's entries as it believes; nothing changed
    count: int  # this process's channels in the group, in Redis, after the script
    reaped: int  # dead processes the script removed


class Store:
    """The scripts of one process (``client_id``) for any group; counts the scripts run and processes reaped."""

    def __init__(
        self, names: Names, client_id: str, timeout: float, events: bool, shard_for: Callable[[bytes], Shard]
    ) -> None:
        self._names = names
        self._client_id = client_id
        self._timeout_ms = max(1, round(timeout * 1000))
        self._events = events
        self._shard_for = shard_for
        self.scripts = 0
        self.reaped = 0

    async def track(self, group: str, channel: str, entry: bytes, first: bool) -> Reply:
        return await self._reply(scripts.TRACK, group, channel, entry, "1" if first else "0")

    async def untrack(self, group: str, channel: str) -> Reply:
        return await self._reply(scripts.UNTRACK, group, channel)

    async def beat(self, group: str) -> Reply:
        return await self._reply(scripts.BEAT, group)

    async def sync(self, group: str, entries: Mapping[str, bytes]) -> Reply:
        """Make Redis hold exactly ``entries`` (channel -> entry) for this process in ``group``."""
        return await self._reply(scripts.SYNC, group, *(item for pair in entries.items() for item in pair))

    async def leave(self, group: str) -> Reply:
        return await self._reply(scripts.LEAVE, group)

    async def read(self, group: str) -> bytes:
        """Every entry of the group (of any process), as one JSON array: one round trip.

        The reaping script and HVALS go in one pipeline. HVALS is not run by the script: turning
        ten thousand entries into Lua strings and back costs Redis several times what HVALS does.
        A script sent in full the first time on a server (NOSCRIPT) may run after the HVALS; so
        when it did reap, the entries are read again.
        """
        entries_key = self._names.group_key("presence", group)
        publisher = self._shard_for(self._names.group_topic(group)).publisher
        replies = await asyncio.gather(
            self._run(scripts.REAP, group), publisher.execute("HVALS", entries_key), return_exceptions=True
        )
        reaped, entries = replies
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
        self.reaped += int(cast(int, reaped))
        if reaped:
            entries = await publisher.execute("HVALS", entries_key)
        return b"[" + b",".join(cast(list[bytes], entries)) + b"]"

    async def _reply(self, script: Script, group: str, *args: Any) -> Reply:
        done, count, reaped = await self._run(script, group, *args)
        self.reaped += int(reaped)
        return Reply(bool(done), int(count), int(reaped))

    async def _run(self, script: Script, group: str, *args: Any) -> Any:
        names, topic = self._names, self._names.group_topic(group)
        shard = self._shard_for(topic)
        entries = names.group_key("presence", group)
        keys = (
            entries,
            names.group_key("presence-keys", group),
            names.group_key("presence-processes", group),
            f"{entries}:{self._client_id}",  # the scripts name a reaped process's set the same way
        )
        publish = shard.publish_command if self._events else ""
        common = (self._client_id, self._timeout_ms, TOMBSTONE_SECONDS * 1000, publish, topic, group)
        self.scripts += 1
        return await script.run(shard.publisher, keys, (*common, *args))
