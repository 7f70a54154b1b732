"""Who sits where in the WebSocket benchmark: each connection's room, and which connections send.

Each daphne process gets ``connections`` active connections, then ``idle_connections`` more. Active
connection ``i`` of a process is in room ``i % rooms``; room ``r``'s sender is active connection
``r`` of process ``r % processes``. Idle connections are in rooms of their own (``idle_rooms`` of
them, after the active ones) where no one posts: they cost the layer memberships, not deliveries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Seat", "room_count", "seats"]


@dataclass(frozen=True)
class Seat:
    """One connection of one process: its room (an index), whether it sends, whether it counts deliveries."""

    room: int
    sends: bool
    active: bool


def room_count(params: dict[str, Any]) -> int:
    return int(params["rooms"] + params.get("idle_rooms", 0))


def seats(params: dict[str, Any], process: int) -> list[Seat]:
    """The connections of ``process``, active ones first, in the order of its users."""
    active, rooms = params["connections"], params["rooms"]
    idle, idle_rooms = params.get("idle_connections", 0), params.get("idle_rooms", 0)
    if idle and not idle_rooms:
        raise ValueError(f"idle_connections={idle} needs idle_rooms of their own, not {idle_rooms!r}")
    placed = [
        Seat(i % rooms, sends=i < rooms and i % params["processes"] == process, active=True) for i in range(active)
    ]
    placed += [Seat(rooms + j % idle_rooms, sends=False, active=False) for j in range(idle)]
    return placed
