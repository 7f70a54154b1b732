"""What a presence entry is in Redis and on the wire: a key and a meta, checked once, and decoded back.

An entry is the JSON text ``[key, meta]`` (ASCII: ``ensure_ascii``). The Lua scripts decode it
only to read the key, and hand the text on untouched, so a meta comes back exactly as JSON has it
(re-encoding it in Lua would turn an empty dict into a list); and texts join into one JSON array,
so a whole group, or an event's entries, decode in one C-level parse.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_KEY_BYTES", "MAX_META_BYTES", "Metas", "decode_list", "diff_message", "encode_entry"]

MAX_KEY_BYTES = 256
MAX_META_BYTES = 4096

Metas = dict[str, list[dict[str, Any]]]


def encode_entry(key: Any, meta: Any) -> bytes:
    """The stored form of (``key``, ``meta``); TypeError or ValueError naming what is wrong and the limit."""
    if not isinstance(key, str):
        raise TypeError(f"A presence key must be a str (a user id, say), not {type(key).__name__}: {key!r}")
    try:
        key_bytes = key.encode()
    except UnicodeEncodeError as exc:
        raise ValueError(f"A presence key must be valid Unicode text, not {key!r}") from exc
    if not key or len(key_bytes) > MAX_KEY_BYTES:
        raise ValueError(f"A presence key must be 1 to {MAX_KEY_BYTES} bytes as UTF-8, not {len(key_bytes)}: {key!r}")
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):
        raise TypeError(f"A presence meta must be a dict (or None), not {type(meta).__name__}: {meta!r}")
    try:
        text = json.dumps(meta, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"A presence meta must be JSON-serialisable: {exc}") from exc
    if len(text) > MAX_META_BYTES:
        raise ValueError(
            f"A presence meta is {len(text)} bytes as JSON, over {MAX_META_BYTES}; keep it small "
            "(a name, a device, a status) and look the rest up by key"
        )
    return f"[{json.dumps(key)},{text}]".encode()


def decode_list(entries: bytes) -> Metas:
    """A group's entries, joined by the script into one JSON array, as key -> metas."""
    return _by_key(json.loads(entries))


def diff_message(message_type: str, frame: list[Any]) -> dict[str, Any]:
    """The message a group's members get for a ``[PRESENCE, group, joins, leaves]`` frame, as Phoenix's presence_diff.

    ``{"type": ..., "group": ..., "joins": {key: {"metas": [...]}}, "leaves": {...}}``; ValueError
    if the frame is malformed.
    """
    _, group, joins, leaves = frame
    if not isinstance(group, str):
        raise ValueError(f"a presence frame for group {group!r}")
    return {
        "type": message_type,
        "group": group,
        "joins": {key: {"metas": metas} for key, metas in _by_key(_joined(joins)).items()},
        "leaves": {key: {"metas": metas} for key, metas in _by_key(_joined(leaves)).items()},
    }


def _joined(texts: Any) -> Any:
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise ValueError("a presence frame whose joins or leaves are not entries")
    return json.loads("[" + ",".join(texts) + "]")


def _by_key(pairs: Any) -> Metas:
    grouped: Metas = {}
    try:
        for key, meta in pairs:
            metas = grouped.get(key)
            if metas is None:
                grouped[key] = [meta]
            else:
                metas.append(meta)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"presence entries that are not [key, meta] pairs ({exc})") from exc
    return grouped
