"""System checks of the CHANNEL_LAYERS entries that use this backend.

An option ``LayerConfig`` rejects is an error (the layer would fail on first use), reported with
its own message. An unreachable Redis is a warning, checked only by ``check --deploy``: it opens a
connection, and every ``runserver`` and ``migrate`` runs the plain checks.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.core.checks import CheckMessage, Error, Warning

from ..config import LayerConfig
from .aliases import fanout_aliases, fanout_entry
from .ping import ping

__all__ = ["PROBE_TIMEOUT", "check_options", "check_redis"]

#: Seconds the deploy check waits for each Redis host.
PROBE_TIMEOUT = 2.0


def check_options(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """channels_fanout.E001: CONFIG is not a dict. E002: an option is invalid, unknown, or channels_redis-only."""
    messages: list[CheckMessage] = []
    for alias, entry in fanout_aliases().items():
        where = f"CHANNEL_LAYERS[{alias!r}]['CONFIG']"
        config = entry.get("CONFIG", {})
        if not isinstance(config, Mapping):
            messages.append(Error(
                f"{where} must be a dict of options, not {type(config).__name__}",
                hint=f"Write {where} = {{'hosts': ['redis://127.0.0.1:6379/0']}}, with the options you need.",
                id="channels_fanout.E001",
            ))
            continue
        try:
            LayerConfig.from_options(config)
        except (TypeError, ValueError) as exc:
            messages.append(Error(f"{where}: {exc}", hint=_hint(str(exc), where), id="channels_fanout.E002"))
    return messages


def check_redis(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """channels_fanout.W001: a Redis host of a valid entry gave no round trip within ``PROBE_TIMEOUT``."""
    aliases = [alias for alias, entry in fanout_aliases().items() if _valid(entry.get("CONFIG", {}))]
    if not aliases:
        return []
    # A thread of its own: the check may run where an event loop is already running.
    with ThreadPoolExecutor(1, thread_name_prefix="channels_fanout check") as executor:
        return executor.submit(asyncio.run, _probe_all(aliases)).result()


async def _probe_all(aliases: list[str]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for alias in aliases:
        backend, config = fanout_entry(alias)
        pongs = await ping(config, PROBE_TIMEOUT, backend)
        messages.extend(
            Warning(
                f"CHANNEL_LAYERS[{alias!r}]: Redis at {pong.shard} is unreachable ({pong.error})",
                hint="Start Redis or correct 'hosts'; until then send() raises ChannelLayerUnavailable and consumers "
                "receive nothing. 'manage.py fanout_ping --layer ALIAS' retries with the same round trip.",
                id="channels_fanout.W001",
            )
            for pong in pongs
            if pong.seconds is None
        )
    return messages


def _valid(config: Any) -> bool:
    try:
        LayerConfig.from_options(config)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def _hint(message: str, where: str) -> str:
    named = re.search(r"option '([^']+)'", message)
    option = f"{named.group(1)!r} in {where}" if named else where
    if "not supported by channels_fanout" in message:
        return f"Remove {option}; docs/operations.md maps every channels_redis option to what it becomes here."
    if "Unknown CONFIG option" in message:
        return f"Check the spelling of {option}; the README lists every option under 'Options'."
    return f"Correct {option}; the README documents each option and its default under 'Options'."
