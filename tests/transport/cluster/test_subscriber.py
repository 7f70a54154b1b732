"""How one sharded subscriber reads its connection: replies, pushes and errors, on a scripted connection."""

from __future__ import annotations

import asyncio

import pytest
from redis.crc import key_slot
from redis.exceptions import ConnectionError, MovedError

from channels_fanout.transport.cluster.subscriber import ClusterSubscriber
from tests.helpers import eventually

A1, A2, B1 = b"{a}1", b"{a}2", b"{b}1"  # A1 and A2 share a slot


class ScriptedConnection:
    """Records what the subscriber writes; replies with what the test puts in ``replies``."""

    def __init__(self) -> None:
        self.writes: list[list[tuple[bytes, ...]]] = []
        self.replies: asyncio.Queue[object] = asyncio.Queue()

    async def connect(self) -> None:
        pass

    def pack_commands(self, commands):
        return [tuple(command) for command in commands]

    async def send_packed_command(self, packed, check_health=True) -> None:
        self.writes.append(packed)

    async def send_command(self, *args, check_health=True) -> None:
        self.writes.append([args])

    async def read_response(self, disconnect_on_error=True):
        reply = await self.replies.get()
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def disconnect(self, nowait=False) -> None:
        pass

    def commands(self) -> list[tuple[bytes, frozenset[bytes]]]:
        return [(command[0], frozenset(command[1:])) for write in self.writes for command in write]


class Recorder:
    """The listener: keeps every report."""

    def __init__(self) -> None:
        self.confirmed: list[bytes] = []
        self.moved: list[tuple[set[bytes], str | None, set[bytes]]] = []
        self.down: list[set[bytes]] = []

    def on_message(self, topic, data):
        pass

    def on_confirmed(self, subscriber, topic):
        self.confirmed.append(topic)

    def on_moved(self, subscriber, topics, to, lost):
        self.moved.append((set(topics), to, set(lost)))
        for topic in topics:
            subscriber.remove(topic)

    def on_down(self, subscriber, lost):
        self.down.append(set(lost))


@pytest.fixture
async def wired():
    connection, listener = ScriptedConnection(), Recorder()
    subscriber = ClusterSubscriber(
        "127.0.0.1:7000",
        lambda: connection,
        listener,
        heartbeat_interval=0,
        command_timeout=1,
        reconnect_max_delay=0.05,
    )
    yield subscriber, connection, listener
    await subscriber.close()


async def subscribed(subscriber, connection, *topics):
    for topic in topics:
        subscriber.add(topic)
    await eventually(lambda: connection.writes)
    for topic in topics:
        connection.replies.put_nowait([b"ssubscribe", topic, 1])
    await eventually(lambda: all(subscriber.is_confirmed(topic) for topic in topics))


async def test_a_burst_goes_out_as_one_write_with_one_command_per_slot(wired):
    subscriber, connection, listener = wired
    for topic in (A1, A2, B1):
        subscriber.add(topic)
    await eventually(lambda: connection.writes)
    assert len(connection.writes) == 1
    assert set(connection.commands()) == {(b"ssubscribe", frozenset({A1, A2})), (b"ssubscribe", frozenset({B1}))}


async def test_a_topic_is_confirmed_once_redis_answers_its_ssubscribe(wired):
    subscriber, connection, listener = wired
    await subscribed(subscriber, connection, A1, B1)
    assert sorted(listener.confirmed) == [A1, B1]
    assert subscriber.settled


async def test_an_unasked_sunsubscribe_reports_the_topic_moved_and_lost(wired):
    subscriber, connection, listener = wired
    await subscribed(subscriber, connection, A1, B1)
    connection.replies.put_nowait([b"sunsubscribe", A1, 1])  # the slot left the node
    await eventually(lambda: listener.moved)
    assert listener.moved == [({A1}, None, {A1})]
    assert subscriber.is_confirmed(B1) and A1 not in subscriber.topics


async def test_the_answer_to_our_own_sunsubscribe_is_not_a_move(wired):
    subscriber, connection, listener = wired
    await subscribed(subscriber, connection, A1)
    subscriber.remove(A1)
    await eventually(lambda: (b"sunsubscribe", frozenset({A1})) in connection.commands())
    connection.replies.put_nowait([b"sunsubscribe", A1, 0])
    connection.replies.put_nowait([b"pong", b""])
    await eventually(lambda: connection.replies.empty())
    await asyncio.sleep(0)
    assert listener.moved == []


async def test_moved_answers_the_oldest_command_of_its_slot_and_names_the_new_owner(wired):
    subscriber, connection, listener = wired
    subscriber.add(A1)
    subscriber.add(B1)
    await eventually(lambda: len(connection.commands()) == 2)
    connection.replies.put_nowait(MovedError(f"{key_slot(B1)} 127.0.0.1:7001"))
    connection.replies.put_nowait([b"ssubscribe", A1, 1])
    await eventually(lambda: listener.moved and listener.confirmed)
    assert listener.moved == [({B1}, "127.0.0.1:7001", set())]
    assert listener.confirmed == [A1]


async def test_moved_for_a_command_a_push_already_answered_is_ignored(wired):
    subscriber, connection, listener = wired
    await subscribed(subscriber, connection, A1, A2)
    subscriber.remove(A1)
    await eventually(lambda: (b"sunsubscribe", frozenset({A1})) in connection.commands())
    # The slot left before Redis ran our SUNSUBSCRIBE: its push comes first, then MOVED for it.
    connection.replies.put_nowait([b"sunsubscribe", A1, 1])
    connection.replies.put_nowait([b"sunsubscribe", A2, 0])
    connection.replies.put_nowait(MovedError(f"{key_slot(A1)} 127.0.0.1:7001"))
    await eventually(lambda: listener.moved)
    await eventually(lambda: connection.replies.empty())
    await asyncio.sleep(0)
    assert listener.moved == [({A2}, None, {A2})]


async def test_a_lost_connection_reports_the_confirmed_topics_and_resubscribes(wired):
    subscriber, connection, listener = wired
    await subscribed(subscriber, connection, A1, B1)
    connection.writes.clear()
    connection.replies.put_nowait(ConnectionError("reset by peer"))
    await eventually(lambda: listener.down)
    assert listener.down == [{A1, B1}]
    await eventually(lambda: len(connection.commands()) == 2)  # after the backoff, on a new connection
    assert set(connection.commands()) == {(b"ssubscribe", frozenset({A1})), (b"ssubscribe", frozenset({B1}))}
