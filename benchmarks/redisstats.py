"""Redis's own account of a run: commands, CPU, connections and memory, as deltas between snapshots."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

__all__ = ["RedisDelta", "Snapshot", "snapshot"]

# Commands the runner itself sends to take snapshots; they are not the layer's.
_OWN_COMMANDS = frozenset({"info", "client|list", "flushall"})


@dataclass(frozen=True)
class Snapshot:
    taken_at: float  # monotonic
    commands: dict[str, int]
    cpu: float  # used_cpu_user + used_cpu_sys, seconds
    connections_received: int
    clients: int  # CLIENT LIST entries, the runner's own connection included
    used_memory: int
    net_input: int  # bytes Redis read from clients (total_net_input_bytes), the snapshots' own included
    net_output: int  # bytes it wrote to them

    def __sub__(self, before: Snapshot) -> RedisDelta:
        names = set(self.commands) | set(before.commands)
        commands = {name: self.commands.get(name, 0) - before.commands.get(name, 0) for name in names}
        return RedisDelta(
            seconds=self.taken_at - before.taken_at,
            commands={name: calls for name, calls in sorted(commands.items()) if calls},
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
    commands = {
        key.removeprefix("cmdstat_"): int(value["calls"])
        for key, value in info.items()
        if key.startswith("cmdstat_") and key.removeprefix("cmdstat_") not in _OWN_COMMANDS
    }
    return Snapshot(
        taken_at=time.monotonic(),
        commands=commands,
        cpu=float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
        connections_received=int(info["total_connections_received"]),
        clients=len(client.client_list()),
        used_memory=int(info["used_memory"]),
        net_input=int(info["total_net_input_bytes"]),
        net_output=int(info["total_net_output_bytes"]),
    )
