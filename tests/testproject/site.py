"""The chat project served for real: daphne subprocesses on free ports, one SQLite file and one Redis between them.

Each daphne gets SIGTERM when the process that started it exits (``PR_SET_PDEATHSIG``), so a killed
test run or benchmark leaves no server behind; ``stop()`` ends it normally.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
_PR_SET_PDEATHSIG = 1


class Daphne:
    """``python -m daphne testproject.asgi:application`` on one port; restartable on the same port."""

    def __init__(
        self,
        port: int,
        env: dict[str, str],
        log: Path,
        options: tuple[str, ...] = (),
        launcher: tuple[str, ...] = ("-m", "daphne"),
    ) -> None:
        self.port = port
        self.env = env
        self.log = log
        self.options = options  # more command-line options of daphne's
        self.launcher = launcher  # what the interpreter runs: daphne, or a wrapper of it (the benchmarks' profiler)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/chat/"

    def spawn(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    *self.launcher,
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    *self.options,
                    "testproject.asgi:application",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )

    def wait_ready(self) -> None:
        """Poll the login page until it answers; fail with daphne's log if the process exits or time runs out."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process is not None
            try:
                with urllib.request.urlopen(f"{self.url}/", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daphne on port {self.port} did not start; its log:\n{self.log.read_text()}")
            time.sleep(0.05)

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server has used so far."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self) -> None:
        """SIGKILL: connections drop without a close frame, as when a server crashes or its machine goes away."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


class ChatSite:
    """Several daphne processes serving one migrated SQLite database through one Redis."""

    def __init__(
        self,
        workdir: Path,
        redis_url: str,
        processes: int,
        settings: str = "testproject.settings",
        options: tuple[str, ...] = (),
    ) -> None:
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings,
            "DJANGO_DEBUG": "1",  # the ASGI app serves the page's static files only in DEBUG
            "REDIS_URL": redis_url,
            "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        }
        self.servers = [Daphne(free_port(), self.env, workdir / f"daphne-{n}.log", options) for n in range(processes)]

    def manage(self, *args: str) -> str:
        """Run ``manage.py`` against the site's database and Redis; return its stdout, stripped."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60
        )
        if result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} exited with {result.returncode}:\n{result.stderr}")
        return result.stdout.strip()

    def start(self) -> None:
        self.manage("migrate", "--verbosity", "0")
        for server in self.servers:
            server.spawn()
        for server in self.servers:
            server.wait_ready()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
