"""Where a worker's time goes: run it under cProfile or pyinstrument and summarise the top functions.

The worker writes the raw profile next to the results; the runner prints the summary. A profiled
run is slower than a plain one, so its numbers are for reading, not for the table.
"""

from __future__ import annotations

import contextlib
import io
import os
import pstats
import signal
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["PARTS", "PROFILERS", "part_of", "parts", "profile_window", "profiled", "summary"]

PROFILERS = ("cprofile", "pyinstrument")
SERVER_PROFILER = "benchmarks.profiled_server"

#: What a function's own time is charged to, by the first pattern found in its file or name (in this order).
PARTS = (
    ("layer: channels_fanout fan-out and inboxes", ("channels_fanout/local/fanout", "channels_fanout/local/inbox")),
    ("layer: channels_fanout publish", ("channels_fanout/transport/publisher",)),
    ("layer: channels_fanout presence", ("channels_fanout/presence",)),
    ("layer: channels_fanout stats reporter", ("channels_fanout/monitoring",)),
    ("layer: channels_fanout loop thread", ("channels_fanout/local/loop_thread",)),
    ("layer: channels_fanout other (API, node, hub, heartbeat)", ("channels_fanout/",)),
    ("layer: channels_redis", ("channels_redis/",)),
    ("layer: msgpack", ("msgpack",)),
    ("redis-py client", ("/redis/", "hiredis")),
    ("Channels consumer dispatch", ("/channels/",)),
    ("chat app (consumer, services, protocol)", ("testproject/",)),
    ("asgiref sync bridges", ("asgiref/",)),
    ("Django ORM and database driver", ("django/db/", "sqlite3", "psycopg")),
    ("Django other", ("django/",)),
    ("daphne, autobahn, twisted (WebSocket server)", ("daphne/", "autobahn/", "twisted/", "txaio/", "zope/", "click/")),
    ("JSON", ("json/", "json.")),
    ("logging", ("logging/",)),
    ("threads and futures", ("threading.py", "concurrent/futures", "queue.py", "_thread")),
    ("event loop", ("asyncio/", "selectors.py", "epoll", "select", "socket")),
)
OTHER = "other (builtins, stdlib)"


def part_of(function: tuple[str, int, str]) -> str:
    """The part of ``PARTS`` a pstats function key ``(file, line, name)`` belongs to."""
    text = f"{function[0]} {function[2]}"
    for part, patterns in PARTS:
        if any(pattern in text for pattern in patterns):
            return part
    return OTHER


def parts(path: str) -> dict[str, float]:
    """CPU seconds of own time per part, largest first, from a ``.prof`` file.

    A builtin's time (``isinstance``, ``socket.send``: its file is ``~``) goes to the parts of its
    callers, in proportion to what each spent in it; that of a builtin called by builtins stays "other".
    """
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(path).stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    for function, (_, _, own, _, callers) in stats.items():
        if function[0] != "~" or not callers:
            shares = {part_of(function): own}
        else:
            shares = {}
            for caller, (_, _, spent, _) in callers.items():
                part = OTHER if caller[0] == "~" else part_of(caller)
                shares[part] = shares.get(part, 0.0) + spent
        for part, seconds in shares.items():
            totals[part] = totals.get(part, 0.0) + seconds
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def profile_window(servers: Iterable[Any], signum: int) -> None:
    """Open (SIGUSR1) or close (SIGUSR2) the profiled window of the servers started under the profiler.

    Closing waits (up to 10 s) for each one's profile to be written.
    """
    for server in servers:
        if SERVER_PROFILER not in server.launcher:
            continue
        path = Path(server.launcher[server.launcher.index(SERVER_PROFILER) + 1])
        written = path.stat().st_mtime if path.exists() else None
        os.kill(server.process.pid, signum)
        deadline = time.monotonic() + 10
        while signum == signal.SIGUSR2 and time.monotonic() < deadline:
            if path.exists() and path.stat().st_mtime != written and path.stat().st_size:
                break
            time.sleep(0.05)


@contextlib.contextmanager
def profiled(profiler: str | None, path: str | None) -> Iterator[None]:
    """Profile the block with ``profiler`` and save to ``path`` (``.prof`` or ``.txt``); no-op if None."""
    if profiler is None or path is None:
        yield
        return
    if profiler == "cprofile":
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
        try:
            yield
        finally:
            profile.disable()
            profile.dump_stats(path)
        return
    from pyinstrument import Profiler

    # async_mode off: sample the thread's real stack, so time spent in the event loop shows up
    # as the loop's own frames rather than being attributed to whichever coroutine awaited.
    sampler = Profiler(interval=0.0005, async_mode="disabled")
    sampler.start()
    try:
        yield
    finally:
        sampler.stop()
        Path(path).write_text(sampler.output_text(unicode=False, color=False, show_all=False))


def summary(path: str, top: int = 25) -> str:
    """The top functions by own time and by cumulative time (cProfile), or pyinstrument's call tree."""
    if not Path(path).exists():
        return "(no profile written: the run failed before its profiled window closed)"
    if not path.endswith(".prof"):
        return Path(path).read_text()
    out = io.StringIO()
    shares = parts(path)
    total = sum(shares.values()) or 1.0
    out.write("-- own time by part --\n")
    for part, seconds in shares.items():
        out.write(f"{seconds * 1000:10.1f} ms {seconds / total:6.1%}  {part}\n")
    stats = pstats.Stats(path, stream=out).strip_dirs()
    out.write("-- by own time (tottime) --\n")
    stats.sort_stats("tottime").print_stats(top)
    out.write("-- by cumulative time --\n")
    stats.sort_stats("cumulative").print_stats(top)
    return "\n".join(line for line in out.getvalue().splitlines() if line.strip())
