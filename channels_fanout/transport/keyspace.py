"""Key commands every kind of shard runs alike on its own client, with redis-py errors translated."""

from __future__ import annotations

from typing import Any, Protocol, cast

from ..exceptions import ChannelLayerUnavailable
from .refusals import refusal, where
from .scripts import Script
from .supervised import CONNECTION_ERRORS

__all__ = ["PUSH", "delete_matching", "pop", "push", "unavailable"]

_BATCH = 500

#: Capacity check and push in one atomic step; the list lives as long as its newest item may.
PUSH = Script("""
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
""")


class _Executor(Protocol):
    async def execute(self, *args: Any) -> Any: ...


async def push(publisher: _Executor, key: str, item: bytes, capacity: int, ttl: float) -> bool:
    """RPUSH ``item`` unless the list holds ``capacity`` items; the list expires ``ttl`` seconds after. One command."""
    return bool(await PUSH.run(publisher, (key,), (item, capacity, int(ttl * 1000))))


async def pop(client: Any, key: str, timeout: float, description: str) -> bytes | None:
    """BLPOP one key for at most ``timeout`` seconds; None if nothing came."""
    try:
        reply = await client.blpop([key], timeout=timeout)
    except CONNECTION_ERRORS as exc:
        raise unavailable(exc, description, f"BLPOP {key!r}", key) from exc
    return None if reply is None else cast(bytes, reply[1])


async def delete_matching(client: Any, pattern: str, description: str) -> None:
    """UNLINK every key matching ``pattern``, found with SCAN (never KEYS, which blocks Redis)."""
    attempt, target = f"SCAN MATCH {pattern!r}", pattern
    try:
        keys = [key async for key in client.scan_iter(match=pattern, count=_BATCH)]
        for start in range(0, len(keys), _BATCH):
            attempt, target = f"UNLINK {keys[start]!r}...", keys[start]
            await client.unlink(*keys[start : start + _BATCH])  # a cluster client splits it by slot
    except CONNECTION_ERRORS as exc:
        raise unavailable(exc, description, attempt, target) from exc


def unavailable(exc: BaseException, description: str, attempt: str, target: Any = None) -> ChannelLayerUnavailable:
    """A redis-py error of a client command as the layer raises it: refused (ACL, credentials, TLS) or unavailable."""
    shard = where(description)
    return refusal(exc, shard, attempt, target) or ChannelLayerUnavailable(f"{shard} is unavailable: {exc}")
