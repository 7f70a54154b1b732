"""A private Redis Cluster on loopback ports: primaries with replicas, slot migration, failover; on TCP or TLS."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import redis
from redis.crc import key_slot

from tests.redis_server import RedisServer, free_port
from tests.tls import ServerTLS

NODE_OPTIONS = {
    "cluster-enabled": "yes",
    "cluster-config-file": "nodes.conf",
    "cluster-node-timeout": "500",  # how long a silent primary takes to be failed over: short, for fast tests
    # Other shards keep serving while one fails over, as a deployment that prefers partial
    # availability would run it; the layer works with either setting.
    "cluster-require-full-coverage": "no",
    "repl-diskless-sync-delay": "0",  # replicas in sync at once: only a synced one can be promoted
    # and "cluster-port": the default bus port, 10000 above the client port, may be past 65535 or taken.
}


def _options(options: dict[str, str]) -> list[str]:
    return [argument for key, value in options.items() for argument in (f"--{key}", value)]


class RedisClusterServers:
    """``primaries`` redis-servers sharing the 16384 slots, each with ``replicas`` replicas.

    With ``tls``, clients, the cluster bus and replication all speak TLS, and the nodes announce their TLS ports.
    """

    def __init__(self, workdir: Path, primaries: int = 3, replicas: int = 1, tls: ServerTLS | None = None) -> None:
        self.workdir = workdir
        self.primary_count = primaries
        self.bus_ports = [free_port() for _ in range(primaries * (1 + replicas))]
        options = {**NODE_OPTIONS, **({"tls-cluster": "yes", "tls-replication": "yes"} if tls else {})}
        self.nodes = [
            RedisServer(workdir / f"node{index}", None, *_options({**options, "cluster-port": str(bus_port)}), tls=tls)
            for index, bus_port in enumerate(self.bus_ports)
        ]
        self.tls = tls

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.nodes[0].port}"

    @property
    def live(self) -> list[RedisServer]:
        return [node for node in self.nodes if node.process is not None]

    def start(self) -> None:
        """Start the nodes and join them by hand, as ``redis-cli --cluster create`` does (it needs three primaries)."""
        for node in self.nodes:
            node.start()
        primaries, replicas = self.nodes[: self.primary_count], self.nodes[self.primary_count :]
        for index, primary in enumerate(primaries):
            first = index * 16384 // len(primaries)
            last = (index + 1) * 16384 // len(primaries) - 1
            with primary.client() as client:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
                client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", index + 1)
        self._meet()
        for index, replica in enumerate(replicas):
            with replica.client() as client:
                client.execute_command("CLUSTER", "REPLICATE", self.node_id(primaries[index % len(primaries)]))
        self.wait_until_agreed()
        self._wait(lambda: all(self._info(node, "replication").get("master_link_status", "up") == "up"
                               for node in self.live), "replicas to sync")  # fmt: skip

    def _meet(self, timeout: float = 15) -> None:
        """CLUSTER MEET from the first node to the others, again for any whose handshake timed out.

        A handshake not answered within the node timeout (at least 1 s) is abandoned for good, which
        happens on a busy machine; gossip spreads a node only once the first node knows it.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self.nodes[0].client() as client:
                known = client.execute_command("CLUSTER", "NODES")
                known = known.decode() if isinstance(known, bytes) else str(known)
                for node, bus_port in zip(self.nodes[1:], self.bus_ports[1:], strict=True):
                    if f":{node.port}@" not in known:
                        client.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, bus_port)
            try:
                self._wait(lambda: all(self._info(node, "cluster")["cluster_known_nodes"] == str(len(self.nodes))
                                       for node in self.nodes), "meet", timeout=3)  # fmt: skip
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def primaries(self) -> list[RedisServer]:
        return [node for node in self.live if self._role(node) == "master" and self.slots_of(node)]

    def primary_of(self, key: bytes | str) -> RedisServer:
        slot = key_slot(key.encode() if isinstance(key, str) else key)
        return next(node for node in self.primaries() if slot in self.slots_of(node))

    def replica_of(self, primary: RedisServer) -> RedisServer:
        primary_id = self.node_id(primary)
        return next(node for node in self.live if self._info(node, "replication").get("master_port") == primary.port
                    and self.node_id(node) != primary_id)  # fmt: skip

    def slots_of(self, node: RedisServer) -> set[int]:
        with node.client() as client:
            ranges = client.execute_command("CLUSTER", "SHARDS")
            port = node.port
        slots: set[int] = set()
        for shard in ranges:
            shard = dict(zip(shard[::2], shard[1::2], strict=True))
            nodes = [dict(zip(n[::2], n[1::2], strict=True)) for n in shard[b"nodes"]]
            # A TLS node lists its client port as "tls-port" (its plain "port" is off).
            if any(n.get(b"port", n.get(b"tls-port")) == port and n[b"role"] == b"master" for n in nodes):
                bounds = shard[b"slots"]
                for start, end in zip(bounds[::2], bounds[1::2], strict=True):
                    slots.update(range(start, end + 1))
        return slots

    def node_id(self, node: RedisServer) -> str:
        with node.client() as client:
            return str(client.execute_command("CLUSTER", "MYID").decode())

    def move_slot(self, slot: int, target: RedisServer) -> None:
        """Migrate ``slot`` with its keys to ``target``, as ``redis-cli --cluster reshard`` does."""
        source = next(node for node in self.primaries() if slot in self.slots_of(node))
        source_id, target_id = self.node_id(source), self.node_id(target)
        with source.client() as src, target.client() as dst:
            dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
            src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
            while keys := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
                src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "KEYS", *keys)
            dst.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
            src.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        for node in self.primaries():
            with node.client() as client:
                client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        self.wait_until_agreed()

    def kill(self, node: RedisServer) -> None:
        node.kill()

    def wait_until_agreed(self, timeout: float = 15) -> None:
        """Until every live node reports a healthy cluster and the same primaries for all slots."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                views = {self._slot_map(node) for node in self.live}
                healthy = all(self._info(node, "cluster")["cluster_state"] == "ok" for node in self.live)
                if healthy and len(views) == 1 and len(next(iter(views))) > 0:
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster in {self.workdir} did not agree on its slots within {timeout}s")
            time.sleep(0.05)

    def _wait(self, done: Callable[[], bool], what: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster in {self.workdir} did not get {what} within {timeout}s")
            time.sleep(0.05)

    @staticmethod
    def _slot_map(node: RedisServer) -> tuple[tuple[int, int, int, int], ...]:
        with node.client() as client:
            ranges = client.execute_command("CLUSTER", "SLOTS")
        # (first slot, last slot, primary port, replica count): a replica must be known everywhere too.
        return tuple(sorted((r[0], r[1], r[2][1], len(r) - 3) for r in ranges))

    @staticmethod
    def _role(node: RedisServer) -> str:
        return str(RedisClusterServers._info(node, "replication")["role"])

    @staticmethod
    def _info(node: RedisServer, section: str) -> dict[str, object]:
        with node.client() as client:
            if section == "cluster":
                text = client.execute_command("CLUSTER", "INFO")
                text = text.decode() if isinstance(text, bytes) else text
                return dict(line.split(":", 1) for line in text.split() if ":" in line)
            return dict(client.info(section))
