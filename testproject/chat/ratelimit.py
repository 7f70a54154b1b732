"""Flood control: at most ``CHAT_RATE_LIMIT = (messages, seconds)`` posts per user, counted in Django's cache.

The cache is Redis (Django's RedisCache on the layer's Redis), so the count is one per user across all of their
connections, the HTTP API and every process. A window opens at the user's first message and lasts ``seconds``;
each post increments its counter with INCR, which is atomic, so concurrent posts from several processes can never
all slip under the limit. ``None`` turns flood control off.
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


def configured_limit() -> RateLimit | None:
    """``CHAT_RATE_LIMIT`` (default ``(10, 10)``), validated; ImproperlyConfigured names the setting and its form."""
    value = getattr(settings, "CHAT_RATE_LIMIT", DEFAULT_RATE_LIMIT)
    if value is None:
        return None
    if not (isinstance(value, tuple | list) and len(value) == 2 and all(type(n) is int and n > 0 for n in value)):
        raise ImproperlyConfigured(
            "CHAT_RATE_LIMIT must be (messages, seconds), two positive integers such as (10, 10), "
            f"or None for no limit; got {value!r}"
        )
    return RateLimit(*value)


def count_post(user_id: int) -> None:
    """Count one post of the user: TooFast if it exceeds the limit (it must then not be posted)."""
    limit = configured_limit()
    if limit is None:
        return
    key = f"chat:rate:{user_id}"
    now = time.time()
    try:
        # Whoever posts first sets the window's start; racing processes all read that one value back.
        started = cache.get_or_set(key, now, timeout=limit.seconds)
        # Named after its window, so a counter that outlives it is never counted on again: INCR on a key that
        # expires that very instant makes a new one without a TTL.
        counter = f"{key}:{started!r}"
        cache.add(counter, 0, timeout=limit.seconds + 1)
        count = cache.incr(counter)
    except ValueError:  # the counter expired between add and incr: a stalled process, its window is over
        return
    except LAYER_ERRORS as exc:
        raise ServiceUnavailable() from exc
    if count > limit.messages:
        raise TooFast(limit.messages, limit.seconds, retry_after=max(1, math.ceil(started + limit.seconds - now)))
