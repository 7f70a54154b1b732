"""scripts/demo.sh as the README runs it: twice at once on a virtualenv without the project, then again.

The virtualenv sees this one's packages through a ``.pth`` file, so the install that the scripts serialise is
the real editable install of the project (pip fetches only its build requirements), in about 10 seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0
INSTALLING = "Installing channels-fanout[tests]"


class Demo:
    """One ``scripts/demo.sh PORT`` in a process group of its own, its output in a log file."""

    def __init__(self, port: int, env: dict[str, str], log: Path) -> None:
        self.port = port
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["bash", "scripts/demo.sh", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process is not None
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"demo.sh on port {self.port} does not serve; its output:\n{self.output()}")
            time.sleep(0.1)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM to the group: demo.sh's trap stops its daphne; SIGKILL if that takes more than 15 s."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None


@pytest.fixture
def demo_env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    """A new virtualenv without the project (it sees this one's packages), the private Redis, a new database."""
    fresh = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(fresh)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (fresh / "lib" / version / "site-packages" / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return {
        **os.environ,
        "VENV": str(fresh),
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }


@pytest.fixture
def demos(demo_env: dict[str, str], tmp_path: Path) -> Iterator[list[Demo]]:
    started = [Demo(free_port(), demo_env, tmp_path / f"demo-{n}.log") for n in range(2)]
    yield started
    for demo in started:
        demo.stop()


@pytest.mark.timeout(240)
def test_two_demos_started_together_both_serve_and_a_restart_installs_nothing(demos):
    for demo in demos:
        demo.start()
    for demo in demos:
        demo.wait_serving()
    outputs = [demo.output() for demo in demos]
    assert sum(INSTALLING in output for output in outputs) == 1, outputs
    for demo, output in zip(demos, outputs, strict=True):
        assert f"Serving on http://127.0.0.1:{demo.port}/" in output

    demos[1].stop()
    demos[1].start()
    demos[1].wait_serving()
    assert INSTALLING not in demos[1].output()
