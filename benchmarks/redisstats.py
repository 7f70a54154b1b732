"""Redis's own account of a run: commands, CPU, connections and memory, as deltas between snapshots.

Also, for the history benchmark: who ran each command (a client, or a script on its behalf), as
MONITOR shows it, and the memory of a run's keys, as MEMORY USAGE counts it.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

__all__ = ["CommandSources", "RedisDelta", "Snapshot", "commands_by_source", "key_memory", "snapshot"]

# Commands the runner itself sends to take snapshots; they are not the layer's.
_OWN_COMMANDS = frozenset({"info", "client|list", "flushall"})


@dataclass(frozen=True)
class Snapshot:
    taken_at: float  # monotonic
    commands: dict[str, int]
    usec: dict[str, int]  # microseconds Redis spent in each command (a script's include those it ran)
    cpu: float  # used_cpu_user + used_cpu_sys, seconds
    connections_received: int
    clients: int  # CLIENT LIST entries, the runner's own connection included
    used_memory: int
    net_input: int  # bytes Redis read from clients (total_net_input_bytes), the snapshots' own included
    net_output: int  # bytes it wrote to them

    def __sub__(self, before: Snapshot) -> RedisDelta:
        names = set(self.commands) | set(before.commands)
        commands = {name: self.commands.get(name, 0) - before.commands.get(name, 0) for name in names}
        usec = {name: self.usec.get(name, 0) - before.usec.get(name, 0) for name in names}
        return RedisDelta(
            seconds=self.taken_at - before.taken_at,
            commands={name: calls for name, calls in sorted(commands.items()) if calls},
            usec={name: spent for name, spent in sorted(usec.items()) if commands[name]},
            cpu=self.cpu - before.cpu,
            connections_opened=self.connections_received - before.connections_received,
            clients=self.clients - before.clients,
            memory=self.used_memory - before.used_memory,
            net_input=self.net_input - before.net_input,
            net_output=self.net_output - before.net_output,
        )


@dataclass(frozen=True)
class RedisDelta:
    seconds: float
    commands: dict[str, int]
    usec: dict[str, int]
    cpu: float
    connections_opened: int
    clients: int
    memory: int
    net_input: int
    net_output: int

    @property
    def total_commands(self) -> int:
        return sum(self.commands.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 4),
            "commands": self.commands,
            "total_commands": self.total_commands,
            "usec": self.usec,
            "cpu": round(self.cpu, 4),
            "connections_opened": self.connections_opened,
            "clients": self.clients,
            "memory": self.memory,
            "net_input": self.net_input,
            "net_output": self.net_output,
        }


def snapshot(client: redis.Redis) -> Snapshot:
    """One consistent-enough reading: INFO (one call) and CLIENT LIST."""
    info = client.info("all")
    stats = {
        key.removeprefix("cmdstat_"): value
        for key, value in info.items()
        if key.startswith("cmdstat_") and key.removeprefix("cmdstat_") not in _OWN_COMMANDS
    }
    return Snapshot(
        taken_at=time.monotonic(),
        commands={name: int(value["calls"]) for name, value in stats.items()},
        usec={name: int(value["usec"]) for name, value in stats.items()},
        cpu=float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
        connections_received=int(info["total_connections_received"]),
        clients=len(client.client_list()),
        used_memory=int(info["used_memory"]),
        net_input=int(info["total_net_input_bytes"]),
        net_output=int(info["total_net_output_bytes"]),
    )


@dataclass(frozen=True)
class CommandSources:
    """Commands by name: those clients sent, and those scripts ran (INFO commandstats counts both alike)."""

    clients: dict[str, int]
    scripts: dict[str, int]


def commands_by_source(connect: Callable[[], redis.Redis], during: Callable[[], None]) -> CommandSources:
    """The commands Redis ran while ``during()`` ran, split by MONITOR's view of who ran them.

    MONITOR costs Redis time for every command, so it watches a short accounting step, never a
    measured one. A marker sent after ``during()`` tells where the step ended.
    """
    marker = f"benchmark-accounting-{uuid.uuid4().hex}"
    clients: Counter[str] = Counter()
    scripts: Counter[str] = Counter()
    with connect() as watching, connect() as marking, watching.monitor() as monitor:
        during()
        marking.echo(marker)
        while marker not in (entry := monitor.next_command())["command"]:
            name = entry["command"].split(" ", 1)[0].lower()
            (scripts if entry["client_type"] == "lua" else clients)[name] += 1
    return CommandSources(dict(clients), dict(scripts))


def key_memory(client: redis.Redis, match: str) -> tuple[int, int]:
    """How many keys match ``match`` and their bytes by MEMORY USAGE, every element counted (SAMPLES 0)."""
    keys = list(client.scan_iter(match=match, count=1000))
    return len(keys), sum(int(client.memory_usage(key, samples=0) or 0) for key in keys)
