"""A Redis Cluster as seen from one event loop, on sharded pub/sub: the Hub's interface, spread over primaries.

SPUBLISH reaches only the shard that owns the topic's slot (PUBLISH in a cluster is copied to every
node). Each wanted topic is held by the ``ClusterSubscriber`` of its slot's primary, so a process
has one subscriber connection per primary it needs. A topic moves only on evidence: the server
pushed ``sunsubscribe`` (its slot left the node), answered MOVED, or the node is unreachable and
the slot map, read again, names another primary. A router task does the moving; when topics that
were subscribed are subscribed again, ``on_gap`` hears of the outage (``on_lost`` heard of the loss).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Collection, Mapping
from typing import Any

from redis.asyncio.cluster import RedisCluster

from ...config import describe_host
from ...exceptions import ChannelLayerRefused, ChannelLayerUnavailable
from .. import keyspace
from ..confirmations import Confirmations
from ..references import References
from ..refusals import RefusalLog, again, refusal, where
from ..supervised import CONNECTION_ERRORS, REFUSED_RETRY_FACTOR, MessageHandler
from .publisher import ClusterPublisher, primary_of
from .slot_map import BACKOFF_BASE, SlotMap
from .subscriber import ClusterSubscriber

__all__ = ["ClusterHub"]

logger = logging.getLogger(__name__)

_ERRORS = CONNECTION_ERRORS


class ClusterHub:
    """Pub/sub and commands for one Redis Cluster on the running loop."""

    def __init__(
        self,
        host: Mapping[str, Any],
        *,
        on_message: MessageHandler,
        on_lost: Callable[[Collection[bytes]], None],
        on_gap: Callable[[Collection[bytes], float], None],
        heartbeat_interval: float,
        command_timeout: float,
        reconnect_max_delay: float,
    ) -> None:
        kwargs = dict(host)
        urls: tuple[str, ...] = kwargs.pop("cluster")
        kwargs.setdefault("protocol", 2)
        kwargs.setdefault("socket_connect_timeout", command_timeout)
        self._slot_map = SlotMap(urls, kwargs, command_timeout, reconnect_max_delay)
        self.description = describe_host(host)
        self._on_message = on_message
        self._on_lost = on_lost
        self._on_gap = on_gap
        self._heartbeat_interval = heartbeat_interval
        self._command_timeout = command_timeout
        self._reconnect_max_delay = reconnect_max_delay
        self.client = self._slot_map.client
        self.publisher = ClusterPublisher(
            self.client, self._slot_map.connection_to, command_timeout, self._slot_map_stale, self._slot_map.ready
        )
        self._blocking_client: RedisCluster | None = None
        self._loop = asyncio.get_running_loop()

        self._wanted = References()
        self._holder: dict[bytes, ClusterSubscriber] = {}  # wanted topic -> the subscriber holding it
        self._subscribers: dict[str, ClusterSubscriber] = {}  # "host:port" -> subscriber
        self._unrouted: set[bytes] = set()  # wanted topics no subscriber holds
        self._moved_to: dict[bytes, str] = {}  # unrouted topic -> the address a MOVED named
        self._lost: dict[bytes, float] = {}  # topic -> when its confirmed subscription was lost
        self._recovered: dict[bytes, float] = {}  # topic -> outage, until reported to on_gap
        self._confirmations = Confirmations(self._loop)
        self._route_event = asyncio.Event()
        self._troubled = False  # something failed (a subscriber, a publish) since the last routing pass
        self._trouble = 0  # such passes in a row, for backoff
        self._troubled_at = 0.0
        self._router: asyncio.Task[None] | None = None
        self._router_refusal: ChannelLayerRefused | None = None  # the slot map cannot be read: Redis refuses
        self._refusal_log = RefusalLog(logger, REFUSED_RETRY_FACTOR * reconnect_max_delay)
        self._closed = False
        # For stats, as Hub counts them; on a cluster every restore follows a loss, so the two are equal.
        self.reconnects = 0  # subscriptions restored after a lost connection, a moved slot or a failover
        self.gaps = 0  # those after which subscribed topics had missed messages

    # Commands

    publish_command = "SPUBLISH"

    async def publish(self, topic: bytes, data: bytes) -> None:
        await self.publisher.execute(self.publish_command, topic, data)

    async def push(self, key: str, item: bytes, capacity: int, ttl: float) -> bool:
        """Append ``item`` to the list ``key`` unless it holds ``capacity`` items; False if it does."""
        return await keyspace.push(self.publisher, key, item, capacity, ttl)

    async def pop(self, key: str, timeout: float) -> bytes | None:
        """BLPOP one key on its primary for at most ``timeout`` seconds."""
        if self._blocking_client is None:
            # The socket timeout must outlast the server-side BLPOP timeout.
            self._blocking_client = self._slot_map.make_client(socket_timeout=timeout + self._command_timeout)
        return await keyspace.pop(self._blocking_client, key, timeout, self.description)

    async def delete_keys(self, pattern: str) -> None:
        """UNLINK every key matching ``pattern`` on every primary."""
        await keyspace.delete_matching(self.client, pattern, self.description)

    # Subscriptions

    async def subscribe(self, topic: bytes) -> None:
        """Take a reference to ``topic``; returns once its slot's primary confirmed SSUBSCRIBE.

        Raises ChannelLayerUnavailable if that takes over ``command_timeout``; the reference is
        kept either way, and the caller releases it.
        """
        if self._wanted.take(topic):
            self._unrouted.add(topic)
            self._route_event.set()
        self._start_router()
        if self._router_refusal is not None:
            raise again(self._router_refusal)  # not after the next attempt, seconds away
        await self._confirmed(topic)

    def release(self, topic: bytes) -> None:
        """Drop a reference to ``topic``; the last one unsubscribes (without waiting for Redis)."""
        if self._wanted.drop(topic):
            holder = self._holder.pop(topic, None)
            if holder is not None:
                holder.remove(topic)
            self._unrouted.discard(topic)
            self._moved_to.pop(topic, None)
            self._lost.pop(topic, None)
            self._recovered.pop(topic, None)
            self._confirmations.confirm(topic)

    @property
    def subscribed(self) -> bool:
        """Whether every wanted topic is confirmed by its slot's primary."""
        return all(self._is_confirmed(topic) for topic in self._wanted)

    @property
    def topic_count(self) -> int:
        return len(self._wanted)

    @property
    def refusal(self) -> ChannelLayerRefused | None:
        """Why the cluster refuses this process now: reading the slot map, or a node's subscriber connection."""
        if self._router_refusal is not None:
            return self._router_refusal
        return next((s.refusal for s in self._subscribers.values() if s.refusal is not None), None)

    async def _confirmed(self, topic: bytes) -> None:
        if not self._is_confirmed(topic):
            unconfirmed = f"Redis {self.description} did not confirm SSUBSCRIBE"
            await self._confirmations.wait(topic, self._command_timeout, unconfirmed)

    def _is_confirmed(self, topic: bytes) -> bool:
        holder = self._holder.get(topic)
        return topic not in self._wanted or (holder is not None and holder.is_confirmed(topic))

    # What the subscribers report (from their tasks: no awaiting)

    def on_message(self, topic: bytes, data: bytes) -> bool:
        return self._on_message(topic, data)

    def on_confirmed(self, subscriber: ClusterSubscriber, topic: bytes) -> None:
        if self._holder.get(topic) is not subscriber:
            return
        self._trouble = 0
        self._confirmations.confirm(topic)
        lost_at = self._lost.pop(topic, None)
        if lost_at is not None:
            self._recovered[topic] = self._loop.time() - lost_at
        if self._recovered and subscriber.settled:
            recovered, self._recovered = self._recovered, {}
            outage = max(recovered.values())
            self.reconnects += 1
            self.gaps += 1
            logger.warning(
                "Resubscribed to %d topics on %s after up to %.2fs without a subscription; "
                "messages published meanwhile are lost, but for groups with history",
                len(recovered), self.description, outage,
            )  # fmt: skip
            self._on_gap(set(recovered), outage)

    def on_moved(self, subscriber: ClusterSubscriber, topics: set[bytes], to: str | None, lost: set[bytes]) -> None:
        self._note_lost(lost)
        for topic in topics:
            if self._holder.get(topic) is subscriber:
                del self._holder[topic]
                subscriber.remove(topic)  # already dropped by the server: no SUNSUBSCRIBE goes out
                self._unrouted.add(topic)
                if to is not None:
                    self._moved_to[topic] = to
        if to is None:
            self._slot_map.stale = True
        self._trouble_router()

    def on_down(self, subscriber: ClusterSubscriber, lost: set[bytes]) -> None:
        self._note_lost(lost)
        self._slot_map.stale = True  # the node may have failed over: its slots may have a new primary
        self._trouble_router()

    def on_refused(self, subscriber: ClusterSubscriber, topics: set[bytes], refusal: ChannelLayerRefused) -> None:
        for topic in topics:
            if self._holder.get(topic) is subscriber:
                self._confirmations.fail(topic, refusal)

    def _note_lost(self, topics: set[bytes]) -> None:
        now = self._loop.time()
        newly_lost = {topic for topic in topics if topic in self._wanted and topic not in self._lost}
        for topic in newly_lost:
            self._lost[topic] = now
        if newly_lost:
            self._on_lost(newly_lost)

    def _slot_map_stale(self) -> None:
        """A publish found no primary: read the slot map again (a publishing-only hub has no other cue)."""
        self._slot_map.stale = True
        self._trouble_router()

    def _trouble_router(self) -> None:
        self._troubled = True
        self._route_event.set()
        self._start_router()

    def _start_router(self) -> None:
        # Not once closed: a publish failing as the layer closes would start a router (and a slot-map read, with
        # connections) that nothing would stop.
        if self._router is None and not self._closed:
            self._router = self._loop.create_task(self._route(), name=f"channels_fanout router {self.description}")

    # Routing

    async def _route(self) -> None:
        """Give each unrouted topic to the subscriber of its slot's primary; read the slot map when stale."""
        while True:
            await self._route_event.wait()
            self._route_event.clear()
            if self._troubled:
                self._troubled = False
                now = self._loop.time()
                # Back off while failures follow one another; after a quiet spell, start afresh.
                recent = now - self._troubled_at < 2 * self._reconnect_max_delay
                self._trouble, self._troubled_at = (self._trouble + 1 if recent else 1), now
                if self._trouble > 1:
                    delay = min(self._reconnect_max_delay, BACKOFF_BASE * 2 ** (self._trouble - 2))
                    await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            try:
                await self._slot_map.read()
                self._review()
                self._assign()
            except Exception as exc:  # a bug or an unforeseen reply must not stop routing for good
                refused = refusal(exc, where(self.description), "reading the slot map (CLUSTER SLOTS)")
                if refused is not None:
                    self._routing_refused(refused)
                elif isinstance(exc, _ERRORS):
                    logger.warning("Routing topics on %s failed (%s); retrying", self.description, exc)
                else:
                    logger.exception("Routing topics on %s failed unexpectedly; retrying", self.description)
                self._slot_map.stale = self._troubled = True
                self._route_event.set()
                if refused is not None:
                    await asyncio.sleep(REFUSED_RETRY_FACTOR * self._reconnect_max_delay)
                continue
            if self._router_refusal is not None:
                self._router_refusal = None
                self._refusal_log.accepted(where(self.description))
            for address, subscriber in list(self._subscribers.items()):
                if not subscriber.topics and not subscriber.connected:
                    del self._subscribers[address]  # a node the process no longer needs, or gone
                    await subscriber.close()

    def _routing_refused(self, refused: ChannelLayerRefused) -> None:
        """The slot map cannot be read: the callers waiting for unrouted topics get the refusal now."""
        self._router_refusal = refused
        self._refusal_log.refused(refused)
        for topic in self._unrouted:
            self._confirmations.fail(topic, refused)

    def _review(self) -> None:
        """Topics of unreachable nodes whose slot now has another primary go to be routed again."""
        for subscriber in self._subscribers.values():
            if subscriber.connected:
                continue
            for topic in list(subscriber.topics):
                if primary_of(self.client, topic) != subscriber.address:
                    subscriber.remove(topic)
                    self._holder.pop(topic, None)
                    self._unrouted.add(topic)

    def _assign(self) -> None:
        for topic in list(self._unrouted):
            if topic in self._wanted:
                # Raises if the slot map has no primary for the slot: the topic stays unrouted.
                address = self._moved_to.pop(topic, None) or primary_of(self.client, topic)
                subscriber = self._subscribers.get(address)
                if subscriber is None:
                    subscriber = self._subscribers[address] = ClusterSubscriber(
                        address,
                        self._slot_map.connection_to(address),
                        self,
                        heartbeat_interval=self._heartbeat_interval,
                        command_timeout=self._command_timeout,
                        reconnect_max_delay=self._reconnect_max_delay,
                    )
                self._holder[topic] = subscriber
                subscriber.add(topic)
            self._unrouted.discard(topic)

    async def close(self) -> None:
        """Cancel the tasks and close every connection; safe to call twice."""
        self._closed = True
        router, self._router = self._router, None
        if router is not None:
            router.cancel()
            await asyncio.gather(router, return_exceptions=True)
        # Until it has stopped, a read may still add nodes (and their connections) that close() below misses.
        await self._slot_map.stop_reading()
        subscribers, self._subscribers = list(self._subscribers.values()), {}
        for subscriber in subscribers:
            await subscriber.close()
        self._confirmations.fail_all(ChannelLayerUnavailable("the channel layer was closed"))
        await self.publisher.close()
        await self._slot_map.close()
        if self._blocking_client is not None:
            await self._blocking_client.aclose()
