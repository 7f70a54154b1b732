"""A Sentinel-monitored master as a hub host: every new connection asks the sentinels where the master is.

The hub reconnects after a failover as after any lost connection; asking on connect (not caching
the address) is what makes that reconnect reach the promoted replica. Each ask opens and closes its
own sentinel connections, so nothing here outlives a call or belongs to an event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, cast

from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import MasterNotFoundError, Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, ResponseError, TimeoutError

from ..config import describe_host
from .refusals import refusal

__all__ = ["MasterLocator", "master_host"]


class MasterLocator:
    """Asks the sentinels for the address of the master they agree on (not down, not demoted)."""

    def __init__(self, sentinels: Sequence[tuple[str, int]], master_name: str, sentinel_kwargs: Mapping[str, Any]):
        self.sentinels = tuple(sentinels)
        self.master_name = master_name
        self._sentinel_kwargs = dict(sentinel_kwargs)

    async def address(self) -> tuple[str, int]:
        """The master's (host, port); MasterNotFoundError (a ConnectionError) while no sentinel names one.

        As redis-py's ``discover_master``, but keeping each sentinel's error: if the sentinels
        refuse this process (credentials, TLS, ACL), that is raised, not an anonymous "no master".
        """
        sentinel = Sentinel(self.sentinels, sentinel_kwargs=self._sentinel_kwargs)
        try:
            return await self._ask(sentinel)
        finally:
            # Not `async with Sentinel(...)`: redis-py 8.0's Sentinel has no aclose(); its clients do. Shielded:
            # a connect timed out (or a layer closed) while asking must still close every sentinel's connections.
            await asyncio.shield(asyncio.gather(*(client.aclose() for client in sentinel.sentinels)))

    async def _ask(self, sentinel: Sentinel) -> tuple[str, int]:
        errors: list[tuple[str, BaseException]] = []
        for (host, port), client in zip(self.sentinels, sentinel.sentinels, strict=True):
            try:
                masters = cast(dict[str, Any], await client.sentinel_masters())  # as discover_master reads it
                state = masters.get(self.master_name)
            except (RedisConnectionError, ResponseError, TimeoutError) as exc:
                errors.append((f"Sentinel {host}:{port}", exc))
                continue
            if state and sentinel.check_master_state(state, self.master_name):
                return str(state["ip"]), int(state["port"])
        for where, error in errors:
            refused = refusal(error, where, "SENTINEL MASTERS")
            if refused is not None:
                raise refused
        reasons = "; ".join(f"{where}: {error}" for where, error in errors)
        raise MasterNotFoundError(f"No sentinel names a master {self.master_name!r}{': ' if reasons else ''}{reasons}")

    def __str__(self) -> str:
        return describe_host({"sentinels": self.sentinels, "master_name": self.master_name})


class MasterConnection(Connection):
    """A connection to whichever server the sentinels name as master when it connects."""

    def __init__(self, *, locator: MasterLocator, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.locator = locator

    async def _connect(self) -> None:
        self.host, self.port = await self.locator.address()
        await super()._connect()  # type: ignore[no-untyped-call]

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)
        except ReadOnlyError as exc:
            # A worker-queue push reached a master demoted to replica (a manual failover keeps it
            # up): drop the connection so the next one asks the sentinels again.
            await self.disconnect()
            raise RedisConnectionError(f"{self.host}:{self.port} is no longer the master of {self.locator}") from exc


class MasterSSLConnection(MasterConnection, SSLConnection):
    """MasterConnection over TLS, for hosts with ``"ssl": True``."""


def master_host(host: Mapping[str, Any], command_timeout: float) -> dict[str, Any]:
    """Hub host arguments for a normalised Sentinel entry of ``hosts``.

    The sentinels get the socket timeouts of ``command_timeout`` and no retries (each is asked once,
    the next one is the retry) unless ``sentinel_kwargs`` sets them.
    """
    kwargs = dict(host)
    sentinel_kwargs = {
        "socket_timeout": command_timeout,
        "socket_connect_timeout": command_timeout,
        "retry": Retry(NoBackoff(), 0),
        **kwargs.pop("sentinel_kwargs", {}),
    }
    locator = MasterLocator(kwargs.pop("sentinels"), kwargs.pop("master_name"), sentinel_kwargs)
    kwargs["connection_class"] = MasterSSLConnection if kwargs.pop("ssl", False) else MasterConnection
    kwargs.update(locator=locator, description=str(locator))
    return kwargs
