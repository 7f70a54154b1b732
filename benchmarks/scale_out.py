"""Group fan-out as shards are added: 1, 2 and 3 independent Redis hosts, and 1, 2 and 3 cluster primaries.

    python -m benchmarks.scale_out [--groups 500] [--messages 20000] [--publishers 2] [--subscribers 2] [--repeats 3]
                                   [--modes hosts,cluster] [--shards 1,2,3]

Each configuration gets fresh private redis-servers (no replicas). ``--subscribers`` processes hold
one member in every group; ``--publishers`` processes then send ``--messages`` group_send each,
spread over the groups round-robin, as fast as auto-pipelining takes them. Reported: deliveries
per second (go to last delivery), Redis CPU per published message summed over every server and on
the busiest server, and what that busiest server's CPU bounds the deployment at: published
messages per second when it runs at 100% of its one core (Redis runs commands on one thread).
Then, on a 3-primary cluster: what one message costs each node with PUBLISH (copied to every
node) and with SPUBLISH (kept in its shard). Prints tables; writes JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from channels_fanout import FanoutChannelLayer
from tests.redis_cluster import RedisClusterServers
from tests.redis_server import RedisServer

RESULTS = Path(__file__).parent / "results"
_CONTEXT = multiprocessing.get_context("spawn")
PAYLOAD = {"type": "bench.message", "text": "x" * 100}
WINDOW = 200  # group_sends in flight per publisher


# Worker processes


def _subscriber(hosts: list[Any], groups: list[str], ready: Any, stop: Any, count: Any, last: Any) -> None:
    asyncio.run(_subscribe(hosts, groups, ready, stop, count, last))


async def _subscribe(hosts: list[Any], groups: list[str], ready: Any, stop: Any, count: Any, last: Any) -> None:
    layer = FanoutChannelLayer(hosts=hosts, capacity=100_000)
    channels = []
    for group in groups:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        channels.append(channel)

    async def drain(channel: str) -> None:
        while True:
            await layer.receive(channel)
            count.value += 1
            last.value = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process

    tasks = [asyncio.create_task(drain(channel)) for channel in channels]
    ready.set()
    await asyncio.to_thread(stop.wait)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await layer.close()


def _publisher(hosts: list[Any], groups: list[str], messages: int, offset: int, ready: Any, go: Any) -> None:
    asyncio.run(_publish(hosts, groups, messages, offset, ready, go))


async def _publish(hosts: list[Any], groups: list[str], messages: int, offset: int, ready: Any, go: Any) -> None:
    layer = FanoutChannelLayer(hosts=hosts)
    for group in groups[:50]:  # connections open and slot maps read before the clock starts
        await layer.group_send(f"warm-{group}", PAYLOAD)
    ready.set()
    await asyncio.to_thread(go.wait)
    for start in range(0, messages, WINDOW):
        sends = (layer.group_send(groups[(offset + n) % len(groups)], PAYLOAD) for n in range(start, start + WINDOW))
        await asyncio.gather(*sends)
    await layer.close()


# Topologies


@contextmanager
def independent_hosts(count: int, workdir: Path) -> Iterator[tuple[list[Any], list[RedisServer]]]:
    servers = [RedisServer(workdir / f"redis{index}") for index in range(count)]
    try:
        for server in servers:
            server.start()
        yield [server.url for server in servers], servers
    finally:
        for server in servers:
            server.stop()


@contextmanager
def cluster(primaries: int, workdir: Path) -> Iterator[tuple[list[Any], list[RedisServer]]]:
    servers = RedisClusterServers(workdir, primaries, replicas=0)
    try:
        servers.start()
        yield [{"cluster": servers.url}], servers.nodes
    finally:
        servers.stop()


TOPOLOGIES: dict[str, Callable[[int, Path], Any]] = {"hosts": independent_hosts, "cluster": cluster}


def cpu_seconds(server: RedisServer) -> float:
    with server.client() as client:
        info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


# One configuration


def run_one(mode: str, shards: int, args: argparse.Namespace) -> dict[str, Any]:
    groups = [f"room{index}" for index in range(args.groups)]
    with tempfile.TemporaryDirectory() as workdir, TOPOLOGIES[mode](shards, Path(workdir)) as (hosts, servers):
        stop, go = _CONTEXT.Event(), _CONTEXT.Event()
        counts = [_CONTEXT.RawValue("q", 0) for _ in range(args.subscribers)]
        lasts = [_CONTEXT.RawValue("d", 0.0) for _ in range(args.subscribers)]
        ready = [_CONTEXT.Event() for _ in range(args.subscribers + args.publishers)]
        workers = [
            _CONTEXT.Process(target=_subscriber, args=(hosts, groups, ready[index], stop, counts[index], lasts[index]))
            for index in range(args.subscribers)
        ] + [
            _CONTEXT.Process(
                target=_publisher,
                args=(
                    hosts,
                    groups,
                    args.messages,
                    index * args.groups // args.publishers,
                    ready[args.subscribers + index],
                    go,
                ),
            )
            for index in range(args.publishers)
        ]
        for worker in workers:
            worker.start()
        try:
            for event in ready:
                if not event.wait(120):
                    raise RuntimeError("a benchmark process did not get ready within 120 s")
            expected = args.messages * args.publishers * args.subscribers
            before = [cpu_seconds(server) for server in servers]
            started = time.monotonic()
            go.set()
            _wait_for(lambda: sum(c.value for c in counts) >= expected, stalled=lambda: sum(c.value for c in counts))
            finished = max(last.value for last in lasts)
            cpu = [cpu_seconds(server) - then for server, then in zip(servers, before, strict=True)]
        finally:
            stop.set()
            for worker in workers:
                worker.join(30)
                if worker.is_alive():
                    worker.kill()
        published = args.messages * args.publishers
        delivered = sum(c.value for c in counts)
        return {
            "mode": mode,
            "shards": shards,
            "published": published,
            "delivered": delivered,
            "seconds": round(finished - started, 3),
            "deliveries_per_second": round(delivered / (finished - started)),
            "redis_cpu_us_per_message": round(sum(cpu) / published * 1e6, 2),
            "busiest_server_cpu_us_per_message": round(max(cpu) / published * 1e6, 2),
            "bound_messages_per_second": round(published / max(cpu)),
            "redis_cpu_seconds": [round(seconds, 3) for seconds in cpu],
        }


def _wait_for(done: Callable[[], bool], stalled: Callable[[], int], patience: float = 10) -> None:
    """Until ``done``; fails if the count ``stalled`` reads stops moving for ``patience`` seconds."""
    progress, moved_at = stalled(), time.monotonic()
    while not done():
        time.sleep(0.01)
        if (now := stalled()) != progress:
            progress, moved_at = now, time.monotonic()
        elif time.monotonic() - moved_at > patience:
            raise RuntimeError(f"deliveries stopped at {progress}")


# Why sharded pub/sub: what one message costs each node of a cluster


def broadcast_cost(messages: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        servers = RedisClusterServers(Path(workdir), 3, replicas=0)
        servers.start()
        try:
            owner = servers.primary_of("bench")
            for publish, subscribe in (("PUBLISH", "SUBSCRIBE"), ("SPUBLISH", "SSUBSCRIBE")):
                subscriber = redis.Redis(host="127.0.0.1", port=owner.port, protocol=2)
                pubsub = subscriber.pubsub()
                pubsub.execute_command(subscribe, "bench")
                before = [cpu_seconds(node) for node in servers.nodes]
                with owner.client() as client:
                    for start in range(0, messages, 1000):
                        pipe = client.pipeline(transaction=False)
                        for _ in range(min(1000, messages - start)):
                            pipe.execute_command(publish, "bench", "x" * 100)
                        pipe.execute()
                time.sleep(0.5)  # the cluster bus forwards PUBLISH after the reply
                cpu = [cpu_seconds(node) - then for node, then in zip(servers.nodes, before, strict=True)]
                pubsub.close()
                subscriber.close()
                other = [seconds for node, seconds in zip(servers.nodes, cpu, strict=True) if node is not owner]
                rows.append({
                    "command": publish,
                    "owner_cpu_us_per_message": round(cpu[servers.nodes.index(owner)] / messages * 1e6, 2),
                    "other_nodes_cpu_us_per_message": round(sum(other) / messages * 1e6, 2),
                })  # fmt: skip
        finally:
            servers.stop()
    return rows


RUN_COLUMNS = [
    ("mode", "mode", "<8"),
    ("shards", "shards", ">6"),
    ("deliveries/s", "deliveries_per_second", ">13,"),
    ("Redis CPU µs/msg", "redis_cpu_us_per_message", ">17.2f"),
    ("busiest µs/msg", "busiest_server_cpu_us_per_message", ">15.2f"),
    ("bound msg/s", "bound_messages_per_second", ">12,"),
]
BROADCAST_COLUMNS = [
    ("3-primary cluster", "command", "<18"),
    ("owner µs/msg", "owner_cpu_us_per_message", ">13.2f"),
    ("other nodes µs/msg", "other_nodes_cpu_us_per_message", ">19.2f"),
]


def _median(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Each number's median; the per-server CPU lists stay in the JSON's runs."""
    return {
        key: statistics.median(r[key] for r in results) if isinstance(value, (int, float)) else value
        for key, value in results[0].items()
        if not isinstance(value, list)
    }


def _line(columns: list[tuple[str, str, str]], row: dict[str, Any] | None = None) -> str:
    """The header (no ``row``) or one row of a table."""
    if row is None:
        return " ".join(format(title, spec.split(".")[0].rstrip(",")) for title, _, spec in columns)
    return " ".join(format(row[key], spec) for _, key, spec in columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--messages", type=int, default=20_000, help="group_sends per publisher process")
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--subscribers", type=int, default=2)
    parser.add_argument("--modes", default="hosts,cluster")
    parser.add_argument("--shards", default="1,2,3")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved: A B C A B C ...; medians reported")
    args = parser.parse_args()
    configurations = [(mode, shards) for mode in args.modes.split(",") for shards in map(int, args.shards.split(","))]
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {configuration: [] for configuration in configurations}
    for repeat in range(args.repeats):
        for mode, shards in configurations:
            runs[mode, shards].append(run_one(mode, shards, args))
            print(f"repeat {repeat + 1}: " + _line(RUN_COLUMNS, runs[mode, shards][-1]), file=sys.stderr)
    rows = [_median(results) for results in runs.values()]
    print(f"medians of {args.repeats} interleaved repeats")
    print(_line(RUN_COLUMNS))
    for row in rows:
        print(_line(RUN_COLUMNS, row))
    broadcast = broadcast_cost(50_000)
    print("\n" + _line(BROADCAST_COLUMNS))
    for row in broadcast:
        print(_line(BROADCAST_COLUMNS, row))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y%m%d-%H%M%S}-scale-out.json"
    results = {"arguments": vars(args), "medians": rows, "runs": [run for rs in runs.values() for run in rs]}
    path.write_text(json.dumps({**results, "broadcast": broadcast}, indent=2))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
