"""A separate OS process holding one FanoutChannelLayer, driven by JSON lines on stdin.

Commands: {"join": group, "count": n}, {"leave": group}, {"work": channel}, {"report": true},
{"pid": true}. Every command is answered by one JSON line on stdout. Layer options come as JSON in argv[2].
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import defaultdict
from typing import Any

from channels_fanout import FanoutChannelLayer


async def main(url: str, options: dict[str, Any]) -> None:
    layer = FanoutChannelLayer(**{"hosts": [url], **options})  # options may name other hosts (shards, a cluster)
    received: dict[str, list[Any]] = defaultdict(list)
    members: dict[str, list[str]] = defaultdict(list)
    tasks: list[asyncio.Task[None]] = []

    async def collect(channel: str) -> None:
        while True:
            received[channel].append(await layer.receive(channel))

    while line := await asyncio.to_thread(sys.stdin.readline):
        command = json.loads(line)
        reply: Any = "ok"
        if "join" in command:
            for _ in range(command["count"]):
                channel = await layer.new_channel()
                await layer.group_add(command["join"], channel)
                members[command["join"]].append(channel)
                tasks.append(asyncio.create_task(collect(channel)))
            reply = members[command["join"]]
        elif "leave" in command:
            for channel in members.pop(command["leave"]):
                await layer.group_discard(command["leave"], channel)
        elif "work" in command:
            tasks.append(asyncio.create_task(collect(command["work"])))
        elif "report" in command:
            reply = received
        elif "pid" in command:
            reply = os.getpid()
        print(json.dumps(reply), flush=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await layer.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}))
