"""Scenario 7: the chat testproject end to end, on P daphne processes, through real WebSocket clients.

Each daphne gets N client connections (one user each) from a client process of its own. User
``i`` of a process is in room ``i % R``; room ``r``'s sender is user ``r`` of process ``r % P``.
A sender posts ``new_message`` frames closed-loop: the next one when its own broadcast came back
(or after 5 s), so the load is what the whole path sustains: WebSocket, consumer, SQLite write,
``group_send``, every member's connection in every process. The layer is switched by settings
(``benchmarks.chat_settings``); the message's ``uuid`` carries its sequence number and send time.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.redis_server import free_port
from tests.testproject.site import Daphne

from ..chatsite import chat_environment
from ..harness import Run
from ..measure import Tally, cpu_seconds, merge, percentiles_ms
from ..payload import MESSAGE, PROBE
from ..priming import PROBE_INTERVAL, prime
from ..processes import Control, expect_all
from .base import Metric, Outcome, Scenario

__all__ = ["WEBSOCKET", "clients", "prepare"]

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
    count, rooms = params["processes"] * params["connections"], params["rooms"]
    users = user_model.objects.bulk_create([user_model(username=f"bench-{u}") for u in range(count)])
    keys = [tokens.new_token() for _ in users]
    records = [ApiToken(user=user) for user in users]
    for record, key in zip(records, keys, strict=True):
        record.set_token(key)
    ApiToken.objects.bulk_create(records)
    chat_rooms = ChatRoom.objects.bulk_create([ChatRoom(title=f"Room {r}") for r in range(rooms)])
    # Through the join table: no membership signals (no one is connected yet).
    ChatRoom.members.through.objects.bulk_create(
        ChatRoom.members.through(chatroom_id=chat_rooms[(u % params["connections"]) % rooms].pk, user_id=user.pk)
        for u, user in enumerate(users)
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

    async def open(self, token: str) -> None:
        socket = await connect(self.params["ws_url"], origin=self.params["origin"], open_timeout=10)
        await socket.send(json.dumps({"uuid": "auth", "action": "authenticate", "token": token}))
        reply = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if reply.get("status") != "success":
            raise RuntimeError(f"authentication failed: {reply}")
        self.sockets.append(socket)
        self.tally.add_channel(expected=self.params["per_sender"])

    async def read(self, index: int) -> None:
        async for frame in self.sockets[index]:
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
        await client.open(user["token"])
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
    env = chat_environment(workdir, run.redis_url, run.backend.path)
    servers: list[Daphne] = []
    try:
        site = run.spawn(f"{__name__}:prepare", {**params, "env": env}, layer=False).expect("result", run.left())
        servers = [Daphne(free_port(), env, workdir / f"daphne-{p}.log") for p in range(params["processes"])]
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
        for worker in workers:
            worker.send("go")
        measured = expect_all(workers, "measured", run.left())
        redis = run.snapshot() - before
        server_cpu = sum(server.cpu_seconds() for server in servers) - server_cpu
        run.finish(workers)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return _outcome(params, measured, redis, server_cpu)


def _client_params(params: dict[str, Any], site: dict[str, Any], server: Daphne, process: int) -> dict[str, Any]:
    connections, rooms = params["connections"], params["rooms"]
    users = [
        {
            "token": site["tokens"][process * connections + i],
            "room": site["rooms"][i % rooms],
            "sends": i < rooms and i % params["processes"] == process,
        }
        for i in range(connections)
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


WEBSOCKET = Scenario(
    name="websocket",
    title="WebSocket end to end: chat testproject on {processes} daphne processes x {connections} clients, "
    "{rooms} rooms, each room's sender posting {per_sender} new_message frames closed-loop",
    run=run,
    metrics=(
        Metric("deliveries_per_s", "deliveries/s (client side)", "higher"),
        Metric("p50_ms", "latency p50 (ms)", "lower", 1),
        Metric("p99_ms", "latency p99 (ms)", "lower", 1),
        Metric("max_ms", "latency max (ms)", "lower", 1),
        Metric("lost", "lost", "lower", ratio=False),
        Metric("duplicates", "duplicates", "lower", ratio=False),
        Metric("errors", "error replies + echo timeouts", "lower", ratio=False),
        Metric("commands_per_message", "Redis commands / message", "lower", 2),
        Metric("server_cpu_ms_per_1k", "daphne CPU ms / 1k deliveries", "lower", 1),
        Metric("redis_cpu_ms_per_1k", "Redis CPU ms / 1k deliveries", "lower", 2),
    ),
    full={"processes": 2, "connections": 100, "rooms": 10, "per_sender": 50, "idle": 3.0},
    quick={"processes": 2, "connections": 20, "rooms": 4, "per_sender": 10, "idle": 1.5},
    profile_role="clients",
)
