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


class _Counts:
    """Counters summed over nodes: the layer keeps its closed nodes' in one; a snapshot adds the live ones to a copy."""

    def __init__(self) -> None:
        self.published = self.received = self.expired = self.undecodable = 0
        self.history = _HistoryTotals()
        self.presence = _PresenceTotals()
        self.inboxes = InboxTotals()
        self.shards: dict[str, _ShardTotals] = {}

    def add_node(self, node: Node, open_inboxes: Iterable[Inbox]) -> None:
        self.published += node.published
        self.received += node.fanout.received
        self.expired += node.fanout.expired
        self.undecodable += node.fanout.undecodable
        self.history.add(node.recovery)
        self.presence.add(node.presence)
        self.inboxes.add(node.fanout.closed)
        for inbox in open_inboxes:
            self.inboxes.add(inbox)
        for hub in node.hubs:
            self.shards.setdefault(hub.description, _ShardTotals()).add_counters(hub)

    def copy(self) -> _Counts:
        counts = _Counts()
        counts.published, counts.received = self.published, self.received
        counts.expired, counts.undecodable = self.expired, self.undecodable
        counts.history.add(self.history)
        counts.presence.add(self.presence)
        counts.inboxes.add(self.inboxes)
        for name, shard in self.shards.items():
            counts.shards[name] = _ShardTotals()
            counts.shards[name].add_counters(shard)
        return counts


class LayerStats:
    """Counters of one layer in this process: its nodes' (live and closed) and the layer's own."""

    def __init__(self, nodes: Mapping[Any, Node], refusals: RefusalCounters, prefix: str) -> None:
        self.reporter_id = os.urandom(8).hex()
        self.started_at = time.time()
        self._started = time.monotonic()
        self._nodes = nodes
        self._refusals = refusals
        self._prefix = prefix
        self._retired = _Counts()  # counters of closed nodes

    def retire(self, node: Node) -> None:
        """Keep the counters of a node that is closing."""
        self._retired.add_node(node, list(node.fanout.inboxes.values()))

    def collect(self) -> dict[str, Any]:
        """A snapshot as a plain, JSON-serialisable dict (not atomic across event loops)."""
        nodes = list(self._nodes.values())
        counts = self._retired.copy()
        channels = groups = members = backlog = tracked = 0
        deepest: list[tuple[str, Inbox]] = []
        for node in nodes:
            open_inboxes = list(node.fanout.inboxes.items())  # one C-level copy: safe against other threads
            counts.add_node(node, (inbox for _, inbox in open_inboxes))
            counts.history.groups += node.recovery.group_count
            channels += len(open_inboxes)
            groups += node.fanout.group_count
            members += node.fanout.member_count
            backlog += sum(len(inbox) for _, inbox in open_inboxes)
            tracked += node.presence.tracked_count
            deepest.extend(_deepest(open_inboxes))
            _note_subscriptions(counts.shards, node)
        inboxes, shards = counts.inboxes, counts.shards
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
                "published": counts.published,
                "received": counts.received,
                "delivered": inboxes.delivered,
                "dropped": {
                    "inbox_full": inboxes.dropped,
                    "expired": counts.expired + inboxes.expired,
                    "undecodable": counts.undecodable,
                    "discarded": inboxes.discarded,
                    "too_large": self._refusals.too_large,
                    "channel_full": self._refusals.channel_full,
                },
            },
            "inbox_high_water": inboxes.high_water,
            "top_inboxes": [_describe(channel, inbox) for channel, inbox in _deepest(deepest)],
            "history": counts.history.as_dict(),
            "presence": counts.presence.as_dict(),
            "reconnects": sum(shard.reconnects for shard in shards.values()),
            "gaps": sum(shard.gaps for shard in shards.values()),
            "shards": {name: shard.as_dict() for name, shard in shards.items()},
        }


def _note_subscriptions(shards: dict[str, _ShardTotals], node: Node) -> None:
    """A live node's subscriptions by host, and why Redis refuses it, if it does."""
    for hub in node.hubs:
        shard = shards[hub.description]
        shard.subscriptions += hub.topic_count
        shard.subscribed = shard.subscribed and (hub.subscribed or not hub.topic_count)
        if hub.refusal is not None and shard.error is None:
            shard.error = str(hub.refusal)


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
