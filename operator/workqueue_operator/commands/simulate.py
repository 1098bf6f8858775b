"""``workqueue-operator simulate``: score sizing strategies by replaying a task trace."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from workqueue_operator.sizing.replay import ReplayResult, score
from workqueue_operator.sizing.resources import DEFAULT_MACHINE, RESOURCES, Allocation
from workqueue_operator.sizing.strategies import STRATEGIES
from workqueue_operator.sizing.traces import load_trace


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="replay a resources_all.txt trace against sizing strategies",
        description=(
            "Replay a task trace in order against one sizing strategy (or all) and print each "
            "resource's efficiency (used x time / allocated x time) and the failed attempts."
        ),
    )
    parser.add_argument("--trace", required=True, type=Path, metavar="FILE", help="trace file")
    parser.add_argument(
        "--strategy",
        default="all",
        choices=[*STRATEGIES, "all"],
        metavar="NAME",
        help=f"one of {', '.join(STRATEGIES)}, or all (default)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of random choices (0)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--machine-cores", type=float, default=DEFAULT_MACHINE.cores, metavar="N")
    parser.add_argument(
        "--machine-memory-mb", type=float, default=DEFAULT_MACHINE.memory_mb, metavar="MB"
    )
    parser.add_argument(
        "--machine-disk-mb", type=float, default=DEFAULT_MACHINE.disk_mb, metavar="MB"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    machine = Allocation(args.machine_cores, args.machine_memory_mb, args.machine_disk_mb)
    if min(machine.values()) <= 0:
        print("simulate: the machine's cores, memory and disk must be positive", file=sys.stderr)
        return 2
    try:
        trace = load_trace(args.trace)
    except OSError as error:
        print(f"simulate: cannot read {args.trace}: {error.strerror or error}", file=sys.stderr)
        return 2
    if trace.malformed:
        print(
            f"simulate: skipped {trace.malformed} malformed line(s) in {args.trace} "
            f"(first: line {trace.first_malformed_line})",
            file=sys.stderr,
        )
    if not trace.samples:
        print(f"simulate: no tasks in {args.trace}", file=sys.stderr)
        return 1
    names = list(STRATEGIES) if args.strategy == "all" else [args.strategy]
    results = {name: score(trace.samples, STRATEGIES[name], machine, args.seed) for name in names}
    if args.json:
        print(json.dumps({name: r.as_json() for name, r in results.items()}, indent=2))
    else:
        print(format_table(results))
    return 0


def format_table(results: dict[str, ReplayResult]) -> str:
    """A fixed-width table: strategy, efficiency of each resource, failed attempts."""
    width = max([len("strategy"), *map(len, results)])
    header = f"{'strategy':<{width}}" + "".join(f"  {r.value:>7}" for r in RESOURCES)
    lines = [header + "  failed"]
    for name, result in results.items():
        cells = "".join(f"  {result.score(r).efficiency:7.3f}" for r in RESOURCES)
        lines.append(f"{name:<{width}}{cells}  {result.failed_attempts:6d}")
    return "\n".join(lines)
