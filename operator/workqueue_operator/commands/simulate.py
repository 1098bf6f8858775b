"""``workqueue-operator simulate``: score sizing strategies by replaying a task trace."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workqueue_operator.sizing.replay import ReplayResult
from workqueue_operator.sizing.resources import DEFAULT_MACHINE, RESOURCES, Allocation
from workqueue_operator.sizing.trace_checks import input_problems, machine_problems
from workqueue_operator.values.samples import Sample

if TYPE_CHECKING:
    from workqueue_operator.sizing.rules import Rules

RULE_CHOICES = ("papers", "operator", "both")
HINDSIGHT = "hindsight-ladder"
"""The name ``--hindsight`` prints the best fixed ladder in hindsight under."""
CCTOOLS_MAX_TASKS = 5000
"""Above this many tasks for one learner, ``--strategy all`` leaves CCTools' modes out: each
keeps its points in a sorted linked list and its greedy modes rebucket all of them after every
task, so the time grows as the cube of the tasks (2,000 tasks: minutes; 30,000: days)."""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="replay a task trace against sizing strategies",
        description=(
            "Replay a task trace (resources_all.txt or the papers' CSV) in order against one "
            "sizing strategy (or all) under the papers' and the operator's rules, and print "
            "each resource's efficiency (used x time / allocated x time) and the failed "
            "attempts. CCTools' own bucketing modes are included when a CCTools build is "
            "found (scripts/cctools.sh and scripts/cctools.sh devel build them)."
        ),
    )
    parser.add_argument("--trace", required=True, type=Path, metavar="FILE", help="trace file")
    parser.add_argument(
        "--strategy", default="all", metavar="NAME", help="a strategy name, or all (default)"
    )
    parser.add_argument(
        "--rules",
        default="both",
        choices=RULE_CHOICES,
        help="the papers' rules, the operator's, or both (default)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of random choices (0)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--hindsight",
        action="store_true",
        help=(
            f"also print {HINDSIGHT}: the cheapest fixed ladders of the whole trace, known in "
            "advance, played under each rule set (a reference for how much learning costs, "
            "not a strategy a pool can run)"
        ),
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="replay CCTools' modes even when a result for the same inputs is cached",
    )
    parser.add_argument(
        "--cctools-max-tasks",
        type=int,
        default=CCTOOLS_MAX_TASKS,
        metavar="N",
        help=f"--strategy all leaves CCTools out above N tasks per learner ({CCTOOLS_MAX_TASKS})",
    )
    parser.add_argument("--machine-cores", type=float, default=DEFAULT_MACHINE.cores, metavar="N")
    parser.add_argument(
        "--machine-memory-mb", type=float, default=DEFAULT_MACHINE.memory_mb, metavar="MB"
    )
    parser.add_argument(
        "--machine-disk-mb", type=float, default=DEFAULT_MACHINE.disk_mb, metavar="MB"
    )
    parser.set_defaults(func=run)


def say(message: str) -> None:
    """A message to standard error."""
    print(f"simulate: {message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    machine = Allocation(args.machine_cores, args.machine_memory_mb, args.machine_disk_mb)
    problems = machine_problems(machine)
    if problems:
        for problem in problems:
            say(problem)
        return 2
    # Imported here: the strategies import numpy, which --help does not need.
    from workqueue_operator.sizing import suite  # noqa: PLC0415
    from workqueue_operator.sizing.cctools_builds import HOW_TO_BUILD  # noqa: PLC0415
    from workqueue_operator.sizing.traces import TraceFormatError, load_trace  # noqa: PLC0415

    known = suite.strategy_names()
    if args.strategy != "all" and args.strategy not in known:
        hint = (
            ""
            if any(n.startswith("cctools-") for n in known)
            else f"; to add CCTools': {HOW_TO_BUILD}"
        )
        say(f"no strategy {args.strategy!r}: choose among {', '.join(known)}, or all{hint}")
        return 2
    try:
        trace = load_trace(args.trace)
    except OSError as error:
        say(f"cannot read {args.trace}: {error.strerror or error}")
        return 2
    except TraceFormatError as error:
        say(f"{args.trace}: {error}")
        return 2
    if trace.malformed:
        say(
            f"skipped {trace.malformed} malformed line(s) in {args.trace} (first: line "
            f"{trace.first_malformed_line}: {trace.first_malformed_reason})"
        )
    if not trace.samples:
        say(f"no tasks in {args.trace}")
        return 1
    errors, warnings = input_problems(trace.samples, machine)
    for message in (*warnings, *errors):
        say(message)
    if errors:
        return 1
    names = pick_names(args, known, trace.samples, HOW_TO_BUILD)
    rule_sets = rules_for(args.rules, suite.RULE_SETS)
    results: dict[str, dict[str, ReplayResult]] = {}
    for entry in suite.runs(names, rule_sets):
        section = results.setdefault(entry.rules.name, {})
        section[entry.name] = suite.score_run(
            trace.samples, entry, machine, args.seed, use_cache=not args.no_cache
        )
    if args.hindsight:
        add_hindsight(results, trace.samples, rule_sets, machine, args.seed)
    titles = {r.name: r.title for r in rule_sets}
    if args.json:
        print(json.dumps({k: {n: r.as_json() for n, r in v.items()} for k, v in results.items()}))
    else:
        print("\n\n".join(f"{titles[k]}\n{format_table(v)}" for k, v in results.items()))
    return 0


def add_hindsight(
    results: dict[str, dict[str, ReplayResult]],
    samples: Sequence[Sample],
    rule_sets: Sequence[Rules],
    machine: Allocation,
    seed: int,
) -> None:
    """The best fixed ladders in hindsight under each rule set that gives the whole machine
    before anything is known (CCTools' defaults start from a guess instead)."""
    from workqueue_operator.sizing.hindsight import hindsight  # noqa: PLC0415
    from workqueue_operator.sizing.replay import score  # noqa: PLC0415
    from workqueue_operator.sizing.rules import RULE_SETS  # noqa: PLC0415

    for rules in rule_sets:
        if rules in RULE_SETS:
            section = results.setdefault(rules.name, {})
            section[HINDSIGHT] = score(samples, hindsight(samples, rules), machine, seed)


def rules_for(choice: str, rule_sets: dict[str, Rules]) -> list[Rules]:
    """The rule sets of a ``--rules`` choice; CCTools' defaults always come last."""
    chosen = ["papers", "operator"] if choice == "both" else [choice]
    return [rule_sets[name] for name in [*chosen, "cctools"]]


def largest_learner(samples: Sequence[Sample]) -> int:
    """Tasks of the largest category (CCTools keeps a manager per category)."""
    counts: dict[str, int] = {}
    for sample in samples:
        counts[sample.category] = counts.get(sample.category, 0) + 1
    return max(counts.values(), default=0)


def pick_names(
    args: argparse.Namespace, known: list[str], samples: Sequence[Sample], how_to_build: str
) -> list[str]:
    """The strategies to run, saying why CCTools' are missing when they are."""
    if args.strategy != "all":
        return [args.strategy]
    cctools = [n for n in known if n.startswith("cctools-")]
    if not cctools:
        say(f"no CCTools build found, so CCTools' own bucketing is not compared: {how_to_build}")
        return known
    tasks = len(samples) if args.rules != "operator" else largest_learner(samples)
    if tasks > args.cctools_max_tasks:
        say(
            f"CCTools' modes left out: a learner would see {tasks} tasks, above "
            f"--cctools-max-tasks {args.cctools_max_tasks} (CCTools keeps its points in a "
            "sorted list and its greedy modes rebucket all of them after every task, so the "
            "time grows as the cube of the tasks); name one with --strategy to run it anyway"
        )
        return [n for n in known if n not in cctools]
    return known


def cell(value: float) -> str:
    """An efficiency, or n/a when nothing was allocated."""
    return "    n/a" if math.isnan(value) else f"{value:7.3f}"


def format_table(results: dict[str, ReplayResult]) -> str:
    """A fixed-width table: strategy, efficiency of each resource, failed attempts."""
    width = max([len("strategy"), *map(len, results)])
    header = f"{'strategy':<{width}}" + "".join(f"  {r.value:>7}" for r in RESOURCES)
    lines = [header + "  failed"]
    for name, result in results.items():
        cells = "".join(f"  {cell(result.score(r).efficiency)}" for r in RESOURCES)
        lines.append(f"{name:<{width}}{cells}  {result.failed_attempts:6d}")
    return "\n".join(lines)
