"""Redis refusing this process (ACL, credentials, TLS), told apart from an outage and explained.

An outage passes; a refusal is a configuration problem that retrying at reconnection pace only
repeats (and logs) forever. So every redis-py error that crosses the transport boundary is first
offered to ``refusal``: if it is one, the caller gets ``ChannelLayerRefused`` naming what was
refused and the fix, and the subscriber connections back off slowly (``SupervisedConnection``).
"""

from __future__ import annotations

import copy
import logging
import re
import ssl
import time
from collections.abc import Iterator
from typing import Any, TypeVar

from redis.exceptions import AuthenticationError, AuthenticationWrongNumberOfArgsError, NoPermissionError, ResponseError

from ..exceptions import ChannelLayerRefused, ChannelLayerUnavailable

__all__ = ["REFUSAL_LOG_INTERVAL", "RefusalLog", "again", "describe_command", "refused_command", "refusal", "where"]

E = TypeVar("E", bound=ChannelLayerUnavailable)

# Redis 7.0 says "this user has no permissions to run the 'ping' command" and "... to access one of
# the channels used as arguments"; Redis 7.2 "User u has no permissions to run the 'ping' command"
# and "No permissions to access a channel". A command refused inside a Lua script is an ERR.
_COMMAND = re.compile(r"run the '([^']+)' command")
_SCRIPT = "can't run this command"
# TLS failures that transport trouble (a server restarting mid-handshake) also causes: outages.
_TRANSIENT_SSL = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError, ssl.SSLWantReadError)
_RULE = "see the ACL rule in the README's Security section"
#: The same refusal is logged again after this many seconds, with the count of attempts refused meanwhile.
REFUSAL_LOG_INTERVAL = 300.0


def refusal(exc: BaseException, server: str, attempt: str, target: Any = None) -> ChannelLayerRefused | None:
    """``exc`` as a refusal of ``attempt`` (say "PUBLISH 'asgi:x'") by ``server``, or None if it is not one.

    ``target`` (a topic or key) names the missing channel or key pattern: its prefix, up to the first ':'.
    The causes are searched too: the cluster client wraps what the node said in RedisClusterException.
    """
    for cause in _causes(exc):
        if isinstance(cause, ChannelLayerRefused):
            return again(cause)  # explained already, where more was known (which sentinel refused)
        if isinstance(cause, NoPermissionError) or (isinstance(cause, ResponseError) and _SCRIPT in str(cause)):
            permission = _missing_permission(str(cause), target)
            fix = f"the ACL user needs {permission} ({_RULE})" if permission else _RULE
            return _made(f"{server} refused {attempt}: {_text(cause)}; {fix}", "permission", permission, exc)
        if isinstance(cause, (AuthenticationError, AuthenticationWrongNumberOfArgsError)):
            if cause.status_code == "NOAUTH":
                fix = "Redis requires a user and password: give them in 'hosts' (username, password, or in the URL)"
            else:
                fix = "correct the username and password in 'hosts', or enable the user in Redis"
            message = f"{server} refused the credentials of this process ({_text(cause)}): {fix}"
            return _made(message, "credentials", None, exc)
        if isinstance(cause, ssl.SSLError) and not isinstance(cause, _TRANSIENT_SSL):
            return _made(f"TLS with {server} failed: {_tls_problem(cause)}", "tls", None, exc)
    return None


class RefusalLog:
    """Logs a refusal once, not once per attempt: again only when it changes, or every ``REFUSAL_LOG_INTERVAL``.

    Refusals of the same permission (``&asgi:*`` for one topic, then another) count as the same.
    """

    def __init__(self, logger: logging.Logger, retry_delay: float) -> None:
        self._logger = logger
        self._retry_delay = retry_delay
        self._logged: tuple[str, float] | None = None  # (what was refused, when) of the last line
        self._unlogged = 0  # refused attempts since then

    def refused(self, refusal: ChannelLayerRefused) -> None:
        self._unlogged += 1
        now, what = time.monotonic(), f"{refusal.reason}: {refusal.permission or refusal}"
        if self._logged is None or self._logged[0] != what or now - self._logged[1] >= REFUSAL_LOG_INTERVAL:
            self._logger.error(
                "%s. Trying again every %gs (%d refused attempts since the last report)",
                refusal, self._retry_delay, self._unlogged,
            )  # fmt: skip
            self._logged, self._unlogged = (what, now), 0

    def accepted(self, server: str) -> None:
        """The refusal is over: say so if one was logged."""
        if self._logged is not None:
            self._logger.warning("%s accepts this process again", server)
        self._logged, self._unlogged = None, 0


def again(error: E) -> E:
    """A copy of ``error`` to raise for one more caller: a shared instance would collect every caller's traceback."""
    fresh = copy.copy(error)
    fresh.__cause__ = error.__cause__
    return fresh


def where(description: str) -> str:
    """How messages name a shard: "Redis at redis://host:6379/0", "Redis cluster at host:7000", "Redis master ..."."""
    return f"Redis {description}" if description.startswith(("cluster ", "master ")) else f"Redis at {description}"


def refused_command(exc: BaseException) -> str | None:
    """The command a NOPERM reply says was refused ("ping"), or None if it names none (a channel or key was)."""
    named = _COMMAND.search(str(exc)) if isinstance(exc, NoPermissionError) else None
    return named.group(1) if named else None


def describe_command(args: tuple[Any, ...]) -> tuple[str, Any]:
    """How a refusal names a command the layer sent ("PUBLISH 'asgi:x'"), and its topic or key."""
    name = _str(args[0]).upper()
    if name in ("EVAL", "EVALSHA"):
        target = args[3] if len(args) > 3 and int(args[2]) > 0 else None
        name = f"{name} of a Lua script on"
    else:
        target = args[1] if len(args) > 1 else None
    return (f"{name} {_str(target)!r}" if target is not None else name), target


def _missing_permission(text: str, target: Any) -> str | None:
    command = _COMMAND.search(text)
    if command:
        return f"+{command.group(1)}"
    prefix = _str(target).partition(":")[0] if target is not None else None
    if "channel" in text:
        return f"&{prefix}:*" if prefix else "&<prefix>:*"
    if "key" in text:
        return f"~{prefix}:*" if prefix else "~<prefix>:*"
    return None  # a command inside a script: Script.run names its commands


def _tls_problem(error: ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return (
            f"the server's certificate did not verify ({error.verify_message}): it must be signed by a CA in "
            "ssl_ca_certs and name the host connected to"
        )
    reason = error.reason or ""
    if "ALERT" in reason:
        return (
            f"the server refused this client's certificate ({reason}): give ssl_certfile and ssl_keyfile "
            "signed by a CA the server trusts (tls-ca-cert-file)"
        )
    if "PEM" in str(error):  # what OpenSSL says of a key it cannot decrypt, or of a file that is not PEM
        return (
            f"the client certificate or key could not be loaded ({error}): check ssl_certfile and ssl_keyfile, "
            "and ssl_password if the key is encrypted"
        )
    return f"{error} (does the server speak TLS on this port, and this client TLS to it?)"


def _made(message: str, reason: str, permission: str | None, cause: BaseException) -> ChannelLayerRefused:
    refused = ChannelLayerRefused(message, reason, permission)
    refused.__cause__ = cause
    return refused


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _text(exc: BaseException) -> str:
    """Redis's own words, with the error code redis-py strips off put back."""
    code = getattr(exc, "status_code", None)
    text = str(exc)
    return f"{code} {text}" if code and not text.startswith(str(code)) else text


def _str(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, (bytes, bytearray)) else str(value)
