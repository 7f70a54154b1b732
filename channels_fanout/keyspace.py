"""Key commands every kind of shard runs alike on its own client, with redis-py errors translated."""

from __future__ import annotations

from typing import Any, cast

from .exceptions import ChannelLayerUnavailable
from .supervisor import CONNECTION_ERRORS

__all__ = ["delete_matching", "pop"]

_BATCH = 500


async def pop(client: Any, key: str, timeout: float, description: str) -> bytes | None:
    """BLPOP one key for at most ``timeout`` seconds; None if nothing came."""
    try:
        reply = await client.blpop([key], timeout=timeout)
    except CONNECTION_ERRORS as exc:
        raise ChannelLayerUnavailable(f"Redis {description} is unavailable: {exc}") from exc
    return None if reply is None else cast(bytes, reply[1])


async def delete_matching(client: Any, pattern: str, description: str) -> None:
    """UNLINK every key matching ``pattern``, found with SCAN (never KEYS, which blocks Redis)."""
    try:
        keys = [key async for key in client.scan_iter(match=pattern, count=_BATCH)]
        for start in range(0, len(keys), _BATCH):
            await client.unlink(*keys[start : start + _BATCH])  # a cluster client splits it by slot
    except CONNECTION_ERRORS as exc:
        raise ChannelLayerUnavailable(f"Redis {description} is unavailable: {exc}") from exc
