"""Worker processes: real OS processes (multiprocessing, spawn) that the runner drives over a pipe.

Both sides speak ``(kind, data)`` tuples in a fixed order per scenario; a worker runs one async
role function with a channel layer of the backend under test, and answers ``("result", ...)`` or
``("error", traceback)``. Workers stop by themselves: a watchdog thread ends the process when the
runner dies or the run's deadline passes, so no benchmark leaves processes behind.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import multiprocessing
import os
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from .backends import build_layer, close_layer
from .profiling import profiled

__all__ = ["Control", "Role", "Worker", "WorkerFailed", "WorkerSpec", "expect_all"]

_CONTEXT = multiprocessing.get_context("spawn")

Role = Callable[[Any, dict[str, Any], "Control"], Awaitable[Any]]


class WorkerFailed(RuntimeError):
    """A worker raised, died, or did not answer in time; the run is reported as failed."""


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker runs: ``role`` is ``"module:function"``; ``deadline`` is on the shared monotonic clock."""

    name: str
    role: str
    backend: str | None  # None: the role gets no layer (a WebSocket client, say)
    redis_url: str
    params: dict[str, Any]
    deadline: float
    options: dict[str, Any] = field(default_factory=dict)  # the layer's CONFIG beyond hosts
    profiler: str | None = None
    profile_path: str | None = None


class Worker:
    """The runner's handle on one worker process."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self._conn, child_conn = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(
            target=_worker_main, args=(spec, child_conn, os.getpid()), name=spec.name, daemon=True
        )
        self.process.start()
        child_conn.close()

    def send(self, kind: str, data: Any = None) -> None:
        self._conn.send((kind, data))

    def expect(self, kind: str, timeout: float) -> Any:
        """The worker's next message, which must be ``kind``; WorkerFailed otherwise or after ``timeout``."""
        ready = wait([self._conn, self.process.sentinel], timeout)
        if self._conn in ready:
            try:
                got, data = self._conn.recv()
            except EOFError:
                got, data = "error", f"exited with code {self.process.exitcode} before answering"
        elif ready:
            got, data = "error", f"exited with code {self.process.exitcode} before answering"
        else:
            raise WorkerFailed(f"{self.spec.name}: no {kind!r} within {timeout:.0f}s")
        if got == "error":
            raise WorkerFailed(f"{self.spec.name} ({self.spec.backend}): {data}")
        if got != kind:
            raise WorkerFailed(f"{self.spec.name}: expected {kind!r}, got {got!r}")
        return data

    def reap(self, timeout: float = 10.0) -> None:
        """Wait for the process to exit; terminate, then kill it if it does not."""
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self._conn.close()


def expect_all(workers: Sequence[Worker], kind: str, timeout: float) -> list[Any]:
    """``expect(kind)`` from each worker, all within one ``timeout``."""
    deadline = time.monotonic() + timeout
    return [worker.expect(kind, max(deadline - time.monotonic(), 0.0)) for worker in workers]


class Control:
    """The worker's end of the pipe, awaited on the event loop (no thread blocks on it)."""

    def __init__(self, conn: Connection, deadline: float) -> None:
        self._conn = conn
        self.deadline = deadline

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.0)

    async def send(self, kind: str, data: Any = None) -> None:
        self._conn.send((kind, data))

    async def expect(self, kind: str, timeout: float | None = None) -> Any:
        """The runner's next message, which must be ``kind``."""
        timeout = self.remaining() if timeout is None else min(timeout, self.remaining())
        if not self._conn.poll():
            loop = asyncio.get_running_loop()
            readable = loop.create_future()
            loop.add_reader(self._conn.fileno(), _resolve, readable)
            try:
                await asyncio.wait_for(readable, timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"the runner sent no {kind!r} within {timeout:.0f}s") from None
            finally:
                loop.remove_reader(self._conn.fileno())
        got, data = self._conn.recv()
        if got != kind:
            raise RuntimeError(f"expected {kind!r} from the runner, got {got!r}")
        return data

    async def checkpoint(self, name: str) -> Any:
        """Let the runner take a Redis snapshot here; returns what it answers."""
        await self.send("checkpoint", name)
        return await self.expect("checkpoint")


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _worker_main(spec: WorkerSpec, conn: Connection, parent_pid: int) -> None:
    _start_watchdog(parent_pid, spec.deadline)
    logging.basicConfig(level=logging.WARNING, format=f"[{spec.name}] %(levelname)s %(name)s: %(message)s")
    module_name, function_name = spec.role.split(":")
    role: Role = getattr(importlib.import_module(module_name), function_name)
    try:
        with profiled(spec.profiler, spec.profile_path):
            result = asyncio.run(_serve(role, spec, conn))
        conn.send(("result", result))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


async def _serve(role: Role, spec: WorkerSpec, conn: Connection) -> Any:
    layer = None if spec.backend is None else build_layer(spec.backend, spec.redis_url, spec.options)
    try:
        return await role(layer, spec.params, Control(conn, spec.deadline))
    finally:
        if layer is not None:
            await asyncio.wait_for(close_layer(layer), 10)


def _start_watchdog(parent_pid: int, deadline: float) -> None:
    """Exit when the runner is gone or the deadline passed; a stuck backend cannot outlive the run."""

    def watch() -> None:
        while os.getppid() == parent_pid and time.monotonic() < deadline:
            time.sleep(0.5)
        os._exit(70)

    threading.Thread(target=watch, name="benchmark watchdog", daemon=True).start()
