"""One run of one scenario on one backend, as the runner sees it: its workers and its Redis snapshots."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.redis_server import RedisServer

from .backends import Backend
from .processes import Worker, WorkerFailed, WorkerSpec, expect_all
from .redisstats import CommandSources, Snapshot, commands_by_source, key_memory, snapshot

__all__ = ["Run"]


class Run:
    """Spawns a run's workers, snapshots Redis for it, and reaps every worker at the end.

    ``timeout`` bounds the whole run: workers get it (plus a margin to report) as their deadline.
    """

    def __init__(
        self,
        backend: Backend,
        server: RedisServer,
        label: str,
        timeout: float,
        profiler: str | None = None,
        profile_role: str | None = None,
        profile_dir: Path | None = None,
    ) -> None:
        self.backend = backend
        self.label = label
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.profiles: list[str] = []
        self.teardown_errors: list[str] = []
        self._server = server
        self._client = server.client()
        self._profiler = profiler
        self._profile_role = profile_role
        self._profile_dir = profile_dir
        self._workers: list[Worker] = []

    @property
    def redis_url(self) -> str:
        return self._server.url

    def spawn(self, role: str, params: dict[str, Any], layer: bool = True) -> Worker:
        """Start a worker running ``role`` (``"module:function"``), with a layer of this run's backend or none."""
        name = f"{role.rsplit(':', 1)[1]}-{len(self._workers)}"
        profiler = profile_path = None
        if self._profiler and role.endswith(f":{self._profile_role}") and not self.profiles:
            assert self._profile_dir is not None
            suffix = ".prof" if self._profiler == "cprofile" else ".txt"
            profile_path = str(self._profile_dir / f"{self.label}-{name}{suffix}")
            profiler = self._profiler
            self.profiles.append(profile_path)
        spec = WorkerSpec(
            name=name,
            role=role,
            backend=self.backend.path if layer else None,
            redis_url=self._server.url,
            params=params,
            deadline=self.deadline + 15,
            options=self.backend.options if layer else {},
            profiler=profiler,
            profile_path=profile_path,
        )
        worker = Worker(spec)
        self._workers.append(worker)
        return worker

    def server_launcher(self, role: str) -> tuple[str, ...]:
        """How to start a server process of ``role`` ("daphne"): under the profiler if it is the role profiled.

        Every server of the role is profiled (each to a file of its own), over the window the scenario marks.
        """
        if self._profiler != "cprofile" or self._profile_role != role:
            return ("-m", role)
        assert self._profile_dir is not None
        path = str(self._profile_dir / f"{self.label}-{role}-{len(self.profiles)}.prof")
        self.profiles.append(path)
        return ("-m", "benchmarks.profiled_server", path, role)

    def left(self) -> float:
        """Seconds left of the run's timeout: what a wait for workers may take."""
        return max(self.deadline - time.monotonic(), 1.0)

    def snapshot(self) -> Snapshot:
        return snapshot(self._client)

    def commands_by_source(self, during: Callable[[], None]) -> CommandSources:
        """Who ran what Redis ran while ``during()`` ran: clients or scripts (MONITOR: never in a measured step)."""
        return commands_by_source(self._server.client, during)

    def key_memory(self, match: str) -> tuple[int, int]:
        """Count and bytes (MEMORY USAGE) of the keys matching the glob ``match``."""
        return key_memory(self._client, match)

    def serve_checkpoints(self, worker: Worker, names: list[str]) -> dict[str, Snapshot]:
        """Answer a worker's checkpoints in order, snapshotting Redis at each."""
        taken = {}
        for name in names:
            got = worker.expect("checkpoint", self.left())
            if got != name:
                raise WorkerFailed(f"{worker.spec.name}: checkpoint {got!r} where {name!r} was due")
            taken[name] = self.snapshot()
            worker.send("checkpoint", name)
        return taken

    def finish(self, workers: list[Worker]) -> None:
        """Let workers that reported "measured" tear down; a layer that cannot close is noted, not fatal."""
        for worker in workers:
            worker.send("teardown")
        try:
            expect_all(workers, "result", min(self.left(), 30))
        except WorkerFailed as exc:
            self.teardown_errors.append(str(exc))

    def close(self) -> None:
        for worker in self._workers:
            worker.reap()
        self._client.close()
