"""The suite: scenarios x backends in interleaved repeats (A B C A B C ...) on one private redis-server.

Each run gets fresh worker processes and an emptied Redis; its numbers, Redis's deltas and any
failure go to one JSON file in ``benchmarks/results/``, and the medians to a table on stdout.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.redis_server import RedisServer

from .backends import Backend
from .harness import Run
from .machine import describe
from .processes import WorkerFailed
from .profiling import summary
from .report import render_text
from .scenarios import Scenario
from .targets import check

__all__ = ["Options", "RESULTS", "run_suite"]

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Options:
    scenarios: list[Scenario]
    backends: list[Backend]
    repeats: int
    quick: bool
    timeout: float
    profiler: str | None
    profile_role: str | None
    output: Path


def run_suite(options: Options) -> Path:
    """Run everything, write the JSON, print the table; returns the JSON's path."""
    options.output.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S") + ("-quick" if options.quick else "")
    results: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks", *sys.argv[1:]]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": options.quick,
        "repeats": options.repeats,
        "backends": {backend.name: backend.path for backend in options.backends},
        "backend_options": {backend.name: backend.options for backend in options.backends if backend.options},
        "scenarios": {},
    }
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="channels-bench-") as workdir:
        server = RedisServer(Path(workdir) / "redis")
        server.start()
        try:
            results["machine"] = describe(server)
            for scenario in options.scenarios:
                results["scenarios"][scenario.name] = _run_scenario(scenario, options, server, stamp)
        finally:
            server.stop()
    results["seconds"] = round(time.monotonic() - began, 1)
    results["targets"] = check(results)
    path = options.output / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=1, default=str))
    print(render_text(results))
    print(f"\nwritten to {path}")
    return path


def _run_scenario(scenario: Scenario, options: Options, server: RedisServer, stamp: str) -> dict[str, Any]:
    params = scenario.params(options.quick)
    backends = [b for b in options.backends if scenario.takes(b)]
    title = scenario.describe(options.quick)
    print(f"== {scenario.name}: {title}", flush=True)
    runs = []
    for repeat in range(options.repeats):
        for backend in backends:
            runs.append(_run_once(scenario, params, backend, repeat, options, server, stamp))
    return {
        "title": title,
        "params": params,
        "metrics": [asdict(metric) for metric in scenario.metrics],
        "references": list(scenario.references),
        "skipped": [b.name for b in options.backends if b not in backends],
        "runs": runs,
        "medians": _medians(scenario, backends, runs),
    }


def _run_once(
    scenario: Scenario,
    params: dict[str, Any],
    backend: Backend,
    repeat: int,
    options: Options,
    server: RedisServer,
    stamp: str,
) -> dict[str, Any]:
    with server.client() as client:
        client.flushall()
    label = f"{stamp}-{scenario.name}-{backend.name}-{repeat + 1}"
    run = Run(
        backend,
        server,
        label,
        timeout=params.get("timeout", options.timeout),
        profiler=options.profiler,
        profile_role=options.profile_role or scenario.profile_role,
        profile_dir=options.output,
    )
    began, load = time.monotonic(), os.getloadavg()[0]  # the load says how noisy the machine was
    try:
        outcome = scenario.run(run, params)
    except (WorkerFailed, TimeoutError) as exc:
        outcome = {"error": str(exc)}
    except Exception:  # a bug in one scenario must not lose the other runs' results
        outcome = {"error": traceback.format_exc()}
    finally:
        run.close()
    if backend.in_memory and "metrics" in outcome:
        outcome["metrics"].update({metric.key: None for metric in scenario.metrics if metric.redis})
    seconds = time.monotonic() - began
    record = {"backend": backend.name, "repeat": repeat + 1, "seconds": round(seconds, 2), "load": load, **outcome}
    _print_progress(scenario, record)
    for path in run.profiles:
        print(f"-- profile of {backend.name} ({path}) --\n{summary(path)}\n", flush=True)
    record["profiles"] = run.profiles
    if run.teardown_errors:
        record["teardown_errors"] = run.teardown_errors
    return record


def _print_progress(scenario: Scenario, record: dict[str, Any]) -> None:
    head = f"  #{record['repeat']} {record['backend']:<10} {record['seconds']:6.1f}s"
    if "error" in record:
        print(f"{head}  FAILED: {record['error'].strip().splitlines()[-1]}", flush=True)
        return
    shown = []
    for metric in scenario.metrics[:4]:
        value = record["metrics"].get(metric.key)
        shown.append(f"{metric.key}={'-' if value is None else round(value, metric.digits)}")
    print(f"{head}  {' '.join(shown)}", flush=True)


def _medians(scenario: Scenario, backends: list[Backend], runs: list[dict[str, Any]]) -> dict[str, Any]:
    medians: dict[str, Any] = {}
    for backend in backends:
        ok = [run["metrics"] for run in runs if run["backend"] == backend.name and "metrics" in run]
        failed = sum(1 for run in runs if run["backend"] == backend.name and "error" in run)
        values: dict[str, float | None] = {}
        for metric in scenario.metrics:
            present = [m[metric.key] for m in ok if m.get(metric.key) is not None]
            values[metric.key] = statistics.median(present) if present else None
        medians[backend.name] = {"values": values, "runs": len(ok), "failed": failed}
    return medians
