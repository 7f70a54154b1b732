"""Who is online in a room, on the channel layer's presence: what a connection tracks, what the events say.

A user is online in a room while one of their connections, in any process, is signed in and they are a
member. Each such connection's channel is tracked in the room's group under the user's id, with the username
as its meta. The layer counts a user's channels across every process, so the diff it sends to the room's group
names the user once when their first channel is tracked (online) and once when their last is untracked, or its
process is reaped after dying (offline), however many connections they have. On a layer without the presence
extension (channels_redis, which the benchmarks run the chat on) nothing is tracked and nothing is listed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Collection, Iterable, Iterator
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from . import groups
from .exceptions import LAYER_ERRORS, ServiceUnavailable

#: The entry of a BaseChannelLayer's ``extensions`` that promises presence_track, presence_untrack, presence_list.
EXTENSION = "presence"


def supported(layer: Any) -> bool:
    return EXTENSION in getattr(layer, "extensions", ())


async def track(layer: Any, channel: str, user: AbstractBaseUser, rooms: Collection[str]) -> None:
    """Make ``channel`` count ``user`` as online in each of ``rooms``: all at once, pipelined by the layer."""
    if supported(layer):
        key, meta = str(user.pk), {"username": user.get_username()}
        await _all(layer.presence_track(groups.room_group(room), channel, key, meta) for room in rooms)


async def untrack(layer: Any, channel: str, room: str) -> None:
    if supported(layer):
        await layer.presence_untrack(groups.room_group(room), channel)


async def online(layer: Any, room: str) -> list[str] | None:
    """The usernames online in ``room``, sorted; None if the layer has no presence. ServiceUnavailable in an outage."""
    if not supported(layer):
        return None
    try:
        listed = await layer.presence_list(groups.room_group(room))
    except LAYER_ERRORS as exc:
        raise ServiceUnavailable() from exc
    return sorted({meta["username"] for metas in listed.values() for meta in metas})


def changes(event: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """``(room, username, online)`` for each user a presence diff (``groups.PRESENCE_EVENT``) names."""
    room = groups.room_of(event["group"])
    if room is None:
        return
    for side, now_online in (("joins", True), ("leaves", False)):
        for entry in event[side].values():
            yield room, entry["metas"][0]["username"], now_online


async def _all(calls: Iterable[Awaitable[None]]) -> None:
    """Await the calls concurrently; raise the first failure only once none is still running (all or nothing)."""
    for result in await asyncio.gather(*calls, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result
