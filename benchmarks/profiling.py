"""Where a worker's time goes: run it under cProfile or pyinstrument and summarise the top functions.

The worker writes the raw profile next to the results; the runner prints the summary. A profiled
run is slower than a plain one, so its numbers are for reading, not for the table.
"""

from __future__ import annotations

import contextlib
import io
import pstats
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PROFILERS", "profiled", "summary"]

PROFILERS = ("cprofile", "pyinstrument")


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
    if not path.endswith(".prof"):
        return Path(path).read_text()
    out = io.StringIO()
    stats = pstats.Stats(path, stream=out).strip_dirs()
    out.write("-- by own time (tottime) --\n")
    stats.sort_stats("tottime").print_stats(top)
    out.write("-- by cumulative time --\n")
    stats.sort_stats("cumulative").print_stats(top)
    return "\n".join(line for line in out.getvalue().splitlines() if line.strip())
