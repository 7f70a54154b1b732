"""Counting in windows in Django's cache, and flood control on it: ``CHAT_RATE_LIMIT = (messages, seconds)`` per user.

The cache is Redis (Django's RedisCache on the layer's Redis), so a count is one across all connections, the HTTP
API and every process. A window opens at the first event under its key and lasts ``seconds``; each event
increments the window's counter with INCR, which is atomic, so concurrent events from several processes can never
all slip under a limit. ``None`` turns flood control off. guessing.py counts failed tokens the same way.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from .exceptions import LAYER_ERRORS, ServiceUnavailable, TooFast

DEFAULT_RATE_LIMIT = (10, 10)


@dataclass(frozen=True)
class RateLimit:
    messages: int
    seconds: int


@dataclass(frozen=True)
class Count:
    """An event counted: the window's counter (``key``), its count now, and the seconds until the window ends."""

    key: str
    count: int
    retry_after: int


def configured_limit() -> RateLimit | None:
    """``CHAT_RATE_LIMIT`` (default ``(10, 10)``), validated; ImproperlyConfigured names the setting and its form."""
    value = limit_setting("CHAT_RATE_LIMIT", DEFAULT_RATE_LIMIT, "(messages, seconds)")
    return None if value is None else RateLimit(*value)


def limit_setting(name: str, default: tuple[int, int], form: str) -> tuple[int, int] | None:
    """The setting ``name``: two positive integers, or None for no limit; ImproperlyConfigured otherwise."""
    value = getattr(settings, name, default)
    if value is None:
        return None
    if not (isinstance(value, tuple | list) and len(value) == 2 and all(type(n) is int and n > 0 for n in value)):
        raise ImproperlyConfigured(
            f"{name} must be {form}, two positive integers such as {default}, or None for no limit; got {value!r}"
        )
    return value[0], value[1]


def count_post(user_id: int) -> None:
    """Count one post of the user: TooFast if it exceeds the limit (it must then not be posted)."""
    limit = configured_limit()
    if limit is None:
        return
    counted = count(f"chat:rate:{user_id}", limit.seconds)
    if counted is not None and counted.count > limit.messages:
        raise TooFast(limit.messages, limit.seconds, counted.retry_after)


def count(key: str, seconds: int) -> Count | None:
    """Count one event in the window of ``key``; None if the window ended meanwhile (a stalled process).

    ServiceUnavailable if the cache cannot reach Redis.
    """
    now = time.time()
    try:
        # Whoever counts first sets the window's start; racing processes all read that one value back.
        started = cache.get_or_set(key, now, timeout=seconds)
        # Named after its window, so a counter that outlives it is never counted on again: INCR on a key that
        # expires that very instant makes a new one without a TTL.
        counter = f"{key}:{started!r}"
        cache.add(counter, 0, timeout=seconds + 1)
        total = cache.incr(counter)
    except ValueError:  # the counter expired between add and incr: a stalled process, its window is over
        return None
    except LAYER_ERRORS as exc:
        raise ServiceUnavailable() from exc
    return Count(counter, total, max(1, math.ceil(started + seconds - now)))


def uncount(counted: Count) -> None:
    """Take back an event counted in a window that may have ended since (then there is nothing to take back)."""
    try:
        cache.decr(counted.key)
    except ValueError:
        pass
    except LAYER_ERRORS as exc:
        raise ServiceUnavailable() from exc
