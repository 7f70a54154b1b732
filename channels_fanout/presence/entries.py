"""What a presence entry is in Redis and on the wire: a key and a meta, checked once, and decoded back.

An entry is stored as msgpack ``[key, meta]`` with the meta as JSON text: the Lua scripts read the
key and pass the meta on untouched (cmsgpack would turn an empty dict into a list and 1.0 into 1),
and everything they pack stays valid UTF-8, which msgpack's str type requires.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import msgpack

__all__ = ["MAX_KEY_BYTES", "MAX_META_BYTES", "decode_list", "diff_message", "encode_entry"]

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
    return msgpack.packb([key, text], use_bin_type=True)  # type: ignore[no-any-return]


def decode_list(flat: Sequence[bytes]) -> Metas:
    """HGETALL of a group's entries (channel, entry, ...) as key -> metas, keys sorted."""
    metas: Metas = {}
    for entry in flat[1::2]:
        key, text = msgpack.unpackb(entry, raw=False)
        metas.setdefault(key, []).append(json.loads(text))
    return dict(sorted(metas.items()))


def diff_message(message_type: str, frame: list[Any]) -> dict[str, Any]:
    """The message a group's members get for a ``[PRESENCE, group, joins, leaves]`` frame, as Phoenix's presence_diff.

    ``{"type": ..., "group": ..., "joins": {key: {"metas": [...]}}, "leaves": {...}}``; ValueError
    if the frame is malformed.
    """
    _, group, joins, leaves = frame
    if not isinstance(group, str):
        raise ValueError(f"a presence frame for group {group!r}")
    return {"type": message_type, "group": group, "joins": _by_key(joins), "leaves": _by_key(leaves)}


def _by_key(flat: Any) -> dict[str, dict[str, list[Any]]]:
    if not isinstance(flat, list) or len(flat) % 2:
        raise ValueError("a presence frame whose joins or leaves are not key, meta pairs")
    grouped: dict[str, dict[str, list[Any]]] = {}
    for key, text in zip(flat[::2], flat[1::2], strict=True):
        if not isinstance(key, str) or not isinstance(text, str):
            raise ValueError("a presence frame whose keys or metas are not text")
        grouped.setdefault(key, {"metas": []})["metas"].append(json.loads(text))
    return grouped
