"""The layer under a real daphne process: one subscriber connection, and a clean close on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from channels_fanout import FanoutChannelLayer
from tests.helpers import eventually, numsub, pubsub_clients
from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def daphne(redis_url, tmp_path):
    port = free_port()
    log = (tmp_path / "daphne.log").open("w+")
    process = subprocess.Popen(
        [
            sys.executable,
            "-X",
            "dev",
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "tests.daphne_app:application",
        ],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": redis_url, "PYTHONPATH": str(ROOT)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield port, process, log
    if process.poll() is None:
        process.kill()
        process.wait(10)
    log.close()


async def test_websockets_share_one_subscriber_and_sigterm_closes_the_layer(daphne, redis_server):
    port, process, log = daphne

    async def connected():
        try:
            return await connect(f"ws://127.0.0.1:{port}/")
        except OSError:
            return None

    sockets = [await _retry(connected) for _ in range(5)]
    with redis_server.client() as client:
        await eventually(lambda: numsub(client, "asgi:group:{g}") == 1)
        assert len(pubsub_clients(client)) == 1
        sender = FanoutChannelLayer(hosts=[redis_server.url])
        await sender.group_send("g", {"type": "m", "text": "to everyone"})
        assert [await asyncio.wait_for(ws.recv(), 3) for ws in sockets] == ["to everyone"] * 5
        await sender.close()

        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 15) == 0
        await eventually(lambda: not pubsub_clients(client))
    for ws in sockets:
        await ws.close()
    log.seek(0)
    output = log.read()
    assert "Closed the channel layer's tasks and connections" in output, output
    for problem in ("ResourceWarning", "Task was destroyed", "Unclosed", "Traceback"):
        assert problem not in output, output


async def _retry(attempt, timeout=15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while (result := await attempt()) is None:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("daphne did not accept a connection in time")
        await asyncio.sleep(0.1)
    return result
