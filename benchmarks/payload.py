"""The messages benchmarks send: a sequence number, the send time and padding to a fixed encoded size.

``t`` is ``time.monotonic()``, which on Linux is one clock for every process of the machine, so a
receiver in another process can subtract it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgpack

__all__ = ["MESSAGE", "PROBE", "message_factory", "probe"]

MESSAGE = "bench.message"
PROBE = "bench.probe"  # sent before the clock starts, to learn that subscriptions are live


def message_factory(size: int) -> Callable[[int], dict[str, Any]]:
    """A function of the sequence number returning a message of about ``size`` bytes in msgpack."""
    bare = len(msgpack.packb({"type": MESSAGE, "seq": 65535, "t": time.monotonic(), "pad": ""}))
    pad = "x" * max(size - bare, 0)

    def make(seq: int) -> dict[str, Any]:
        return {"type": MESSAGE, "seq": seq, "t": time.monotonic(), "pad": pad}

    return make


def probe() -> dict[str, Any]:
    return {"type": PROBE, "t": time.monotonic()}
