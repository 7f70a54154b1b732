"""A private ``redis-server`` on a free loopback port that tests may kill and restart, on TCP or TLS."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import redis

from tests.tls import ServerTLS


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process with persistence off; start, kill and restart it on one port.

    With ``tls``, the port is a TLS port and the plain one is off.
    """

    def __init__(self, workdir: Path, port: int | None = None, *extra_args: str, tls: ServerTLS | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH: run scripts/test.sh, or apt-get install redis-server")
        self.binary = binary
        self.workdir = workdir
        self.port = port or free_port()
        self.extra_args = extra_args
        self.tls = tls
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def client(self, **kwargs: Any) -> redis.Redis:
        """A synchronous client for the test's own checks (CLIENT LIST, PUBSUB NUMSUB), as the default user."""
        if self.tls is not None:
            # The CA is checked, the host name not: a test may give a server a certificate for another name.
            kwargs = {"ssl": True, "ssl_check_hostname": False, **self.tls.client_kwargs(), **kwargs}
        return redis.Redis(host="127.0.0.1", port=self.port, protocol=2, socket_timeout=5, **kwargs)

    def port_args(self) -> list[str]:
        """The options that open this server's port: plain, or TLS with its certificates."""
        if self.tls is None:
            return ["--port", str(self.port)]
        return ["--port", "0", "--tls-port", str(self.port), *self.tls.server_args()]

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                *self.port_args(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(self.workdir / "redis.log"),
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_answering()

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                with self.client() as client:
                    client.ping()
                return
            except redis.ConnectionError:
                assert self.process is not None
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{' '.join(self.process.args)} did not start") from None
                time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL the server: clients see their connections reset, nothing is kept."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()
