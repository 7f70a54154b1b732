"""Run a server module (daphne) under cProfile in every thread, over a window that signals mark.

(Python 3.11 has a profiler per thread; from 3.12 one profiler per process sees every thread.)

    python -m benchmarks.profiled_server PATH MODULE [ARGS...]

SIGUSR1 opens the window, SIGUSR2 closes it and writes what every thread did in between to
``PATH`` (pstats format): the event loop, the ORM threads of ``sync_to_async``, any loop thread of
the layer's. Time is each thread's CPU time, so a thread blocked on a lock or in ``epoll`` costs
nothing, and setup before the window (migrations, connections, priming) is left out.
"""

from __future__ import annotations

import cProfile
import marshal
import runpy
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["main"]

Stats = dict[tuple[str, int, str], tuple[Any, ...]]

_profiles: list[cProfile.Profile] = []
_opened: Stats = {}


def _new_profile() -> cProfile.Profile:
    profile = cProfile.Profile(time.thread_time)
    _profiles.append(profile)
    profile.enable()
    return profile


def _unprofiled(snapshot: Callable[[], None]) -> Callable[[int, FrameType | None], None]:
    """A signal handler running ``snapshot`` with the main thread's profiler off: the window leaves it out."""

    def handler(signum: int, frame: FrameType | None) -> None:
        main = _profiles[0]
        main.disable()
        try:
            snapshot()
        finally:
            main.enable()

    return handler


def _on_thread_start(frame: FrameType, event: str, arg: object) -> None:
    # threading calls this once in each new thread; enabling a profiler there replaces it.
    _new_profile()


def _snapshot() -> Stats:
    """Every thread's stats added together (cProfile's own format: func -> (cc, nc, tt, ct, callers))."""
    total: Stats = {}
    for profile in list(_profiles):
        profile.snapshot_stats()
        for func, (cc, nc, tt, ct, callers) in profile.stats.items():  # type: ignore[attr-defined]
            was = total.get(func)
            if was is None:
                total[func] = (cc, nc, tt, ct, dict(callers))
                continue
            merged = dict(was[4])
            for caller, counts in callers.items():
                merged[caller] = _add(merged.get(caller), counts)
            total[func] = (*_add(was[:4], (cc, nc, tt, ct)), merged)
    return total


def _add(a: tuple[Any, ...] | None, b: tuple[Any, ...], sign: int = 1) -> tuple[Any, ...]:
    return b if a is None else tuple(x + sign * y for x, y in zip(a, b, strict=True))


def _window(closed: Stats) -> Stats:
    """What happened between the two snapshots: ``closed`` less what was there when the window opened."""
    window: Stats = {}
    for func, (cc, nc, tt, ct, callers) in closed.items():
        before = _opened.get(func)
        if before is not None:
            cc, nc, tt, ct = _add((cc, nc, tt, ct), before[:4], -1)
            callers = {c: _add(n, before[4].get(c, (0,) * len(n)), -1) for c, n in callers.items()}
        if nc > 0:
            window[func] = (cc, nc, tt, ct, callers)
    return window


def main(argv: list[str]) -> None:
    path, module, *args = argv

    def open_window() -> None:
        _opened.clear()
        _opened.update(_snapshot())

    def close_window() -> None:
        with open(path, "wb") as file:
            marshal.dump(_window(_snapshot()), file)

    _new_profile()  # the main thread's, first
    signal.signal(signal.SIGUSR1, _unprofiled(open_window))
    signal.signal(signal.SIGUSR2, _unprofiled(close_window))
    if sys.version_info < (3, 12):
        threading.setprofile(_on_thread_start)
    # From 3.12 cProfile runs on sys.monitoring: one profiler per process, which every thread's calls
    # reach, and a second one in a new thread raises. The main thread's is then the only one.
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
