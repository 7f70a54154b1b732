"""A separate OS process holding one FanoutChannelLayer, driven by JSON lines on stdin; ``LayerProcess`` drives it.

Commands: {"join": group, "count": n}, {"leave": group}, {"work": channel}, {"report": true},
{"tally": n}, {"pid": true}; presence: {"track": group, "key": key, "meta": {...}, "count": n} (new
channels that join the group and are tracked), {"untrack": group, "channel": channel}, {"list": group},
{"stats": true}. Every command is answered by one JSON line on stdout. Layer options come as JSON in
argv[2]. ``tally`` checks what each group's members received against messages ``{"n": 0 .. n-1}`` sent
in order, without shipping every message back.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
from collections import defaultdict
from typing import Any

from channels_fanout import FanoutChannelLayer, signals


class LayerProcess:
    """A tests/layer_process.py child; ``ask`` sends one command and reads its reply."""

    def __init__(self, url: str, **options: Any) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.layer_process", url, json.dumps(options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, **command: Any) -> Any:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"layer process exited with {self.process.wait(5)}")
        return json.loads(line)

    def stop(self) -> None:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.close()
        try:
            self.process.wait(10)
        finally:
            self.process.stdout.close()
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(5)



async def main(url: str, options: dict[str, Any]) -> None:
    layer = FanoutChannelLayer(**{"hosts": [url], **options})  # options may name other hosts (shards, a cluster)
    received: dict[str, list[Any]] = defaultdict(list)
    members: dict[str, list[str]] = defaultdict(list)
    tasks: list[asyncio.Task[None]] = []
    gaps: list[dict[str, list[str]]] = []
    signals.gap.connect(lambda groups, **_: gaps.append(groups), sender=layer, weak=False)

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
        elif "track" in command:
            reply = []
            for _ in range(command.get("count", 1)):
                channel = await layer.new_channel()
                await layer.group_add(command["track"], channel)
                await layer.presence_track(command["track"], channel, command["key"], command.get("meta"))
                tasks.append(asyncio.create_task(collect(channel)))
                reply.append(channel)
        elif "untrack" in command:
            await layer.presence_untrack(command["untrack"], command["channel"])
        elif "list" in command:
            reply = await layer.presence_list(command["list"])
        elif "stats" in command:
            reply = layer.stats()
        elif "work" in command:
            tasks.append(asyncio.create_task(collect(command["work"])))
        elif "report" in command:
            reply = received
        elif "tally" in command:
            stats = layer.stats()
            subscribed = all(shard["subscribed"] for shard in stats["shards"].values())
            reply = {**tally(received, members, command["tally"], gaps), "history": stats["history"]}
            reply["subscribed"] = subscribed
        elif "pid" in command:
            reply = os.getpid()
        print(json.dumps(reply), flush=True)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await layer.close()


def tally(
    received: dict[str, list[Any]], members: dict[str, list[str]], sent: int, gaps: list[dict[str, list[str]]]
) -> dict[str, Any]:
    """Per group: members that got exactly messages 0..sent-1 in order, duplicates, reorderings; and the gaps."""
    groups = {}
    for group, channels in members.items():
        complete = duplicates = out_of_order = total = 0
        for channel in channels:
            numbers = [message["n"] for message in received[channel] if "n" in message]
            total += len(numbers)
            complete += numbers == list(range(sent))
            duplicates += len(numbers) - len(set(numbers))
            out_of_order += sum(1 for a, b in itertools.pairwise(numbers) if b < a)
        groups[group] = {
            "channels": len(channels), "complete": complete, "received": total,
            "duplicates": duplicates, "out_of_order": out_of_order,
            "missing": _missing(received[channels[0]], sent) if channels else [],
        }
    gap_messages = [message for messages in received.values() for message in messages if "outage" in message]
    return {
        "groups": groups,
        "gap_messages": len(gap_messages),
        "gap_message_groups": sorted({group for message in gap_messages for group in message.get("groups", [])}),
        "gap_signals": len(gaps),
        "gap_signal_groups": sorted({group for report in gaps for groups in report.values() for group in groups}),
    }


def _missing(messages: list[Any], sent: int) -> list[tuple[int, int]]:
    """The runs of numbers 0..sent-1 one channel did not get, as (first, last): what a failure shows."""
    got = {message["n"] for message in messages if "n" in message}
    runs: list[tuple[int, int]] = []
    for n in range(sent):
        if n not in got:
            runs.append((runs.pop()[0], n) if runs and runs[-1][1] == n - 1 else (n, n))
    return runs[:10]


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}))
