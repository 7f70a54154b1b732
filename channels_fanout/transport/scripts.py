"""Lua scripts run by their SHA, so a script that runs per message costs its arguments on the wire, not its text.

A server that does not know a script yet (a fresh start, a failover, ``SCRIPT FLUSH``) answers
NOSCRIPT; the script is then sent once with EVAL, which also caches it there.

Redis checks a script's commands against the ACL too, but its refusal does not say which one;
``run`` names those the script calls.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Protocol

from redis.exceptions import NoScriptError

from ..exceptions import ChannelLayerRefused

__all__ = ["Script"]


class _Executor(Protocol):
    async def execute(self, *args: Any) -> Any: ...


class Script:
    """One Lua script; ``run`` is EVALSHA, falling back to EVAL when the server answers NOSCRIPT."""

    __slots__ = ("text", "sha", "commands")

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()
        #: The ACL permissions of the commands it names ("+rpush"); one given as an argument is not among them.
        self.commands = " ".join(sorted({f"+{name.lower()}" for name in re.findall(r"redis\.p?call\('(\w+)'", text)}))

    async def run(self, executor: _Executor, keys: tuple[Any, ...], args: tuple[Any, ...]) -> Any:
        """Run on ``executor`` (a shard's auto-pipelining publisher): one command, two on a server's first use."""
        try:
            try:
                return await executor.execute("EVALSHA", self.sha, len(keys), *keys, *args)
            except NoScriptError:
                return await executor.execute("EVAL", self.text, len(keys), *keys, *args)
        except ChannelLayerRefused as refused:
            if refused.reason != "permission" or refused.permission is not None:
                raise  # EVALSHA, EVAL or a key was refused, and the refusal says so
            message = f"{refused}. The ACL user needs {self.commands}, the commands this script runs"
            raise ChannelLayerRefused(message, "permission", self.commands) from refused.__cause__
