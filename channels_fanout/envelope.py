"""The frames that travel on topics and in worker queues, packed with msgpack around the message body.

    [MESSAGE, channel, expires_at, body]   a message for one channel (process inbox topic, worker queue)
    [GROUP, expires_at, body]              a message for every local member (group topic)
    [JOIN, group, channel]                 group_add of a channel owned by the receiving process
    [LEAVE, group, channel]                group_discard, likewise
    [FLUSH, sender_client_id]              drop all inboxes and memberships (control topic)
    [PRESENCE, group, joins, leaves]       keys that joined or left the group's presence (group topic),
                                           built by a Lua script: lists of entries, JSON [key, meta]

``expires_at`` is wall-clock time (seconds since the epoch): a message is never delivered after it.
"""

from __future__ import annotations

from typing import Any

import msgpack

__all__ = ["FLUSH", "GROUP", "JOIN", "LEAVE", "MESSAGE", "PRESENCE", "pack", "unpack"]

MESSAGE, GROUP, JOIN, LEAVE, FLUSH = 1, 2, 3, 4, 5
PRESENCE = 6
_ARITY = {MESSAGE: 4, GROUP: 3, JOIN: 3, LEAVE: 3, FLUSH: 2, PRESENCE: 4}


def pack(*fields: Any) -> bytes:
    return msgpack.packb(fields, use_bin_type=True)  # type: ignore[no-any-return]


def unpack(data: bytes) -> list[Any]:
    """Parse a frame; anything that is not one of ours raises ValueError."""
    try:
        frame = msgpack.unpackb(data, raw=False, use_list=True)
    except Exception as exc:  # msgpack raises several unrelated types for garbage
        raise ValueError(f"not a channels_fanout frame ({type(exc).__name__})") from exc
    if not isinstance(frame, list) or not frame or type(frame[0]) is not int or _ARITY.get(frame[0]) != len(frame):
        raise ValueError("not a channels_fanout frame (unknown shape)")
    return frame
