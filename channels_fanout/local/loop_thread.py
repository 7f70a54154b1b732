"""A private event loop on a thread, for callers whose own loop lasts a single call.

``async_to_sync`` called from a thread with no event loop (a WSGI view, a management command, a
worker thread) runs each call on a new loop and closes it on return. Connections made there would
die with it: a thousand calls would open a thousand connections and lose any channel made by
``new_channel``. Such calls run here instead, on one long-lived loop with its own node.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from asgiref.sync import AsyncToSync

__all__ = ["LoopThread", "is_single_call_loop"]

T = TypeVar("T")


def is_single_call_loop(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether asgiref made ``loop`` for one ``async_to_sync`` call (it registers exactly those)."""
    return loop in getattr(AsyncToSync, "loop_thread_executors", ())


class LoopThread:
    """Starts its thread on first use; ``stop`` cancels the loop's tasks, closes it and joins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the private loop; cancelling the caller cancels it there."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._ensure_loop())
        return await asyncio.wrap_future(future)

    def stop(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=_serve, args=(self._loop,), name="channels_fanout loop thread", daemon=True
                )
                self._thread.start()
            return self._loop


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
        # Stopped: cancel what runs here (the node's guard then closes its connections), as asyncio.run does.
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
