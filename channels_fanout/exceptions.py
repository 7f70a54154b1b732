"""Exceptions of channels_fanout.

``channels.exceptions.ChannelFull`` (a local inbox or a worker queue is at capacity) and
``channels.exceptions.MessageTooLarge`` (an encoded message exceeds ``max_message_size``) are
reused from Channels, so code written for any layer keeps catching them. The new ones:

    FanoutError                      base of everything below
    └── ChannelLayerUnavailable      Redis could not be reached in time; the call had no effect
        │                            (also a ``ConnectionError``, so generic handlers catch it)
        └── ChannelLayerRefused      Redis refused this process: a missing ACL permission, wrong or
                                     missing credentials, or a TLS certificate that failed
                                     verification; the call had no effect, and retrying will not
                                     help until the configuration is fixed (also a ``PermissionError``)
"""

from __future__ import annotations

__all__ = ["ChannelLayerRefused", "ChannelLayerUnavailable", "FanoutError"]


class FanoutError(Exception):
    """Base class of the exceptions this package defines."""


class ChannelLayerUnavailable(FanoutError, ConnectionError):
    """Redis did not answer a command in time (down, restarting or unreachable)."""


class ChannelLayerRefused(ChannelLayerUnavailable, PermissionError):
    """Redis refused the command or the connection: the message says which and names the fix.

    A subclass of ``ChannelLayerUnavailable``, so code written for outages (a 503, "try again")
    handles it too; catch it first to tell a configuration problem from an outage. ``reason`` is
    ``"permission"`` (NOPERM: ``permission`` is the missing ACL rule, such as ``"+publish"`` or
    ``"&asgi:*"``, when Redis says), ``"credentials"`` (WRONGPASS, NOAUTH) or ``"tls"``.
    """

    def __init__(self, message: str, reason: str = "permission", permission: str | None = None) -> None:
        # OSError reads two or more positional arguments as (errno, strerror): keep args to the message.
        super().__init__(message)
        self.reason = reason
        self.permission = permission

    def __reduce__(self) -> tuple[type[ChannelLayerRefused], tuple[str, str, str | None]]:
        return type(self), (str(self), self.reason, self.permission)
