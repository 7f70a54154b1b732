"""Slowing down token guessing across processes: failed tokens per client address, counted in Django's cache.

At most ``CHAT_TOKEN_FAILURE_LIMIT = (failures, seconds)`` (default ``(20, 60)``; ``None`` turns it off) wrong
tokens per address in a window (ratelimit.py); beyond it, no token from that address is checked, a right one
neither, until the window ends. Each connection also closes after 5 failures of its own (the consumer).

The address is the host of the ASGI scope's ``client``: daphne's TCP peer, or with ``daphne --proxy-headers`` the
X-Forwarded-For address, which only a proxy that sets it itself should be trusted with.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from . import ratelimit
from .exceptions import TooManyFailures

DEFAULT_FAILURE_LIMIT = (20, 60)
# No client in the scope (a Unix socket, a test's ASGI communicator): all such clients count as one.
UNKNOWN_ADDRESS = "unknown"


@dataclass(frozen=True)
class FailureLimit:
    failures: int
    seconds: int


def configured_limit() -> FailureLimit | None:
    """``CHAT_TOKEN_FAILURE_LIMIT``, validated; ImproperlyConfigured names the setting and its form."""
    value = ratelimit.limit_setting("CHAT_TOKEN_FAILURE_LIMIT", DEFAULT_FAILURE_LIMIT, "(failures, seconds)")
    return None if value is None else FailureLimit(*value)


def client_address(host: str | None) -> str:
    """What counts as one client: the IP address, an IPv6 one by its /64 network (what one subscriber holds)."""
    if not host:
        return UNKNOWN_ADDRESS
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # not an IP address: a Unix socket's path, or a proxy header's text
        return host[:100]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # an IPv4 client of a dual-stack socket
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def attempt(address: str) -> ratelimit.Count | None:
    """Count an attempt from ``address`` before its token is checked; TooManyFailures beyond the limit.

    Counted first, and taken back by ``succeeded`` if the token is right: then attempts racing on many
    connections and processes can never check more wrong tokens than the limit. A refused attempt checked no
    token and is taken back too, so the count is the failures (and the attempts being checked): right tokens
    refused in a burst do not keep the address locked out.
    """
    limit = configured_limit()
    if limit is None:
        return None
    counted = ratelimit.count(f"chat:token-failures:{address}", limit.seconds)
    if counted is not None and counted.count > limit.failures:
        ratelimit.uncount(counted)
        raise TooManyFailures(limit.failures, limit.seconds, counted.retry_after)
    return counted


def succeeded(counted: ratelimit.Count | None) -> None:
    if counted is not None:
        ratelimit.uncount(counted)
