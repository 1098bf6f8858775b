"""Generate docs/sizing.md and docs/sizing-efficiency.png from trace replays.

    .venv/bin/python bench/gen_sizing_doc.py [--traces DIR] [--out DIR] [--seed 0] [--jobs N]

Replays every trace ``DIR/*/resources_all.txt`` against every strategy (the registry's and
CCTools' own modes, when a CCTools build is found) under the papers' and the operator's rules,
CCTools' modes also as CCTools runs them out of the box, plus variants of the own strategy;
then writes the Markdown report and a chart of the memory efficiencies. CCTools' results come
from the replay cache (``sizing/replay_cache.py``); filling it takes about two hours of CPU the
first time (all 168 runs on the shared traces: 6,631 s, the slowest 175 s; 57 minutes, then
48 min 38 s in a later run, with ``--jobs 2`` including the report, 2026-12-07), because
CCTools' greedy modes rebucket every point after every task; ``--jobs N`` fills it with N
processes (one a core by default) before the report is written; with it full the whole run
takes about 80 s.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import matplotlib
from matplotlib import pyplot as plt

from bench_buckets import TARGET_MS, baseline, median_ms, synthetic_samples
from bench_replay import TARGET_S, synthetic_csv
from workqueue_operator.sizing import suite
from workqueue_operator.sizing.cctools_builds import HOW_TO_BUILD, find_builds
from workqueue_operator.sizing.cctools_link import plan
from workqueue_operator.sizing.hindsight import hindsight
from workqueue_operator.sizing.recommend import BUCKETING, compute_buckets
from workqueue_operator.sizing.replay import ReplayResult, score
from workqueue_operator.sizing.resources import DEFAULT_MACHINE, RESOURCES
from workqueue_operator.sizing.rules import OPERATOR, PAPERS, Rules, under
from workqueue_operator.sizing.strategies import OWN_STRATEGY, STRATEGIES
from workqueue_operator.sizing.strategies.adaptive import AdaptiveLadder, AdaptiveSettings
from workqueue_operator.sizing.strategies.base import Strategy, StrategyConfig
from workqueue_operator.sizing.strategies.cctools import cctools_strategies
from workqueue_operator.sizing.traces import load_trace
from workqueue_operator.values.samples import Sample

REPO = Path(__file__).resolve().parents[1]
REAL = ("coffea", "lobsterCMSanalysis", "bioblast")
SYNTHETIC = ("bimodal", "trimodal", "exponential", "normal_large", "uniform_large")
GREEDY = "greedy-bucketing"
CCTOOLS_GREEDY = "cctools-greedy"
GREEDY_SEEDS = range(5)
RULES = (PAPERS, OPERATOR)
DEFAULTS = suite.CCTOOLS_DEFAULTS

VARIANTS: dict[str, AdaptiveSettings] = {
    "cheapest ladder": AdaptiveSettings(one_standard_error=False),
    "no record model": AdaptiveSettings(records=False),
    "records unweighted": AdaptiveSettings(records_by_position=False),
    "balanced coupling": AdaptiveSettings(memory_coupling=None),
    "no coupling": AdaptiveSettings(coupling=0.0, memory_coupling=None),
    "no decay": AdaptiveSettings(half_life=0.0),
    "no shift detection": AdaptiveSettings(shift_alpha=0.0),
}
"""The own strategy with one design choice changed (see VARIANTS_NOTE)."""

Table = dict[str, ReplayResult]  # strategy -> result
Results = dict[str, dict[str, Table]]  # trace -> rule set -> table
Missing = list[tuple[str, str, str]]  # (trace, rule set, strategy) of CCTools runs not replayed
Hindsight = dict[str, dict[str, dict[float, ReplayResult]]]  # trace -> rule set -> c -> result


def variant(settings: AdaptiveSettings) -> Callable[[StrategyConfig], Strategy]:
    """A factory of the own strategy with other settings."""
    return lambda config: AdaptiveLadder(config, settings)


def traces_in(directory: Path) -> list[Path]:
    """The traces, real first, then synthetic, then anything else."""
    known = (*REAL, *SYNTHETIC)

    def order(path: Path) -> tuple[int, str]:
        name = path.parent.name
        return (known.index(name) if name in known else len(known), name)

    return sorted(directory.glob("*/resources_all.txt"), key=order)


def replay_all(
    paths: Sequence[Path], seed: int, *, with_cctools: bool, cached_only: bool = False
) -> tuple[Results, Results, Missing]:
    """Every strategy under every rule set, and the variants, on every trace; with
    ``cached_only``, CCTools' runs only from the replay cache (the others are returned)."""
    names = suite.strategy_names() if with_cctools else list(STRATEGIES)
    main: Results = {}
    variants: Results = {}
    missing: Missing = []
    for path in paths:
        name = path.parent.name
        samples = load_trace(path).samples
        main[name] = {}
        for run in suite.runs(names, (*RULES, DEFAULTS)):
            started = time.perf_counter()
            table = main[name].setdefault(run.rules.name, {})
            if cached_only and run.is_cctools:
                found = suite.cached_result(samples, run, DEFAULT_MACHINE, seed)
                if found is None:
                    missing.append((name, run.rules.name, run.name))
                    continue
                table[run.name] = found
                continue
            table[run.name] = suite.score_run(samples, run, DEFAULT_MACHINE, seed)
            elapsed = time.perf_counter() - started
            print(f"{name:<20} {run.rules.name:<9} {run.name:<26} {elapsed:7.1f} s", flush=True)
        variants[name] = {
            rules.name: {
                label: score(samples, under(rules, variant(settings)), DEFAULT_MACHINE, seed)
                for label, settings in VARIANTS.items()
            }
            for rules in RULES
        }
    return main, variants, missing


def replay_timed(path: Path, rules_name: str, name: str, seed: int) -> float:
    """Replay one trace against one run (its result goes to the replay cache); seconds taken."""
    started = time.perf_counter()
    run = suite.Run(suite.RULE_SETS[rules_name], name)
    suite.score_run(load_trace(path).samples, run, DEFAULT_MACHINE, seed)
    return time.perf_counter() - started


def fill_cctools_cache(paths: Sequence[Path], seed: int, jobs: int) -> None:
    """Replay every CCTools run on every trace in ``jobs`` processes, so that the report's own
    pass finds each result in the replay cache (cached runs take no time here either)."""
    names = list(cctools_strategies())
    todo = [
        (p, run.rules.name, run.name)
        for p in paths
        for run in suite.runs(names, (*RULES, DEFAULTS))
    ]
    print(f"CCTools replays: {len(todo)} runs in {jobs} processes", flush=True)
    with ProcessPoolExecutor(jobs) as pool:
        futures = {pool.submit(replay_timed, *job, seed): job for job in todo}
        for future in as_completed(futures):
            path, rules_name, name = futures[future]
            elapsed = future.result()
            print(f"{path.parent.name:<20} {rules_name:<9} {name:<26} {elapsed:7.1f} s", flush=True)


def greedy_spread(paths: Sequence[Path], rules: Rules) -> dict[str, list[float]]:
    """Greedy bucketing's memory efficiency over seeds (the noise of a random baseline)."""
    factory = suite.factory(suite.Run(rules, GREEDY))
    return {
        path.parent.name: [
            score(load_trace(path).samples, factory, DEFAULT_MACHINE, s).memory.efficiency
            for s in GREEDY_SEEDS
        ]
        for path in paths
    }


def ceiling(samples: Sequence[Sample], rules: Rules) -> float:
    """Memory efficiency if every task after the rules' cold start got exactly its use."""
    machine = DEFAULT_MACHINE.memory_mb
    used = cold = 0.0
    finished: dict[str, int] = {}
    for sample in samples:
        key = rules.learner_of(sample.category)
        use = min(sample.memory_mb, machine) * sample.wall_time_s
        used += use
        if finished.get(key, 0) < rules.cold_start:
            cold += machine * sample.wall_time_s - use
        finished[key] = finished.get(key, 0) + 1
    return used / (used + cold) if used + cold > 0 else math.nan


def fmt(value: float) -> str:
    """An efficiency cell."""
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def points(gap: float) -> str:
    """A difference in points, with a third decimal where two would round it to zero."""
    return f"{gap:+.2f}" if abs(gap) >= 0.005 else f"{gap:+.3f}"


def side_by_side(tables: dict[str, Table]) -> list[str]:
    """Markdown rows: each strategy under each rule set (cores, memory, disk, failed)."""
    rules = list(tables)
    head = " | ".join(f"{r} cores | {r} memory | {r} disk | {r} failed" for r in rules)
    rows = [f"| strategy | {head} |", "|---|" + "---:|" * (4 * len(rules))]
    names = list(dict.fromkeys(n for t in tables.values() for n in t))
    for name in names:
        label = f"**{name}**" if name == OWN_STRATEGY else name
        cells = []
        for rule in rules:
            result = tables[rule].get(name)
            if result is None:
                cells.append(" | | | ")
                continue
            effs = [fmt(result.score(r).efficiency) for r in RESOURCES]
            cells.append(" | ".join([*effs, str(result.failed_attempts)]))
        rows.append(f"| {label} | {' | '.join(cells)} |")
    return rows


def best_other(table: Table) -> tuple[str, ReplayResult]:
    """The non-oracle strategy with the highest memory efficiency other than the own."""
    others = {n: r for n, r in table.items() if n not in (*suite.ORACLES, OWN_STRATEGY)}
    name = max(others, key=lambda n: others[n].memory.efficiency)
    return name, others[name]


@dataclass(frozen=True)
class Cell:
    """One trace under one of ``RULES``: the own result, the best other's, CCTools greedy's."""

    trace: str
    rules: Rules
    own: ReplayResult
    other: str
    best: ReplayResult
    greedy: ReplayResult | None


def cells(main: Results) -> Iterator[Cell]:
    """Every trace under every one of ``RULES``, in order."""
    for name, by_rules in main.items():
        for rules in RULES:
            table = by_rules[rules.name]
            other, best = best_other(table)
            yield Cell(name, rules, table[OWN_STRATEGY], other, best, table.get(CCTOOLS_GREEDY))


@dataclass(frozen=True)
class Shortfall:
    """How far the own strategy is from the first target: its memory efficiency in points
    under the best other's (0 at or above it) and its failed attempts over CCTools' greedy's
    (0 when no more, or when CCTools' greedy did not run)."""

    memory_points: float
    more_failures: int

    @property
    def met(self) -> bool:
        return self.memory_points == 0 and self.more_failures == 0


def shortfall(own: ReplayResult, best: ReplayResult, greedy: ReplayResult | None) -> Shortfall:
    """The own strategy's shortfall from the best other's memory and CCTools' greedy's failures."""
    gap = 100 * (own.memory.efficiency - best.memory.efficiency)
    more = 0 if greedy is None else max(0, own.failed_attempts - greedy.failed_attempts)
    return Shortfall(min(0.0, gap), more)


def first_target(own: ReplayResult, best: ReplayResult, greedy: ReplayResult | None) -> str:
    """Whether the own memory is at least the best other's with no more failed attempts than
    CCTools' greedy (when it ran), and by how much it is missed."""
    missed = shortfall(own, best, greedy)
    verdict = "met" if missed.met else "MISSED"
    if missed.memory_points < 0:
        verdict += f" (memory {points(missed.memory_points)} points)"
    if missed.more_failures:
        verdict += f" ({missed.more_failures} more failures)"
    return verdict


def targets(main: Results, paths: Sequence[Path], missing: Missing) -> list[str]:
    """Per trace and rule set: the own memory against the best other, failures against
    CCTools' greedy, and (operator's rules, real traces) the gain over greedy."""
    rows = [
        "| trace | rules | own memory | best other (memory, failed) | own failed | "
        "CCTools greedy failed | ceiling | memory >= all, failed <= CCTools greedy |",
        "|---|---|---:|---|---:|---:|---:|---|",
    ]
    samples = {p.parent.name: load_trace(p).samples for p in paths}
    for cell in cells(main):
        own, best, greedy = cell.own, cell.best, cell.greedy
        verdict = first_target(own, best, greedy)
        absent = sum(1 for m in missing if m[:2] == (cell.trace, cell.rules.name))
        if greedy is None and not absent:
            verdict += " among those compared (CCTools' modes not run)"
        elif absent:
            verdict += f" among those compared ({absent} CCTools runs not replayed)"
        rows.append(
            f"| {cell.trace} | {cell.rules.name} | {own.memory.efficiency:.4f} | {cell.other} "
            f"({best.memory.efficiency:.4f}, {best.failed_attempts}) | "
            f"{own.failed_attempts} | {greedy.failed_attempts if greedy else 'n/a'} | "
            f"{ceiling(samples[cell.trace], cell.rules):.4f} | {verdict} |"
        )
    return rows


def out_of_the_box(main: Results) -> list[str]:
    """Per trace, from CCTools' first guess: the own memory against every CCTools mode's,
    failures against CCTools' greedy's, and the gain over the better CCTools greedy."""
    rows = [
        "| trace | own memory | best CCTools mode (memory, failed) | own failed | "
        "CCTools greedy failed | gain over CCTools greedy (points) | "
        "memory >= all, failed <= CCTools greedy |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for name, by_rules in main.items():
        table = by_rules.get(DEFAULTS.name, {})
        own = table.get(OWN_STRATEGY)
        modes = {n: r for n, r in table.items() if n != OWN_STRATEGY}
        if own is None or not modes:
            continue
        best = max(modes, key=lambda n: modes[n].memory.efficiency)
        greedies = [modes[n] for n in modes if n.startswith(CCTOOLS_GREEDY)]
        greedy = modes.get(CCTOOLS_GREEDY)
        verdict = first_target(own, modes[best], greedy)
        gain = "n/a"  # neither CCTools greedy replayed (--cctools-cached-only)
        if greedies:
            best_greedy = max(g.memory.efficiency for g in greedies)
            gain = f"{100 * (own.memory.efficiency - best_greedy):+.2f}"
        rows.append(
            f"| {name} | {own.memory.efficiency:.4f} | {best} "
            f"({modes[best].memory.efficiency:.4f}, {modes[best].failed_attempts}) | "
            f"{own.failed_attempts} | {greedy.failed_attempts if greedy else 'n/a'} | "
            f"{gain} | {verdict} |"
        )
    return rows


def greedy_gain(main: Results, paths: Sequence[Path], known: Hindsight) -> list[str]:
    """Real traces, operator's rules: own memory minus greedy's (ours and CCTools'), with what a
    clairvoyant strategy and the best fixed ladder in hindsight would gain."""
    rows = [
        "| trace | own memory | greedy-bucketing | cctools-greedy | gain (points) | ceiling | "
        "headroom (points) | hindsight ladder | its gain (points) | +5 points over both greedies |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    samples = {p.parent.name: load_trace(p).samples for p in paths}
    for name in REAL:
        if name not in main:
            continue
        table = main[name][OPERATOR.name]
        own = table[OWN_STRATEGY].memory.efficiency
        greedies = [table[n].memory.efficiency for n in (GREEDY, CCTOOLS_GREEDY) if n in table]
        gain = 100 * (own - max(greedies))
        cctools = table.get(CCTOOLS_GREEDY)
        top = ceiling(samples[name], OPERATOR)
        fixed = known[name][OPERATOR.name][0.0].memory.efficiency
        rows.append(
            f"| {name} | {own:.4f} | {table[GREEDY].memory.efficiency:.4f} | "
            f"{fmt(cctools.memory.efficiency) if cctools else 'n/a'} | {gain:+.2f} | "
            f"{top:.4f} | {100 * (top - max(greedies)):.2f} | {fixed:.4f} | "
            f"{100 * (fixed - max(greedies)):+.2f} | {'met' if gain >= 5 else 'MISSED'}"
            f"{'' if cctools else ' (over ours; CCTools greedy not replayed)'} |"
        )
    return rows


COUPLINGS = (0.0, 0.25, 0.5, 1.0, 2.0)
"""Memory couplings the trade-off section replays (0: the default; 2: "balanced coupling")."""
HINDSIGHT_COUPLINGS = (*(i / 8 for i in range(17)), 3.0, 4.0, 8.0)
"""Memory couplings of the hindsight ladders: finer, since a random mix of two ladders reaches
only the points between them (c = 8 is one rung, the maximum, on every trace here)."""


def tradeoff(main: Results, paths: Sequence[Path], seed: int, known: Hindsight) -> list[str]:
    """Per trace and rule set: the own memory and failures at each memory coupling, against the
    first target (the best other's memory, CCTools greedy's failures); and the best random mix
    of two of those couplings' ladders, learnt and known in hindsight."""
    columns = " | ".join(f"c = {c:g}" for c in COUPLINGS)
    rows = [
        f"| trace | rules | target: memory >=, failed <= | {columns} | met at some c | "
        "best memory at <= failed (mix of two c) | the same, hindsight ladders |",
        "|---|---|---|" + "---:|" * len(COUPLINGS) + "---|---:|---:|",
    ]
    for path in paths:
        name = path.parent.name
        if name not in main:
            continue
        samples = load_trace(path).samples
        for rules in RULES:
            table = main[name][rules.name]
            memory = best_other(table)[1].memory.efficiency
            greedy = table.get(CCTOOLS_GREEDY)
            limit = greedy.failed_attempts if greedy else None
            cells, met, results = [], [], []
            for coupling in COUPLINGS:
                settings = AdaptiveSettings(memory_coupling=coupling)
                if settings == AdaptiveSettings():  # the shipped strategy: already replayed
                    result = table[OWN_STRATEGY]
                else:
                    factory = under(rules, variant(settings))
                    result = score(samples, factory, DEFAULT_MACHINE, seed)
                both = result.memory.efficiency >= memory and (
                    limit is None or result.failed_attempts <= limit
                )
                results.append(result)
                cell = f"{result.memory.efficiency:.4f} / {result.failed_attempts}"
                cells.append(f"**{cell}**" if both else cell)
                if both:
                    met.append(f"{coupling:g}")
            fixed = list(known[name][rules.name].values())
            mixed = "n/a" if limit is None else f"{best_mix(results, limit):.4f}"
            fixed_mix = "n/a" if limit is None else f"{best_mix(fixed, limit):.4f}"
            bound = "n/a" if limit is None else str(limit)
            rows.append(
                f"| {name} | {rules.name} | {memory:.4f}, {bound} | "
                f"{' | '.join(cells)} | {', '.join(met) if met else 'no'} | {mixed} | "
                f"{fixed_mix} |"
            )
    return rows


def best_mix(results: Sequence[ReplayResult], limit: int) -> float:
    """The best memory efficiency, with at most ``limit`` failed attempts expected, of giving
    each task one of two replays' ladders at random (NaN when none fails few enough).

    The own strategy learns from finished tasks' use only, so its ladders do not depend on
    which ladder earlier tasks got: a task given the second with probability ``p`` adds, in
    expectation, ``p`` of its allocation and failures there and ``1 - p`` of the first's.
    Memory x time allocated and failures are therefore linear in ``p``."""
    best = math.nan
    for low in results:
        for high in results:
            if high.failed_attempts > limit or low.memory.allocated <= 0:
                continue
            share = 0.0  # the first fails few enough by itself
            if low.failed_attempts > limit:
                share = (low.failed_attempts - limit) / (low.failed_attempts - high.failed_attempts)
            allocated = (1 - share) * low.memory.allocated + share * high.memory.allocated
            efficiency = low.memory.used / allocated
            if not efficiency <= best:
                best = efficiency
    return best


def hindsight_all(paths: Sequence[Path], seed: int) -> Hindsight:
    """The best fixed ladders in hindsight (``sizing/hindsight.py``) of every trace under every
    rule set, at each of ``HINDSIGHT_COUPLINGS``."""
    results: Hindsight = {}
    for path in paths:
        samples = load_trace(path).samples
        results[path.parent.name] = {
            rules.name: {
                c: score(samples, hindsight(samples, rules, c), DEFAULT_MACHINE, seed)
                for c in HINDSIGHT_COUPLINGS
            }
            for rules in RULES
        }
    return results


def why_missed(main: Results, known: Hindsight) -> list[str]:
    """Each half of the first target that is missed, read against the hindsight ladders: a
    memory miss is a change in use followed by the best other, or the cost of learning; a
    failure miss is out of reach of every fixed ladder, or a matter of the memory coupling."""
    rows = ["| trace | rules | missed | why (the hindsight ladders say) |", "|---|---|---|---|"]
    for cell in cells(main):
        fixed = known[cell.trace][cell.rules.name]
        where = f"| {cell.trace} | {cell.rules.name} |"
        missed = shortfall(cell.own, cell.best, cell.greedy)
        if missed.memory_points < 0:
            gap = points(missed.memory_points)
            rows.append(f"{where} memory ({gap} points) | {memory_miss(cell, fixed[0.0])} |")
        if missed.more_failures and cell.greedy is not None:
            target, limit = cell.best.memory.efficiency, cell.greedy.failed_attempts
            why = failure_miss(target, limit, fixed)
            rows.append(f"{where} failures ({missed.more_failures} more) | {why} |")
    return rows


def memory_miss(cell: Cell, fixed: ReplayResult) -> str:
    """Why the own memory is under the best other's: a change in use the best other follows
    (it is above the hindsight ladder), or the cost of learning (the hindsight ladder is not)."""
    target, top = cell.best.memory.efficiency, fixed.memory.efficiency
    if target > top:
        return (
            f"{cell.other} ({target:.4f}) is above the best fixed ladder known in advance "
            f"({top:.4f}): it follows a change in use over time better than {OWN_STRATEGY} does"
        )
    meets = (
        "it"
        if cell.greedy is None or fixed.failed_attempts <= cell.greedy.failed_attempts
        else (f"its memory half (not its failures: {fixed.failed_attempts})")
    )
    return (
        f"the best fixed ladder known in advance ({top:.4f}) would meet {meets}: the memory miss "
        f"is the cost of learning the distribution ({OWN_STRATEGY} "
        f"{points(100 * (cell.own.memory.efficiency - top))} points from it)"
    )


def failure_miss(target: float, limit: int, fixed: dict[float, ReplayResult]) -> str:
    """Why the own strategy fails more than CCTools' greedy, from the hindsight ladders at every
    memory coupling: out of reach for any ladder, the cost of learning, or the coupling."""
    mixed = best_mix(list(fixed.values()), limit)
    cheapest = fixed[0.0]
    if not mixed >= target:
        best = "none" if math.isnan(mixed) else f"{mixed:.4f}"
        return (
            "no fixed ladder known in advance, nor a random mix of two, fails no more than "
            f"{limit} times with memory at least {target:.4f} (best: {best}): out of reach for "
            "a ladder"
        )
    if cheapest.failed_attempts <= limit and cheapest.memory.efficiency >= target:
        return (
            f"the memory-cheapest fixed ladder known in advance "
            f"({cheapest.memory.efficiency:.4f}, {cheapest.failed_attempts} failed) meets both "
            "halves: the miss is the cost of learning the distribution"
        )
    return (
        f"ladders known in advance reach {mixed:.4f} at no more than {limit} failures only by "
        "mixing in one of a memory coupling above 0 (fewer rungs, more memory per task); "
        f"{OWN_STRATEGY}'s memory ladder is charged for memory alone (c = 0), see the trade-off "
        "below"
    )


def against_hindsight(main: Results, known: Hindsight) -> list[str]:
    """Per trace and rule set: the own strategy and the best other against the cheapest fixed
    ladder known in advance (memory coupling 0, as the own strategy's)."""
    rows = [
        "| trace | rules | own (memory / failed) | hindsight ladder (memory / failed) | "
        "own minus hindsight (points) | best other (memory) | best other minus hindsight "
        "(points) |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for cell in cells(main):
        own, fixed = cell.own, known[cell.trace][cell.rules.name][0.0]
        top = fixed.memory.efficiency
        rows.append(
            f"| {cell.trace} | {cell.rules.name} | {own.memory.efficiency:.4f} / "
            f"{own.failed_attempts} | {top:.4f} / {fixed.failed_attempts} | "
            f"{points(100 * (own.memory.efficiency - top))} | "
            f"{cell.other} ({cell.best.memory.efficiency:.4f}) | "
            f"{points(100 * (cell.best.memory.efficiency - top))} |"
        )
    return rows


def plot(main: Results, out: Path) -> None:
    """Memory efficiency of each strategy on each trace, one panel per rule set."""
    matplotlib.use("Agg")
    traces = list(main)
    seen = {n: None for t in traces for r in RULES for n in main[t][r.name]}
    names = [n for n in seen if n not in suite.BASELINES]
    figure, axes = plt.subplots(len(RULES), 1, figsize=(14, 9), sharex=True)
    width = 0.85 / len(names)
    colors = plt.get_cmap("tab20")
    for axis, rules in zip(axes, RULES, strict=True):
        for index, name in enumerate(names):
            found = [main[t][rules.name].get(name) for t in traces]
            heights = [r.memory.efficiency if r else 0.0 for r in found]
            offset = (index - len(names) / 2 + 0.5) * width
            positions = [i + offset for i in range(len(traces))]
            hatch = "//" if name == OWN_STRATEGY else None
            axis.bar(positions, heights, width, label=name, hatch=hatch, color=colors(index))
        axis.set_ylabel(f"memory efficiency\n({rules.name}'s rules)")
        axis.set_ylim(0, 1)
        axis.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(range(len(traces)), traces, rotation=20)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, ncol=5, fontsize=8, loc="upper center")
    figure.suptitle("Trace replay on a 16-core, 64,000 MB, 64,000 MB-disk machine", y=0.995)
    figure.tight_layout(rect=(0, 0, 1, 0.88))
    figure.savefig(out, dpi=100)
    plt.close(figure)


def speed() -> list[str]:
    """compute_buckets timings on 100,000 synthetic samples, with the baseline."""
    samples = synthetic_samples(100_000, 0)
    floor = median_ms(lambda: baseline(samples), 3)
    rows = ["| what | ms | x baseline |", "|---|---:|---:|"]
    rows.append(f"| baseline: read samples + sort each resource | {floor:.1f} | 1.00 |")
    for name in BUCKETING:
        elapsed = median_ms(partial(compute_buckets, samples, name), 3)
        rows.append(f'| `compute_buckets(..., "{name}")` | {elapsed:.1f} | {elapsed / floor:.2f} |')
    return rows


def full_size(scratch: Path, tasks: int = 30_000) -> list[str]:
    """Replay a synthetic full-size trace through every registered strategy, timed."""
    path = scratch / "tasks.csv"
    path.write_text(synthetic_csv(tasks, 0))
    started = time.perf_counter()
    samples = load_trace(path).samples
    score(samples, STRATEGIES["whole-machine"])
    floor = time.perf_counter() - started
    rows = ["| rules | strategy | s | memory | failed |", "|---|---|---:|---:|---:|"]
    total = 0.0
    for run in suite.runs(list(STRATEGIES), RULES):
        started = time.perf_counter()
        result = suite.score_run(samples, run)
        elapsed = time.perf_counter() - started
        total += elapsed
        rows.append(
            f"| {run.rules.name} | {run.name} | {elapsed:.2f} | "
            f"{result.memory.efficiency:.3f} | {result.failed_attempts} |"
        )
    rows.append(
        f"| **all** | every strategy, both rule sets | **{total:.1f}** | | |\n\nBaseline "
        f"(read the CSV + replay `whole-machine` once): {floor:.2f} s; target {TARGET_S:.0f} s: "
        f"{'met' if total <= TARGET_S else 'MISSED'}."
    )
    return rows


def cctools_note(*, with_cctools: bool, missing: Missing) -> str:
    """Which CCTools builds were compared, how their code was built, and which runs are not
    on this page."""
    if not with_cctools:
        return WITHOUT_CCTOOLS_NOTE
    builds = find_builds()
    if not builds:
        return f"No CCTools build was found, so CCTools' own code is not compared: {HOW_TO_BUILD}."
    lines = [plan(build).description for build in builds]
    text = "CCTools builds compared:\n\n" + "\n".join(f"* {line}" for line in lines)
    if missing:
        by_cell: dict[tuple[str, str], list[str]] = {}
        for trace, rules, strategy in missing:
            by_cell.setdefault((trace, rules), []).append(f"`{strategy}`")
        cells = [f"* {t}, {r}: {', '.join(names)}" for (t, r), names in by_cell.items()]
        text += "\n\n" + NOT_REPLAYED_NOTE.format(count=len(missing)) + "\n\n" + "\n".join(cells)
    return text


def document(main: Results, seed: int, *, with_cctools: bool, missing: Missing) -> str:
    """The report's description and result tables."""
    paths_note = cctools_note(with_cctools=with_cctools, missing=missing)
    lines = [HEADER.format(seed=seed), paths_note, "", STRATEGY_NOTES, ""]
    lines += ["## Results", "", "![memory efficiency per strategy](sizing-efficiency.png)", ""]
    lines += [RESULTS_NOTE, ""]
    for name, by_rules in main.items():
        lines += [f"### {name}", "", *side_by_side({r.name: by_rules[r.name] for r in RULES}), ""]
        if by_rules.get(DEFAULTS.name):
            lines += [f"Out of the box on {name} ({OUT_OF_THE_BOX}):", ""]
            lines += [*side_by_side({DEFAULTS.name: by_rules[DEFAULTS.name]}), ""]
    return "\n".join(lines)


def report(
    main: Results,
    variants: Results,
    spread: dict[str, list[float]],
    known: Hindsight,
    *,
    paths: Sequence[Path],
    seed: int,
    scratch: Path,
    with_cctools: bool,
    missing: Missing,
) -> str:
    """The document with targets, variants, noise and speed sections."""
    lines = [document(main, seed, with_cctools=with_cctools, missing=missing)]
    lines += ["## Targets", "", TARGETS_NOTE, "", *targets(main, paths, missing), ""]
    lines += [GAIN_NOTE, "", *greedy_gain(main, paths, known), ""]
    if any(DEFAULTS.name in by_rules for by_rules in main.values()):
        lines += [OUT_OF_THE_BOX_NOTE, "", *out_of_the_box(main), ""]
    lines += [SPREAD_NOTE, "", "| trace | greedy-bucketing memory efficiency, seeds 0-4 |"]
    lines += ["|---|---|"]
    lines += [f"| {n} | {', '.join(f'{v:.4f}' for v in vs)} |" for n, vs in spread.items()]
    lines += ["", HINDSIGHT_NOTE, "", *against_hindsight(main, known), ""]
    lines += [WHY_NOTE, "", *why_missed(main, known), ""]
    lines += [TRADEOFF_NOTE, "", *tradeoff(main, paths, seed, known), ""]
    lines += [VARIANTS_NOTE, ""]
    for name, by_rules in variants.items():
        tables = {
            r.name: {OWN_STRATEGY: main[name][r.name][OWN_STRATEGY], **by_rules[r.name]}
            for r in RULES
        }
        lines += [f"### {name} (variants)", "", *side_by_side(tables), ""]
    lines += [SPEED_NOTE.format(target=TARGET_MS), "", *speed(), ""]
    lines += [FULL_SIZE_NOTE, "", *full_size(scratch), "", FOOTER]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=REPO.parent / "shared" / "traces")
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--without-cctools",
        action="store_true",
        help="leave CCTools' own modes out (their first replays take hours; see the page)",
    )
    parser.add_argument(
        "--cctools-cached-only",
        action="store_true",
        help="take CCTools' runs from the replay cache only; the page lists those not replayed",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="processes that replay CCTools' modes before the report (default: one a core)",
    )
    args = parser.parse_args()
    with_cctools = not args.without_cctools
    paths = traces_in(args.traces)
    if not paths:
        print(f"no */resources_all.txt under {args.traces}", file=sys.stderr)
        return 1
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, not {args.jobs}")
    cached_only = args.cctools_cached_only
    if with_cctools and args.jobs > 1 and not cached_only:
        fill_cctools_cache(paths, args.seed, args.jobs)
    main_results, variant_results, missing = replay_all(
        paths, args.seed, with_cctools=with_cctools, cached_only=cached_only
    )
    spread = greedy_spread(paths, OPERATOR)
    known = hindsight_all(paths, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(main_results, args.out / "sizing-efficiency.png")
    scratch = args.out / ".full-size"
    scratch.mkdir(exist_ok=True)
    try:
        text = report(
            main_results,
            variant_results,
            spread,
            known,
            paths=paths,
            seed=args.seed,
            scratch=scratch,
            with_cctools=with_cctools,
            missing=missing,
        )
    finally:
        for leftover in scratch.iterdir():
            leftover.unlink()
        scratch.rmdir()
    (args.out / "sizing.md").write_text(text + "\n")
    print(f"wrote {args.out / 'sizing.md'} and {args.out / 'sizing-efficiency.png'}")
    return 0


WITHOUT_CCTOOLS_NOTE = """**This generation leaves CCTools' own modes out**
(`--without-cctools`): CCTools keeps its points in a sorted list and its greedy modes rebucket
all of them after every task, so the time of a replay grows as the cube of the tasks and the
whole set takes about two hours of CPU here the first time (results are then cached by content,
`sizing/replay_cache.py`). Compare one trace with
`workqueue-operator simulate --trace FILE --strategy cctools-greedy` (or any `cctools-*` mode),
or regenerate this page without the flag."""

NOT_REPLAYED_NOTE = """**{count} CCTools runs are not on this page**
(`--cctools-cached-only`: the page takes CCTools' results from the replay cache, and these were
not replayed yet; CCTools' greedy modes rebucket every point after every task, so one run takes
from seconds to over ten minutes here). Their cells are empty, and a target below is judged
among the strategies compared:"""

HEADER = """# Sizing: strategies and how they score

<!-- Generated by bench/gen_sizing_doc.py; do not edit by hand. -->

Work Queue runs a task inside limits (cores, memory, disk); a task that goes over a limit is
stopped and retried with larger ones. Sizing picks those limits (and the worker pod shapes that
hold them) from what earlier tasks of the same category used. This page scores the strategies
in `operator/workqueue_operator/sizing/strategies/`, the published ones re-implemented here, and
CCTools' own bucketing code, by replaying the traces in `../shared/traces` (seed {seed}) under
one set of rules for everyone. Reproduce with `.venv/bin/python bench/gen_sizing_doc.py`, or
one trace with `workqueue-operator simulate --trace FILE --strategy all` (a `resources_all.txt`
or the papers' per-task CSV, `category,cores,memory,disk,cpu_time,wall_time`).

## The replay model (`sizing/replay.py`)

* Tasks run one after another in trace order, on a machine of 16 cores, 64,000 MB memory and
  64,000 MB disk (the bucketing papers' simulator; `--machine-*` to change). A task's
  allocation comes only from what finished before it.
* An attempt **fails** when the task's measured peak is above its allocation in any of cores,
  memory, disk. **Assumption:** a failed attempt runs for the task's full wall time before it is
  stopped (the traces do not say when a limit was hit), so its allocation x wall time is
  wasted. The task then retries with a larger allocation from the strategy; the resources that
  were not exceeded keep their value (a proposal below the failed allocation is raised to it).
* An allocation never exceeds the machine. Use is capped at the machine (`simulate` warns when
  a trace goes over it), so an attempt that gets the whole machine never fails. A retry that
  does not raise an exceeded resource gets the machine for it, so every task finishes.
* **Efficiency** of a resource = sum(use x wall time) / sum(allocation x wall time over all
  attempts, failed ones included). **Failed attempts** counts every failure.
* The strategy hears of each failed attempt (what the monitor saw: use capped at the limit,
  result `RESOURCE_EXHAUSTION`) and of each finished task, in order.
* Random choices use one `random.Random(seed)`, so a replay is reproducible.

## One set of rules for everyone (`sizing/rules.py`)

Every learning strategy (ours, the re-implementations, CCTools' code) is wrapped by the same
rules, so that none gets information another lacks:

* **papers' rules**: one learner for all tasks (categories pooled); the first 10 tasks of the
  trace run on the whole machine (the papers' cold start).
* **operator's rules**: one learner per category, fed only that category's tasks; until a
  category has a finished task, its tasks run on the whole machine, which stands for the pool's
  declared worker size (what a WorkerPool does).

The learner is built with the rules' cold start (`StrategyConfig.cold_start`), so a strategy's
own cold start ends with the rules'; for CCTools this sets the manager's sampling points. The
baselines (`whole-machine`, `declared-max`) learn nothing and run as they are. CCTools' modes
are also run **out of the box**, as a TaskVine user gets them: one manager per category, from
the first task on, with CCTools' first guess (1 core, 1000 MB memory, 1000 MB disk, doubled on
each failure) during its 10 sampling points; nothing runs on the whole machine. Beside them
`adaptive-ladder` runs from the same first guess (`sizing/first_guess.py`): per category, until
the category has a finished task, its tasks start at 1 core, 1000 MB, 1000 MB and double what
they exceed; then its learner decides, as under the operator's rules.
"""

OUT_OF_THE_BOX = "CCTools' modes as they ship; adaptive-ladder from CCTools' first guess"

STRATEGY_NOTES = """## The strategies

* `whole-machine` (baseline): every task gets the machine; never fails, wastes what it does
  not use.
* `declared-max` (oracle): every task gets the maximum of the whole trace, a perfect user
  declaration; a retry would get the machine. Left out of the comparisons below.
* `min-waste` (Work Queue's first allocation, Tovar et al., IEEE TPDS 2017): per resource, the
  value `a` of the histogram of seen values (weighted by wall time) that minimises
  `a E[t] + a_max E[t; x > a]`; a retry gets the maximum seen, then the machine.
* `max-throughput` (same paper): the `a` that maximises tasks per unit time on an
  `a_max`-sized slot, `((a_max/a) P(x <= a) + P(x > a)) / (E[t] + E[t; x > a])`.
* `greedy-bucketing` (Phung et al., WORKS 2021; re-implementation of CCTools
  `bucketing_greedy`): per resource, the sorted values are split recursively where the expected
  cost of allocating from the lower or upper half is least, until no split pays; recent tasks
  weigh more (the i-th weighs i). A bucket is drawn at random by its share; a retry draws among
  the higher buckets; above the top the value doubles, up to the machine.
* `exhaustive-bucketing` (Phung et al.; re-implementation of CCTools `bucketing_exhaust`): for
  1 to 10 linear steps (plus the powers of two below them) the candidate buckets with the lowest
  expected cost of random draws and retries win; draws as greedy.
* `kmeans-bucketing` (Phung et al.'s simulator): per resource, 1-D k-means with 2 clusters
  (the published configuration; the exact 2-means split of the sorted values); a bucket is a
  cluster's largest value; draws as greedy.
* `cctools-<mode>`: **CCTools' own C code**, `bucketing_manager_*` from `libdttools.a`, driven
  through ctypes (`sizing/cctools_*.py`, `strategies/cctools.py`) exactly as TaskVine's manager
  drives it: `bucketing_manager_predict(m, task_id)` for each attempt,
  `bucketing_manager_add_resource_report` with what the monitor measured and `limits_exceeded`
  after a failure, with `success = 1` when the task finishes. Modes: `greedy`, `exhaustive`
  (7.17.1 and the devel head), `det-greedy`, `det-exhaustive` (deterministic, PR #4302) and
  `quantized` (devel head). `cctools-<mode>` is the devel head, `cctools-<mode>@7.17.1` the
  release. CCTools' defaults are kept (increase rate 2, 10 buckets at most, rebucketing after
  every task; quantized's default of one bucket, the maximum), except the sampling points,
  which follow the rules' cold start (10 under the papers', 1 under the operator's). Its random
  draws come from CCTools' twister, seeded from the replay's random stream before each
  prediction. The traces have no GPUs, so that resource type is removed from the managers.
* **`adaptive-ladder`** (this project, `strategies/adaptive.py`, `strategies/ladder_dp.py`):
  * **Cheapest retry ladder, deterministic.** For each resource it chooses rungs
    `a_1 < ... < a_k` (at most 10) that minimise the expected resource x time of trying them in
    order, `sum_m (a_m + c) S(a_(m-1))`, `S(a)` being the weight of tasks above `a`. Dynamic
    programming finds the optimum exactly over the distinct values, merged into at most 96
    quantile levels. The first attempt gets the lowest rung, a retry the next rung above the
    failed value.
  * **No rung for noise** (`ladder_dp.fewest_within_one_error`). The cheapest ladder is chosen
    on the tasks it is scored on, so its saving over a ladder of fewer rungs is biased up: the
    optimiser puts a rung where the sample's tail happens to be thin, and later tasks fail on
    it. Of the cheapest ladders of 1, 2, ... rungs, the learner takes the one of fewest rungs
    whose expected cost is within one standard error of the cheapest's (after Breiman et al.'s
    one-standard-error rule, here on the sample the ladders are fitted to): the error of the
    mean per-task difference in cost over the sampled tasks, with Kish's effective number of
    tasks behind the weights (wall time x recency; an approximation that takes the weights as
    unrelated to the difference). The record model's mass, below, counts in the mean; it is
    extrapolated from a few records, so the sample's error stands for the whole difference,
    not only for its sampled share. A candidate no dearer than the cheapest always passes. Few
    tasks keep few rungs unless a rung saves a lot; the bar falls as tasks come, down to what
    the half-life's effective size allows. The ladder above the top (records' excesses) is the
    plain cheapest one.
  * **Weights are wall time x recency.** Waste is resource x time, so long tasks count more;
    weights halve every 1000 tasks, so a phase change takes over.
  * **A shift in use** (`strategies/shift.py`). When use moves up for good
    (coffea's pooled stream: 450 MB tasks replace 100 MB ones), decay alone keeps the old first
    rung, and fails the new tasks, for hundreds of tasks. At each refit, for every suffix of the
    newest 100 tasks, Chernoff's bound `exp(-m D(k/m || p))` says how unlikely its `k` of `m`
    tasks above the first rung are when the history puts a task there with probability `p`
    (Laplace's rule over the history's effective size). When the least likely suffix's bound is
    under `10^-6 / 100` (Bonferroni over the suffixes: a false alarm with chance at most
    10^-6 per resource and refit), the learner keeps only that suffix and refits. Steady
    streams never trigger it (the synthetic traces' replays are unchanged to the last bit);
    WorkerPools' buckets follow the same rule.
  * **Records: the next task may beat every earlier one.** How often a task went above all the
    tasks before it (recency-weighted) is the chance that the next one will, and how far those
    records went past the previous maximum (relative excess) is how far it will go, each record
    weighed by its position `i` in the history (divided by `1/i`, the chance of a record there
    when tasks are exchangeable): records crowd the first few tasks whatever the distribution,
    and an excess over the maximum of a handful of tasks says little of one over the maximum of
    the whole history, so unweighted those first records would set the headroom for the rest of
    the run (coffea's category 2: +124 % from 201 to 450 MB at its 3rd task; its other records
    +0.2 % to +1.3 % up to its 766th task, then +2.9 % and +9.1 % at its 1435th and 1483rd).
    That mass
    joins the distribution the ladder is computed from, scaled to the current maximum, so the
    top rung sits where a slowly drifting or tight distribution's next task is likely to land,
    and a retry above every rung climbs a ladder over the past records' excesses before it
    doubles. This replaces doubling the maximum, which costs a tight distribution nearly twice
    its allocation on each new record, and the empirical tail, which says a new record has
    probability 0.
  * **Coupling, memory first.** A failed attempt wastes every resource's allocation. Memory
    efficiency counts the memory a failure wastes by itself, so the memory ladder is charged
    its own allocation only (`c = 0`: the ladder of least expected memory x time, within the
    noise rule above); the cores and disk ladders are
    charged `c = 2` x the resource's mean per attempt (a mean task's worth of each of the two
    other resources, memory first among them), because their failures waste memory.
  * The learner sees what the rules give it (one category, or all); with nothing finished it
    gives the whole machine. The constants (half-life 1000 tasks, 2 other resources, growth 2 as
    in CCTools, 96 levels, 10 rungs, one standard error, a shift's 10^-6 and 100 tasks) are
    fixed a priori; the
    variants below show what each choice does. `workqueue-operator simulate --trace
    ../shared/traces/coffea/resources_all.txt --strategy adaptive-ladder` replays one trace.
* The operator gets the same computation as pure functions (`sizing/recommend.py`):
  `compute_buckets(samples, strategy, max_buckets)` returns joint shapes (cores, memory, disk)
  with the share of tasks each covers, and `category_policy(samples, strategy)` the policy that
  allocates a category's first attempts and retries.
* The re-implementations and `adaptive-ladder` recompute their ladders after every task for
  the first 100 tasks, then whenever the learner's history has grown by 1 % (the maximum seen
  is always current); this bounds a 30,000-task replay's work (see the last section)."""

RESULTS_NOTE = """Each table gives every strategy under the papers' rules and under the
operator's rules (efficiency of cores, memory, disk, and failed attempts); CCTools' modes out of
the box follow."""

TARGETS_NOTE = """Target: under both rule sets, `adaptive-ladder`'s memory efficiency at least
every non-oracle strategy's (CCTools' modes included), with no more failed attempts than
CCTools' greedy (`cctools-greedy`, the devel head). *Ceiling*: the memory efficiency of a
clairvoyant strategy that gives every task after the rules' cold start exactly its use, so the
cold start alone caps what any strategy can reach."""

GAIN_NOTE = """Target: on the real traces under the operator's rules, `adaptive-ladder`'s memory
efficiency at least 5 points above greedy bucketing's (the better of ours and CCTools').
*Headroom*: the ceiling minus the better greedy, the most any strategy could gain over it; where
it is under 5 points the target is out of reach for every strategy, clairvoyant ones included.
*Hindsight ladder*: each category's cheapest fixed ladder of all its tasks, known in advance
(`sizing/hindsight.py`, see "Against the best fixed ladder in hindsight"); its gain is what a
ladder gets that has nothing left to learn about the distribution. Where that is under 5 points,
+5 takes more than a better estimate of each category's distribution: following changes of use
over time, or knowing each task's use before it runs."""

OUT_OF_THE_BOX_NOTE = """Out of the box: the same comparison from CCTools' first guess (1 core,
1000 MB, 1000 MB, doubled on failure) instead of the whole machine: `adaptive-ladder` from that
guess until its category's first finished task, against every CCTools mode as it ships (its own
10 sampling points from the same guess). Under the operator's rules a category's first task gets
the whole machine, and that alone is what keeps their ceilings above below 1 (bioblast's most,
where first tasks run long); a small first guess does not pay it."""

SPREAD_NOTE = """Greedy bucketing draws buckets at random; its memory efficiency over seeds 0-4
under the operator's rules shows the noise of that baseline (`adaptive-ladder` is
deterministic)."""

HINDSIGHT_NOTE = """## Against the best fixed ladder in hindsight

`sizing/hindsight.py` gives each learner (a category under the operator's rules, all tasks under
the papers') the cheapest ladders of all of its tasks in the trace, computed in advance the way
`adaptive-ladder` computes its own (weights by wall time alone, memory coupling 0, cores and disk
2) but with no one-standard-error rule (it knows the distribution: no sampling noise), and
plays them once the rules' cold start is over. It knows the distribution of each learner's use,
never one task's use. For tasks drawn independently from one distribution (the
synthetic traces), a strategy that does not see a task's use before it runs cannot do better in
expectation than the cheapest ladder of that distribution (within the ladder's limits: at most
10 rungs over 96 levels, each resource on its own), so *own minus hindsight* is what
`adaptive-ladder` loses by having to learn the distribution, and a strategy above the hindsight
ladder there is ahead by the luck of the draw. On a real trace whose use changes over time, a
strategy that follows the change can beat every fixed ladder; *best other minus hindsight* above
0 says how much following it pays there. For a trace of your own, `workqueue-operator simulate
--trace FILE --strategy adaptive-ladder --hindsight` prints it as `hindsight-ladder` under each
rule set."""

WHY_NOTE = """Why each miss of the first target (the table "Targets" above), read against the
hindsight ladders: a memory miss where the best other is above every fixed ladder known in
advance comes from a change in use over time that it follows better; one where a fixed ladder
known in advance would meet it is what learning costs. A failure miss where no fixed ladder
known in advance, nor a random mix of two (couplings as in the trade-off below), meets both
halves is out of reach for a ladder; otherwise it is the price of a ladder charged for memory
alone."""

TRADEOFF_NOTE = """## Memory against failures

The first target asks for two things at once: memory at least the best other strategy's, and
no more failed attempts than CCTools' greedy. The memory ladder's coupling `c` (what each
attempt is charged on top of its allocation, in means of the memory used) trades one for the
other: at `c = 0`, the default, the ladder is the one of least expected memory x time (within
one standard error: "No rung for noise" above); a larger
`c` makes every extra rung pay for the failures it causes, so the ladder has fewer rungs, fewer
tasks fail, and more memory goes unused. Each cell replays `adaptive-ladder` at one `c` and gives
memory efficiency / failed attempts; **bold** cells meet both halves of the target. The last
column is the best memory efficiency that fails no more than CCTools' greedy when each task is
given one of two of these ladders at random (`best_mix`: allocation and failures are linear in
the share, since the ladders are learnt from finished tasks' use alone); where it is below the
target memory, no ladder of this family, nor a random mix of two, meets both halves. The last
column does the same with the hindsight ladders (the section above) at memory couplings 0 to 2
in steps of 1/8, 3, 4 and 8 (one rung, the maximum): where it is below the target memory too,
not even ladders that know the distribution in advance, nor a random mix of two of them, meet
both halves; the miss is then not the learner's.

Why: under the papers' rules the synthetic traces' categories are drawn independently and
pooled, so nothing tells a task of the upper mode from one of the lower before it runs. A ladder
tried from its lowest rung fails every upper-mode task once, which is the memory-cheapest order;
CCTools' greedy draws the first bucket at random, so some of those tasks start high and do not
fail, and the lower-mode tasks that draw the high bucket waste memory instead. Fewer rungs cut
the failures only by giving more tasks the upper bucket."""


VARIANTS_NOTE = """## Where the gain comes from

Variants of `adaptive-ladder` with one design choice changed, under both rule sets: *cheapest
ladder* takes the cheapest ladder on the sample however little it saves over one of fewer rungs
(no one-standard-error rule); *no record
model* drops the records (the ladder ends at the maximum seen, and a retry above it doubles);
*records unweighted* learns every record's excess alike, whatever its position in the history;
*balanced coupling* charges the memory ladder `c = 2` x its mean too (every resource's waste
counted alike, as before); *no coupling* charges no ladder for the other resources; *no decay*
weighs old and new tasks alike; *no shift detection* never forgets the tasks before a shift in
use."""

SPEED_NOTE = """## Computing buckets

`bench/bench_buckets.py` times `compute_buckets` on 100,000 seeded synthetic samples (values
nearly all distinct) against a baseline measured in the same run: reading the samples into
arrays and sorting each resource. Target for `adaptive-ladder`: {target:.0f} ms. Figures at
generation time (median of 3 runs, 2-core machine, other work running):"""

FULL_SIZE_NOTE = """## Full-size traces

The papers' raw per-task data reach 30,000 tasks. `bench/bench_replay.py` writes a seeded
30,000-task trace in their CSV format (three categories: a tight normal, two modes, an
exponential tail; some wall times 0), reads it back as `simulate` does and replays it through
every registered strategy under both rule sets. CCTools' own modes are not in this suite: each
keeps its points in a sorted linked list and its greedy modes rebucket all of them after every
task (time growing as the cube of the tasks: a 2,000-task trace takes minutes), so `simulate`
leaves them out above `--cctools-max-tasks` (5,000) tasks per learner.
`bench/replay_fingerprint.py` prints every registered strategy's full result on a trace (counts,
used and allocated resource x time as exact hex floats, a digest of every allocation handed out)
to check that a speed-up leaves results identical; `tests/unit/test_sizing_pins.py` pins them on
a small seeded trace and coffea. Figures at generation time:"""

FOOTER = """## Files

* `sizing/traces.py`: reads `resources_all.txt` and the papers' CSV (malformed lines counted
  and skipped, the first one's reason reported; a CSV header without a needed column is an
  error naming it); `sizing/trace_checks.py`: the input checks `simulate` reports;
* `sizing/replay.py`: the replay and its scores; `sizing/rules.py`: the rule sets;
  `sizing/first_guess.py`: a strategy from CCTools' first guess; `sizing/hindsight.py`: the
  best fixed ladders in hindsight, the reference of the learner's loss;
  `sizing/suite.py`: every strategy under every rule set; `sizing/replay_cache.py`: CCTools'
  results kept by content;
* `sizing/cctools_builds.py`, `sizing/cctools_link.py`, `sizing/cctools_library.py`: finding a
  CCTools build, linking its bucketing code, the ctypes bindings;
* `sizing/strategies/`: `baselines.py`, `first_allocation.py`, `per_resource.py` (the
  published draw-and-retry scheme), `greedy.py`, `exhaustive.py`, `kmeans.py`, `cctools.py`,
  `adaptive.py`, `ladder_dp.py`, `records.py` and `shift.py`; `STRATEGIES` maps names to
  factories;
* `sizing/recommend.py`, `sizing/buckets.py`: buckets for the operator;
* `commands/simulate.py`: `workqueue-operator simulate`."""


if __name__ == "__main__":
    sys.exit(main())
