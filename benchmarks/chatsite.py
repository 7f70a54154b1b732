"""The chat testproject served by daphne processes for the WebSocket benchmark.

Each daphne is a plain subprocess that gets SIGTERM when the runner exits (``PR_SET_PDEATHSIG``),
so a killed runner leaves no server behind; ``stop()`` ends it normally.
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

__all__ = ["ChatServer", "chat_environment"]

ROOT = Path(__file__).resolve().parent.parent
APPLICATION = "testproject.asgi:application"
_PR_SET_PDEATHSIG = 1


def chat_environment(workdir: Path, redis_url: str, layer_path: str) -> dict[str, str]:
    """Environment of the project's processes: its database file, the run's Redis, the layer under test."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "benchmarks.chat_settings",
        "DJANGO_DEBUG": "0",
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        "BENCHMARK_CHANNEL_LAYER": layer_path,
    }


class ChatServer:
    """``daphne testproject.asgi:application`` on a free loopback port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws/chat/"
        self._log = log
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "daphne",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "testproject.asgi:application",
                ],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Return once the login page answers; RuntimeError with daphne's log if it exits or times out."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daphne on port {self.port} did not start:\n{self._log.read_text()[-3000:]}")
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
