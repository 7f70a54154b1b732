"""Exceptions of channels_fanout.

``channels.exceptions.ChannelFull`` (a local inbox or a worker queue is at capacity) and
``channels.exceptions.MessageTooLarge`` (an encoded message exceeds ``max_message_size``) are
reused from Channels, so code written for any layer keeps catching them. The new ones:

    FanoutError                  base of everything below
    └── ChannelLayerUnavailable  Redis could not be reached in time; the call had no effect
                                 (also a ``ConnectionError``, so generic handlers catch it)
"""

from __future__ import annotations

__all__ = ["ChannelLayerUnavailable", "FanoutError"]


class FanoutError(Exception):
    """Base class of the exceptions this package defines."""


class ChannelLayerUnavailable(FanoutError, ConnectionError):
    """Redis did not answer a command in time (down, restarting or unreachable)."""
