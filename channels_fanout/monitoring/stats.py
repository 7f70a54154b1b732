"""The layer's counters in this process, read off the objects that keep them, as one plain dict.

Each event is counted where it happens, by a plain integer increment on an object that exists
anyway (an inbox, the fan-out, a hub, a publisher, a node); nothing here runs per message.
``LayerStats.collect`` sums them over the layer's event loops when asked, and keeps the counts of
loops that closed, so counters only grow for the life of the layer, as Prometheus expects.
The dict's shape is documented in docs/operations.md ("Monitoring").
"""

from __future__ import annotations

import heapq
import os
import socket
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from ..local.inbox import Inbox, InboxTotals
from ..transport.latency import Latency
from ..transport.shard import ShardCounters

if TYPE_CHECKING:
    from ..local.node import Node

__all__ = ["DROP_REASONS", "LayerStats", "RefusalCounters"]

#: Why a message did not reach a receiver; the first four happen silently, the last two raise in the sender.
DROP_REASONS = ("inbox_full", "expired", "undecodable", "discarded", "too_large", "channel_full")
TOP_INBOXES = 5


class RefusalCounters(Protocol):
    """Messages the layer refused before they reached a node (it counts them; stats only reads)."""

    too_large: int
    channel_full: int


class _ShardTotals:
    """What one Redis host's hubs counted, summed over event loops."""

    __slots__ = ("reconnects", "gaps", "commands", "failed", "latency", "subscriptions", "subscribed", "error")

    def __init__(self) -> None:
        self.reconnects = self.gaps = self.commands = self.failed = self.subscriptions = 0
        self.latency = Latency()
        self.subscribed = True
        self.error: str | None = None  # why Redis refuses a live event loop's connection or subscriptions

    def add_counters(self, other: ShardCounters | _ShardTotals) -> None:
        publisher = other if isinstance(other, _ShardTotals) else other.publisher
        self.reconnects += other.reconnects
        self.gaps += other.gaps
        self.commands += publisher.commands
        self.failed += publisher.failed
        self.latency.add(publisher.latency)

    def as_dict(self) -> dict[str, Any]:
        return {
            "subscriptions": self.subscriptions,
            "subscribed": self.subscribed,
            "error": self.error,
            "reconnects": self.reconnects,
            "gaps": self.gaps,
            "publish": {
                "batches": self.latency.count,
                "commands": self.commands,
                "failed": self.failed,
                "seconds_total": round(self.latency.total, 6),
                "seconds_max": round(self.latency.max, 6),
                "buckets": self.latency.cumulative(),
            },
        }


class _HistoryCounters(Protocol):
    replayed: int
    unrecovered: int
    reads: int


class _HistoryTotals:
    """What the recovery of groups with history counted, summed over event loops."""

    __slots__ = ("groups", "replayed", "unrecovered", "reads")

    def __init__(self) -> None:
        self.groups = self.replayed = self.unrecovered = self.reads = 0

    def add(self, other: _HistoryCounters) -> None:
        self.replayed += other.replayed
        self.unrecovered += other.unrecovered
        self.reads += other.reads

    def as_dict(self) -> dict[str, int]:
        return {"groups": self.groups, "replayed": self.replayed, "unrecovered": self.unrecovered, "reads": self.reads}


class _PresenceCounters(Protocol):
    """What a node's presence counts (``presence.tracker.Presence``)."""

    @property
    def scripts(self) -> int: ...

    @property
    def reaped(self) -> int: ...

    resyncs: int


class _PresenceTotals:
    """Presence counters summed over event loops."""

    __slots__ = ("scripts", "reaped", "resyncs")

    def __init__(self) -> None:
        self.scripts = self.reaped = self.resyncs = 0

    def add(self, other: _PresenceCounters | _PresenceTotals) -> None:
        self.scripts += other.scripts
        self.reaped += other.reaped
        self.resyncs += other.resyncs

    def as_dict(self) -> dict[str, int]:
        return {"scripts": self.scripts, "reaped": self.reaped, "resyncs": self.resyncs}


class LayerStats:
    """Counters of one layer in this process: its nodes' (live and closed) and the layer's own."""

    def __init__(self, nodes: Mapping[Any, Node], refusals: RefusalCounters, prefix: str) -> None:
        self.reporter_id = os.urandom(8).hex()
        self.started_at = time.time()
        self._started = time.monotonic()
        self._nodes = nodes
        self._refusals = refusals
        self._prefix = prefix
        # Counters of closed nodes.
        self._published = self._received = self._expired = self._undecodable = 0
        self._history = _HistoryTotals()
        self._presence = _PresenceTotals()
        self._inboxes = InboxTotals()
        self._shards: dict[str, _ShardTotals] = {}

    def retire(self, node: Node) -> None:
        """Keep the counters of a node that is closing."""
        self._published += node.published
        self._received += node.fanout.received
        self._expired += node.fanout.expired
        self._undecodable += node.fanout.undecodable
        self._history.add(node.recovery)
        self._inboxes.add(node.fanout.closed)
        self._presence.add(node.presence)
        for inbox in list(node.fanout.inboxes.values()):
            self._inboxes.add(inbox)
        for hub in node.hubs:
            self._shards.setdefault(hub.description, _ShardTotals()).add_counters(hub)

    def collect(self) -> dict[str, Any]:
        """A snapshot as a plain, JSON-serialisable dict (not atomic across event loops)."""
        nodes = list(self._nodes.values())
        published, received = self._published, self._received
        expired, undecodable = self._expired, self._undecodable
        history = _HistoryTotals()
        history.add(self._history)
        inboxes = InboxTotals()
        inboxes.add(self._inboxes)
        shards: dict[str, _ShardTotals] = {}
        for name, retired in self._shards.items():
            shards[name] = _ShardTotals()
            shards[name].add_counters(retired)
        channels = groups = members = backlog = tracked = 0
        presence = _PresenceTotals()
        presence.add(self._presence)
        deepest: list[tuple[str, Inbox]] = []
        for node in nodes:
            fanout = node.fanout
            presence.add(node.presence)
            tracked += node.presence.tracked_count
            published += node.published
            received += fanout.received
            expired += fanout.expired
            undecodable += fanout.undecodable
            history.add(node.recovery)
            history.groups += node.recovery.group_count
            inboxes.add(fanout.closed)
            open_inboxes = list(fanout.inboxes.items())  # one C-level copy: safe against other threads
            for _, inbox in open_inboxes:
                inboxes.add(inbox)
                backlog += len(inbox)
            deepest.extend(_deepest(open_inboxes))
            channels += len(open_inboxes)
            groups += fanout.group_count
            members += fanout.member_count
            for hub in node.hubs:
                shard = shards.setdefault(hub.description, _ShardTotals())
                shard.add_counters(hub)
                shard.subscriptions += hub.topic_count
                shard.subscribed = shard.subscribed and (hub.subscribed or not hub.topic_count)
                if hub.refusal is not None and shard.error is None:
                    shard.error = str(hub.refusal)
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "prefix": self._prefix,
            "started_at": round(self.started_at, 3),
            "uptime": round(time.monotonic() - self._started, 3),
            "loops": len(nodes),
            "channels": channels,
            "groups": groups,
            "members": members,
            "backlog": backlog,
            "tracked": tracked,
            "messages": {
                "published": published,
                "received": received,
                "delivered": inboxes.delivered,
                "dropped": {
                    "inbox_full": inboxes.dropped,
                    "expired": expired + inboxes.expired,
                    "undecodable": undecodable,
                    "discarded": inboxes.discarded,
                    "too_large": self._refusals.too_large,
                    "channel_full": self._refusals.channel_full,
                },
            },
            "inbox_high_water": inboxes.high_water,
            "top_inboxes": [_describe(channel, inbox) for channel, inbox in _deepest(deepest)],
            "history": history.as_dict(),
            "presence": presence.as_dict(),
            "reconnects": sum(shard.reconnects for shard in shards.values()),
            "gaps": sum(shard.gaps for shard in shards.values()),
            "shards": {name: shard.as_dict() for name, shard in shards.items()},
        }


def _deepest(inboxes: Iterable[tuple[str, Inbox]]) -> list[tuple[str, Inbox]]:
    """The most backed-up non-empty inboxes, deepest first."""
    return heapq.nlargest(TOP_INBOXES, ((c, i) for c, i in inboxes if len(i)), key=lambda item: len(item[1]))


def _describe(channel: str, inbox: Inbox) -> dict[str, Any]:
    return {
        "channel": channel,
        "depth": len(inbox),
        "high_water": inbox.high_water,
        "dropped": inbox.dropped,
        "receivers": inbox.receivers,
    }
