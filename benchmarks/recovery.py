"""Time from Redis answering again after a restart to the first group message delivered.

    python -m benchmarks.recovery [--repeats 7] [--outage 1.0]

Uses the layer's default settings (backoff capped at ``reconnect_max_delay``). Prints each
recovery time and the median.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from channels_fanout import ChannelLayerUnavailable, FanoutChannelLayer
from tests.redis_server import RedisServer


async def recover_once(
    server: RedisServer, receiver: FanoutChannelLayer, sender: FanoutChannelLayer, channel: str, outage: float
) -> float:
    server.kill()
    await asyncio.sleep(outage)
    await asyncio.to_thread(server.start)  # returns once the server answers PING
    answering = time.monotonic()
    while True:
        try:
            await sender.group_send("recovery", {"type": "probe"})
            await asyncio.wait_for(receiver.receive(channel), 0.01)
            return time.monotonic() - answering
        except (ChannelLayerUnavailable, asyncio.TimeoutError):
            continue


async def main(repeats: int, outage: float) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(Path(workdir))
        server.start()
        receiver, sender = FanoutChannelLayer(hosts=[server.url]), FanoutChannelLayer(hosts=[server.url])
        try:
            channel = await receiver.new_channel()
            await receiver.group_add("recovery", channel)
            times = []
            for attempt in range(repeats):
                took = await recover_once(server, receiver, sender, channel, outage)
                times.append(took)
                print(f"restart {attempt + 1}: delivering again {took * 1000:.0f} ms after Redis answered")
                while True:  # drain probes that arrived late
                    try:
                        await asyncio.wait_for(receiver.receive(channel), 0.05)
                    except asyncio.TimeoutError:
                        break
            median, worst = statistics.median(times) * 1000, max(times) * 1000
            print(f"median {median:.0f} ms, max {worst:.0f} ms over {repeats} restarts")
        finally:
            await receiver.close()
            await sender.close()
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--outage", type=float, default=1.0, help="seconds Redis stays down")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.repeats, arguments.outage))
