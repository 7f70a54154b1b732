"""The frames that travel on topics and in worker queues, packed with msgpack around the message body.

    [MESSAGE, channel, expires_at, body]   a message for one channel (process inbox topic, worker queue)
    [GROUP, expires_at, body]              a message for every local member (group topic)
    [JOIN, group, channel]                 group_add of a channel owned by the receiving process
    [LEAVE, group, channel]                group_discard, likewise
    [FLUSH, sender_client_id]              drop all inboxes and memberships (control topic)
    [HISTORY, expires_at, body, epoch, id] a message for every local member of a group with history,
                                           at its position (epoch, stream entry id) in the group's stream
    [PRESENCE, group, joins, leaves]       keys that joined or left the group's presence (group topic),
                                           built by a Lua script: lists of entries, JSON [key, meta]

A HISTORY frame is made in two parts: the sender packs its head (array header and the first three
fields, ``history_head``), which the group's stream stores as is, and the Redis script that adds it to
the stream appends the position (``with_position``), since only Redis knows the entry id.

``expires_at`` is wall-clock time (seconds since the epoch): a message is never delivered after it.
"""

from __future__ import annotations

from typing import Any

import msgpack

__all__ = [
    "FLUSH", "GROUP", "HISTORY", "JOIN", "LEAVE", "MESSAGE", "PRESENCE",
    "history_head", "pack", "unpack", "with_position",
]  # fmt: skip

MESSAGE, GROUP, JOIN, LEAVE, FLUSH, HISTORY, PRESENCE = 1, 2, 3, 4, 5, 6, 7
_ARITY = {MESSAGE: 4, GROUP: 3, JOIN: 3, LEAVE: 3, FLUSH: 2, HISTORY: 5, PRESENCE: 4}
_HISTORY_HEADER = b"\x95"  # a msgpack array of five elements


def pack(*fields: Any) -> bytes:
    return msgpack.packb(fields, use_bin_type=True)  # type: ignore[no-any-return]


def history_head(expires_at: float, body: bytes) -> bytes:
    """The first three fields of a HISTORY frame, under the header of all five."""
    return _HISTORY_HEADER + msgpack.packb((HISTORY, expires_at, body), use_bin_type=True)[1:]  # type: ignore[no-any-return]


def with_position(head: bytes, epoch: str, entry_id: str) -> bytes:
    """A whole HISTORY frame from its head and its position (as the Redis script completes it)."""
    return head + msgpack.packb(epoch) + msgpack.packb(entry_id)  # type: ignore[no-any-return]


def unpack(data: bytes) -> list[Any]:
    """Parse a frame; anything that is not one of ours raises ValueError."""
    try:
        frame = msgpack.unpackb(data, raw=False, use_list=True)
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        raise ValueError(f"not a channels_fanout frame ({type(exc).__name__})") from exc
    if not isinstance(frame, list) or not frame or type(frame[0]) is not int or _ARITY.get(frame[0]) != len(frame):
        raise ValueError("not a channels_fanout frame (unknown shape)")
    return frame
