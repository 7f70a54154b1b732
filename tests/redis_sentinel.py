"""A private Sentinel deployment on loopback ports: a master, its replica and three sentinels, on TCP or TLS."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from tests.redis_server import RedisServer
from tests.tls import ServerTLS

MASTER_NAME = "mymaster"
DOWN_AFTER_MS = 300  # how long a silent master takes to be subjectively down: short, for fast tests


class SentinelServer(RedisServer):
    """``redis-server <config> --sentinel`` (what the redis-sentinel binary runs), monitoring one master."""

    def __init__(
        self, workdir: Path, master: RedisServer, replica: RedisServer, index: int, tls: ServerTLS | None = None
    ) -> None:
        super().__init__(workdir, tls=tls)
        self.master = master
        self.replica = replica
        self.run_id = f"{index + 1:040x}"
        self.peers: list[SentinelServer] = []

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "sentinel.conf"  # a sentinel rewrites its config: a file of its own
        # With TLS, "tls-replication yes" makes the sentinel speak TLS to the master and replica it watches.
        options = [*self.port_args(), *(["--tls-replication", "yes"] if self.tls else [])]
        config.write_text(
            "".join(f"{name[2:]} {value}\n" for name, value in zip(options[::2], options[1::2], strict=True))
            + "bind 127.0.0.1\n"
            f"dir {self.workdir}\n"
            f"logfile {self.workdir / 'sentinel.log'}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} 5000\n"
            # Told, not discovered: discovery takes a hello round of 2 s per peer.
            f"sentinel myid {self.run_id}\n"
            f"sentinel known-replica {MASTER_NAME} 127.0.0.1 {self.replica.port}\n"
            + "".join(f"sentinel known-sentinel {MASTER_NAME} 127.0.0.1 {p.port} {p.run_id}\n" for p in self.peers)
        )
        self.process = subprocess.Popen(
            [self.binary, str(config), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_until_answering()


class SentinelGroup:
    """One master with one replica, watched by three sentinels (quorum two); with ``tls``, every link is TLS."""

    def __init__(self, workdir: Path, tls: ServerTLS | None = None) -> None:
        # No diskless-sync delay (5 s by default): a replica is promoted only once it has synced.
        replication = ["--tls-replication", "yes"] if tls else []
        self.master = RedisServer(workdir / "master", None, "--repl-diskless-sync-delay", "0", *replication, tls=tls)
        self.replica = RedisServer(
            workdir / "replica", None, "--replicaof", "127.0.0.1", str(self.master.port), *replication, tls=tls
        )
        self.sentinels = [
            SentinelServer(workdir / f"sentinel{index}", self.master, self.replica, index, tls) for index in range(3)
        ]
        for sentinel in self.sentinels:
            sentinel.peers = [peer for peer in self.sentinels if peer is not sentinel]

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", sentinel.port) for sentinel in self.sentinels]

    def start(self) -> None:
        self.master.start()
        self.replica.start()
        for sentinel in self.sentinels:
            sentinel.start()
        self.wait_until_watching()

    def stop(self) -> None:
        for server in (*self.sentinels, self.replica, self.master):
            server.stop()

    def wait_until_watching(self, timeout: float = 20) -> None:
        """Until every sentinel knows the other two and the synced replica: only then can they fail over."""
        deadline = time.monotonic() + timeout
        while not all(self._ready(sentinel) for sentinel in self.sentinels):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sentinels did not discover each other and the replica within {timeout}s")
            time.sleep(0.1)

    def current_master(self) -> RedisServer | None:
        """The server a majority of sentinels name as master, if that is one of ours."""
        ports = []
        for sentinel in self.sentinels:
            if sentinel.process is None:
                continue
            with sentinel.client() as client:
                address = client.sentinel_get_master_addr_by_name(MASTER_NAME)
            ports.append(int(address[1]) if address else None)
        for server in (self.master, self.replica):
            if ports.count(server.port) >= 2:
                return server
        return None

    def _ready(self, sentinel: SentinelServer) -> bool:
        with sentinel.client() as client:
            state = client.sentinel_master(MASTER_NAME)
        with self.replica.client() as client:
            synced = client.info("replication").get("master_link_status") == "up"
        return synced and int(state["num-other-sentinels"]) == 2 and int(state["num-slaves"]) == 1
