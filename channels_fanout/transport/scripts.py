"""Lua scripts run by their SHA, so a script that runs per message costs its arguments on the wire, not its text.

A server that does not know a script yet (a fresh start, a failover, ``SCRIPT FLUSH``) answers
NOSCRIPT; the script is then sent once with EVAL, which also caches it there.
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol

from redis.exceptions import NoScriptError

__all__ = ["Script"]


class _Executor(Protocol):
    async def execute(self, *args: Any) -> Any: ...


class Script:
    """One Lua script; ``run`` is EVALSHA, falling back to EVAL when the server answers NOSCRIPT."""

    __slots__ = ("text", "sha")

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()

    async def run(self, executor: _Executor, keys: tuple[Any, ...], args: tuple[Any, ...]) -> Any:
        """Run on ``executor`` (a shard's auto-pipelining publisher): one command, two on a server's first use."""
        try:
            return await executor.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await executor.execute("EVAL", self.text, len(keys), *keys, *args)
