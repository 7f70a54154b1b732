"""Scenario 7: the chat testproject end to end, on P daphne processes, through real WebSocket clients.

Each daphne gets N client connections (one user each) from a client process of its own, seated
by ``benchmarks.seating``: R rooms with a sender each, and optionally idle connections in rooms of
their own. A sender posts ``new_message`` frames closed-loop: the next one when its own broadcast
came back (or after 5 s), so the load is what the whole path sustains: WebSocket, consumer, the
database write (SQLite or PostgreSQL), ``group_send``, every member's connection in every process.
The layer is switched by settings (``benchmarks.chat_settings``), nothing else; the message's
``uuid`` carries its sequence number and send time.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.redis_server import free_port
from tests.testproject.site import Daphne

from ..chatsite import chat_database, chat_environment
from ..harness import Run
from ..measure import Tally, cpu_seconds, merge, percentiles_ms
from ..payload import MESSAGE, PROBE
from ..priming import PROBE_INTERVAL, prime
from ..processes import Control, expect_all
from ..profiling import profile_window
from ..seating import room_count, seats
from .base import DELIVERY, LATENCY, Metric, Outcome, Scenario

__all__ = ["WEBSOCKETS", "clients", "prepare"]

ECHO_TIMEOUT = 5.0


async def prepare(layer: None, params: dict[str, Any], control: Control) -> dict[str, Any]:
    """Migrate a fresh database and create the users, their tokens and the rooms (in a thread: ORM)."""
    return await asyncio.to_thread(_prepare, params)


def _prepare(params: dict[str, Any]) -> dict[str, Any]:
    os.environ.update(params["env"])
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from testproject.chat import tokens
    from testproject.chat.models import ApiToken, ChatRoom

    call_command("migrate", verbosity=0, interactive=False)
    user_model = get_user_model()
    placed = [seat for process in range(params["processes"]) for seat in seats(params, process)]
    users = user_model.objects.bulk_create([user_model(username=f"bench-{u}") for u in range(len(placed))])
    keys = [tokens.new_token() for _ in users]
    records = [ApiToken(user=user) for user in users]
    for record, key in zip(records, keys, strict=True):
        record.set_token(key)
    ApiToken.objects.bulk_create(records)
    chat_rooms = ChatRoom.objects.bulk_create([ChatRoom(title=f"Room {r}") for r in range(room_count(params))])
    # Through the join table: no membership signals (no one is connected yet).
    ChatRoom.members.through.objects.bulk_create(
        ChatRoom.members.through(chatroom_id=chat_rooms[seat.room].pk, user_id=user.pk)
        for seat, user in zip(placed, users, strict=True)
    )
    return {"tokens": keys, "rooms": [room.pk.hex for room in chat_rooms]}


class _Client:
    """One process's connections: counts broadcasts per connection, and wakes a sender on its own echo."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.tally = Tally(params["per_sender"])
        self.sockets: list[ClientConnection] = []
        self.echoes: dict[int, tuple[int, asyncio.Future[None]]] = {}  # connection -> (seq, its echo)
        self.errors = 0
        self.echo_timeouts = 0

    async def open(self, token: str, active: bool) -> None:
        socket = await connect(self.params["ws_url"], origin=self.params["origin"], open_timeout=10)
        await socket.send(json.dumps({"uuid": "auth", "action": "authenticate", "token": token}))
        reply = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if reply.get("status") != "success":
            raise RuntimeError(f"authentication failed: {reply}")
        self.sockets.append(socket)
        if active:  # active connections come first: a socket's index is its channel's in the tally
            self.tally.add_channel(expected=self.params["per_sender"])

    async def read(self, index: int) -> None:
        async for frame in self.sockets[index]:
            if index >= self.params["connections"]:
                continue  # an idle connection: read, so that the server is never held up by it
            data = json.loads(frame)
            if data.get("action") != "new_message":
                continue
            if data.get("status") != "success":
                self.errors += 1
                continue
            kind, _, rest = str(data["uuid"]).partition(":")
            if kind == "probe":
                self.tally.record(index, {"type": PROBE})
            elif kind == "bench":
                seq, sent_at = rest.split(":")
                self.tally.record(index, {"type": MESSAGE, "seq": int(seq), "t": float(sent_at)})
                waiting = self.echoes.get(index)
                if waiting is not None and waiting[0] == int(seq) and not waiting[1].done():
                    waiting[1].set_result(None)

    async def post(self, index: int, room: str, request_uuid: str) -> None:
        frame = {"uuid": request_uuid, "action": "new_message", "room": room, "text": "benchmark"}
        await self.sockets[index].send(json.dumps(frame))

    async def send_closed_loop(self, index: int, room: str) -> None:
        for seq in range(self.params["per_sender"]):
            echo = asyncio.get_running_loop().create_future()
            self.echoes[index] = (seq, echo)
            await self.post(index, room, f"bench:{seq}:{time.monotonic()!r}")
            try:
                await asyncio.wait_for(echo, ECHO_TIMEOUT)
            except asyncio.TimeoutError:
                self.echo_timeouts += 1


async def clients(layer: None, params: dict[str, Any], control: Control) -> None:
    client = _Client(params)
    for user in params["users"]:
        await client.open(user["token"], user["active"])
    readers = [asyncio.create_task(client.read(index)) for index in range(len(client.sockets))]
    senders = [(index, user["room"]) for index, user in enumerate(params["users"]) if user["sends"]]
    await control.send("joined")

    await control.expect("probe")
    probing = asyncio.create_task(_probe(client, senders))
    await asyncio.wait_for(client.tally.primed.wait(), control.remaining())
    await control.send("primed")
    await control.expect("quiet")
    probing.cancel()
    await asyncio.gather(probing, return_exceptions=True)
    await control.send("quiet")

    await control.expect("go")
    started, cpu = time.monotonic(), cpu_seconds()
    await asyncio.gather(*(client.send_closed_loop(index, room) for index, room in senders))
    await client.tally.settle(started, params["idle"], control.deadline - 5)
    summary = {
        **client.tally.summary(),
        "started": started,
        "cpu": cpu_seconds() - cpu,
        "errors": client.errors,
        "echo_timeouts": client.echo_timeouts,
        "sent": len(senders) * params["per_sender"],
    }
    await control.send("measured", summary)
    await control.expect("teardown")
    for socket in client.sockets:
        await socket.close()
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)


async def _probe(client: _Client, senders: list[tuple[int, str]]) -> None:
    """Until cancelled: a probe to each of this process's rooms now and then (each is a database write)."""
    probe = 0
    while True:
        for index, room in senders:
            await client.post(index, room, f"probe:{probe}")
        probe += 1
        await asyncio.sleep(PROBE_INTERVAL * 4)


def run(run: Run, params: dict[str, Any]) -> Outcome:
    workdir = Path(tempfile.mkdtemp(prefix="channels-bench-chat-"))
    try:
        with chat_database(params["database"], workdir) as database_url:
            env = chat_environment(database_url, run.redis_url, run.backend.path)
            servers: list[Daphne] = []
            try:
                return _serve(run, params, env, workdir, servers)
            finally:  # before the database is dropped
                for server in servers:
                    server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _serve(run: Run, params: dict[str, Any], env: dict[str, str], workdir: Path, servers: list[Daphne]) -> Outcome:
    """Prepare the site, start the servers (into ``servers``, for the caller to stop), and measure."""
    site = run.spawn(f"{__name__}:prepare", {**params, "env": env}, layer=False).expect("result", run.left())
    for p in range(params["processes"]):
        servers.append(Daphne(free_port(), env, workdir / f"daphne-{p}.log", launcher=run.server_launcher("daphne")))
    for server in servers:
        server.spawn()
    for server in servers:
        server.wait_ready()
    workers = [
        run.spawn(f"{__name__}:clients", _client_params(params, site, server, p), layer=False)
        for p, server in enumerate(servers)
    ]
    expect_all(workers, "joined", run.left())
    prime(workers, workers, run.left())
    before, server_cpu = run.snapshot(), sum(server.cpu_seconds() for server in servers)
    profile_window(servers, signal.SIGUSR1)
    for worker in workers:
        worker.send("go")
    measured = expect_all(workers, "measured", run.left())
    profile_window(servers, signal.SIGUSR2)
    redis = run.snapshot() - before
    server_cpu = sum(server.cpu_seconds() for server in servers) - server_cpu
    run.finish(workers)
    return _outcome(params, measured, redis, server_cpu)


def _client_params(params: dict[str, Any], site: dict[str, Any], server: Daphne, process: int) -> dict[str, Any]:
    placed = seats(params, process)
    first = process * len(placed)
    users = [
        {
            "token": site["tokens"][first + i],
            "room": site["rooms"][seat.room],
            "sends": seat.sends,
            "active": seat.active,
        }
        for i, seat in enumerate(placed)
    ]
    return {**params, "ws_url": server.ws_url, "origin": server.url, "users": users}


def _outcome(params: dict[str, Any], measured: list[dict[str, Any]], redis: Any, server_cpu: float) -> Outcome:
    tally = merge(measured)
    deliveries, sent = tally["received"], sum(part["sent"] for part in measured)
    duration = tally["last_at"] - min(part["started"] for part in measured)
    per_1k_ms = 1e6 / deliveries if deliveries else None
    return {
        "metrics": {
            "deliveries_per_s": deliveries / duration if deliveries and duration > 0 else None,
            **percentiles_ms(tally.pop("latencies")),
            "lost": tally["lost"],
            "duplicates": tally["duplicates"],
            "errors": sum(part["errors"] + part["echo_timeouts"] for part in measured),
            "commands_per_message": redis.total_commands / sent if sent else None,
            "server_cpu_ms_per_1k": server_cpu * per_1k_ms if per_1k_ms else None,
            "redis_cpu_ms_per_1k": redis.cpu * per_1k_ms if per_1k_ms else None,
        },
        "details": {
            "params": params,
            "sent": sent,
            "received": deliveries,
            "server_cpu_s": server_cpu,
            "client_cpu_s": sum(part["cpu"] for part in measured),
            "redis": redis.as_dict(),
        },
    }


_METRICS = (
    Metric("deliveries_per_s", "deliveries/s (client side)", "higher"),
    *LATENCY,
    *DELIVERY,
    Metric("errors", "error replies + echo timeouts", "lower", ratio=False),
    Metric("commands_per_message", "Redis commands / message", "lower", 2),
    Metric("server_cpu_ms_per_1k", "daphne CPU ms / 1k deliveries", "lower", 1),
    Metric("redis_cpu_ms_per_1k", "Redis CPU ms / 1k deliveries", "lower", 2),
)
_ROOMS = {"processes": 2, "connections": 100, "rooms": 10, "per_sender": 50, "idle": 3.0}
_ROOMS_QUICK = {"processes": 2, "connections": 20, "rooms": 4, "per_sender": 10, "idle": 1.5}
# One room of 200 members over the two processes, one sender: 200 deliveries per database write.
_ONE_ROOM = {"processes": 2, "connections": 100, "rooms": 1, "per_sender": 100, "idle": 3.0}
_ONE_ROOM_QUICK = {"processes": 2, "connections": 10, "rooms": 1, "per_sender": 10, "idle": 1.5}
# ... and 1,000 more connections (500 a process) in 100 rooms where no one posts.
_IDLE = {"idle_connections": 500, "idle_rooms": 100}
_IDLE_QUICK = {"idle_connections": 20, "idle_rooms": 4}


def _variant(name: str, title: str, full: dict[str, Any], quick: dict[str, Any], database: str) -> Scenario:
    return Scenario(
        name=name,
        title=f"WebSocket end to end, {database}: chat testproject on {{processes}} daphne processes x "
        f"{{connections}} clients, {title}, each room's sender posting {{per_sender}} new_message frames closed-loop",
        run=run,
        metrics=_METRICS,
        full={**full, "database": database},
        quick={**quick, "database": database},
        profile_role="daphne",
        # The first is the suite's smoke run since issue 7; the others are for issue 16, too slow for --quick.
        smoke=name == "websocket",
    )


WEBSOCKETS = tuple(
    _variant(name + suffix, title, full, quick, database)
    for suffix, database in (("", "sqlite"), ("-pg", "postgresql"))
    for name, title, full, quick in (
        ("websocket", "{rooms} rooms", _ROOMS, _ROOMS_QUICK),
        ("websocket-room", "one room", _ONE_ROOM, _ONE_ROOM_QUICK),
        (
            "websocket-idle",
            "one room, and {idle_connections} idle clients in {idle_rooms} other rooms",
            {**_ONE_ROOM, **_IDLE},
            {**_ONE_ROOM_QUICK, **_IDLE_QUICK},
        ),
    )
)
