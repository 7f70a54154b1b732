"""Close with the server: daphne (Twisted's asyncio reactor) stops its loop without cancelling our tasks.

``asyncio.run`` cancels every task at exit, which closes a node through its guard task; daphne does
not, so on SIGTERM/SIGINT the node's connections would simply be dropped with the process. A
"before shutdown" trigger on the reactor closes the node while the loop still runs.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["on_reactor_shutdown"]


def on_reactor_shutdown(
    loop: asyncio.AbstractEventLoop, close: Callable[[], Coroutine[Any, Any, None]]
) -> Callable[[], None]:
    """Run ``close()`` before a Twisted reactor driving ``loop`` shuts down; returns the undo."""
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None or getattr(reactor, "_asyncioEventloop", None) is not loop:
        return _nothing
    from twisted.internet import defer

    fired = False

    def trigger() -> Any:
        nonlocal fired
        fired = True
        return defer.Deferred.fromFuture(loop.create_task(close()))

    def undo() -> None:
        # Twisted warns when a trigger that already fired is removed (close() runs from it).
        if not fired:
            reactor.removeSystemEventTrigger(handle)

    handle = reactor.addSystemEventTrigger("before", "shutdown", trigger)
    return undo


def _nothing() -> None:
    """No reactor to undo."""
