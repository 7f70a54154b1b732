"""Which Redis host owns a topic or key: jump consistent hash of the name's CRC-32.

Jump consistent hash (Lamping and Veach, 2014) moves only 1/n of the names when an n-th host is
appended, and needs no ring state. Every sender and receiver computes the same function on the
same name (a topic or a queue key), so a message is always published where it is subscribed.
"""

from __future__ import annotations

import zlib

__all__ = ["shard_of"]

_MASK = (1 << 64) - 1


def jump_hash(key: int, buckets: int) -> int:
    """Lamping and Veach's jump consistent hash of a 64-bit ``key`` into ``buckets`` buckets."""
    bucket, candidate = -1, 0
    while candidate < buckets:
        bucket = candidate
        key = (key * 2862933555777941757 + 1) & _MASK
        candidate = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


def shard_of(name: bytes, shards: int) -> int:
    """The index of the host, out of ``shards``, that owns ``name``."""
    if shards == 1:
        return 0
    return jump_hash(zlib.crc32(name), shards)
