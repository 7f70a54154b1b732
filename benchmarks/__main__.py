"""Run the benchmark suite from the repository root:

    python -m benchmarks --quick                      # smoke run, about a minute and a half
    python -m benchmarks                              # full sizes, 3 interleaved repeats
    python -m benchmarks --scenarios fanout,churn --backends fanout,pubsub --repeats 5
    python -m benchmarks --scenarios fanout --backends fanout --repeats 1 --profile pyinstrument
    python -m benchmarks --scenarios history,recovery          # the cost of history, and recovery under kills
    python -m benchmarks --scenarios websocket-room-pg --backends fanout,pubsub --repeats 1 \
        --profile cprofile --profile-role daphne                  # where the daphne processes spend their CPU

See docs/benchmarks.md for what each scenario measures.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .backends import ALIASES, OPTIONS, parse_backend
from .profiling import PROFILERS
from .runner import RESULTS, Options, run_suite
from .scenarios import SCENARIOS, Scenario


def _names(text: str, known: dict[str, object] | None = None) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if known is not None:
        unknown = [name for name in names if name not in known]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown)}; choose from {', '.join(known)}")
    return names


def _chosen(names: list[str] | None, quick: bool) -> list[Scenario]:
    """The scenarios named, or by default all of them (the smoke ones with ``--quick``)."""
    if names is not None:
        return [SCENARIOS[name] for name in names]
    return [scenario for scenario in SCENARIOS.values() if scenario.smoke or not quick]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and 1 repeat: a smoke run of a minute or two")
    parser.add_argument(
        "--scenarios",
        type=lambda text: _names(text, dict(SCENARIOS)),
        help=f"comma-separated, from: {', '.join(SCENARIOS)} (default: all; with --quick, those marked for it)",
    )
    parser.add_argument(
        "--backends",
        type=_names,
        default=list(ALIASES),
        help=f"comma-separated short names ({', '.join(ALIASES)}) or dotted class paths (default: all; each "
        "scenario runs those it takes)",
    )
    parser.add_argument("--repeats", type=int, help="interleaved repeats per scenario (default: 3, or 1 with --quick)")
    parser.add_argument(
        "--timeout", type=float, help="seconds one run may take before it fails (default: 300; 60 with --quick)"
    )
    parser.add_argument("--profile", choices=PROFILERS, help="profile one worker per run and print its top functions")
    parser.add_argument("--profile-role", help="which worker role to profile (default: the scenario's receiving side)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"where JSON and profiles go (default: {RESULTS})")
    parser.add_argument("--list", action="store_true", help="list scenarios and backends, then exit")
    arguments = parser.parse_args(argv)
    if arguments.list:
        for scenario in SCENARIOS.values():
            print(f"{scenario.name:<14} {scenario.describe(quick=arguments.quick)}")
        for name, path in ALIASES.items():
            print(f"{name:<14} {path}" + (f" with {OPTIONS[name]}" if name in OPTIONS else ""))
        return 0
    try:
        backends = [parse_backend(name) for name in arguments.backends]
    except ValueError as exc:
        parser.error(str(exc))
    options = Options(
        scenarios=_chosen(arguments.scenarios, arguments.quick),
        backends=backends,
        repeats=arguments.repeats or (1 if arguments.quick else 3),
        quick=arguments.quick,
        timeout=arguments.timeout or (60 if arguments.quick else 300),
        profiler=arguments.profile,
        profile_role=arguments.profile_role,
        output=arguments.output,
    )
    run_suite(options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
