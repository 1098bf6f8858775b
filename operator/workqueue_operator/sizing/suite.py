"""Every strategy under every rule set: the runs ``simulate`` prints and the doc tabulates.

A *run* is one strategy under one rule set: the papers' or the operator's rules
(:mod:`workqueue_operator.sizing.rules`) for every strategy, plus ``CCTOOLS_DEFAULTS`` for
CCTools' own modes as its users get them (per category, CCTools' first guess and 10 sampling
points, nothing on the whole machine) and for the own strategy from the same first guess
(:mod:`workqueue_operator.sizing.first_guess`). Baselines that learn nothing are the same under
every rule set and are not wrapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from workqueue_operator.sizing.cctools_library import build_digest
from workqueue_operator.sizing.first_guess import from_first_guess
from workqueue_operator.sizing.replay import ReplayResult, score
from workqueue_operator.sizing.replay_cache import (
    describe,
    load,
    replay_key,
    samples_digest,
    store,
)
from workqueue_operator.sizing.resources import DEFAULT_MACHINE, Allocation
from workqueue_operator.sizing.rules import OPERATOR, PAPERS, Rules, under
from workqueue_operator.sizing.strategies import OWN_STRATEGY, STRATEGIES
from workqueue_operator.sizing.strategies.base import StrategyFactory
from workqueue_operator.sizing.strategies.cctools import (
    PREFIX,
    cctools_factory,
    cctools_strategies,
)
from workqueue_operator.values.samples import Sample

BASELINES = ("whole-machine", "declared-max")
"""Strategies that learn nothing, run as they are under every rule set."""
ORACLES = ("declared-max",)
"""Strategies that know the whole trace in advance."""

CCTOOLS_DEFAULTS = Rules(
    "cctools",
    per_category=True,
    cold_start=0,
    title=(
        "CCTools out of the box: per category, CCTools' first guess (1 core, 1000 MB, 1000 MB) "
        f"doubled on failure for its 10 sampling points; {OWN_STRATEGY} from the same first "
        "guess, doubled, until its category has a finished task"
    ),
)
RULE_SETS: dict[str, Rules] = {r.name: r for r in (PAPERS, OPERATOR, CCTOOLS_DEFAULTS)}


@dataclass(frozen=True, slots=True)
class Run:
    """One strategy under one rule set."""

    rules: Rules
    name: str

    @property
    def is_cctools(self) -> bool:
        """Whether the strategy is CCTools' own code."""
        return self.name.startswith(PREFIX)


def strategy_names() -> list[str]:
    """Every strategy: the registry's, then each CCTools mode of each build found."""
    return [*STRATEGIES, *cctools_strategies()]


def base_factory(name: str) -> StrategyFactory:
    """The factory of a strategy by name (``KeyError`` when there is no such strategy)."""
    if name in STRATEGIES:
        return STRATEGIES[name]
    version, mode = cctools_strategies()[name]
    return cctools_factory(version, mode)


def factory(run: Run) -> StrategyFactory:
    """The factory of a run: the strategy under its rules (baselines as they are); under
    CCTools' defaults, a strategy that is not CCTools' starts from CCTools' first guess."""
    strategy = base_factory(run.name)
    if run.name in BASELINES:
        return strategy
    if run.rules is CCTOOLS_DEFAULTS and not run.is_cctools:
        return from_first_guess(strategy)
    return under(run.rules, strategy)


def runs(names: Sequence[str], rule_sets: Sequence[Rules]) -> list[Run]:
    """Each name under each rule set, rule set by rule set; under CCTools' defaults, CCTools'
    modes and the own strategy (from CCTools' first guess: :mod:`.first_guess`)."""
    return [
        Run(rules, name)
        for rules in rule_sets
        for name in names
        if rules is not CCTOOLS_DEFAULTS or name.startswith(PREFIX) or name == OWN_STRATEGY
    ]


def rules_part(rules: Rules) -> str:
    """A rule set in a cache key: what decides a replay (its name, whether learners are per
    category, the cold start), not its title, so rewording a title keeps the cached replays."""
    return f"rules={rules.name},{rules.per_category},{rules.cold_start}"


def cache_key(samples: Sequence[Sample], run: Run, machine: Allocation, seed: int) -> str:
    """The replay cache's key of a CCTools run (:mod:`.replay_cache`)."""
    version, mode = cctools_strategies()[run.name]
    parts = [samples_digest(samples), version, mode, build_digest(version), rules_part(run.rules)]
    return replay_key([*parts, *describe(machine, seed)])


def cached_result(
    samples: Sequence[Sample], run: Run, machine: Allocation = DEFAULT_MACHINE, seed: int = 0
) -> ReplayResult | None:
    """A CCTools run's result from the replay cache; None when it has not been replayed."""
    return load(cache_key(samples, run, machine, seed))


def score_run(
    samples: Sequence[Sample],
    run: Run,
    machine: Allocation = DEFAULT_MACHINE,
    seed: int = 0,
    use_cache: bool = True,
) -> ReplayResult:
    """Replay ``samples`` against a run; CCTools runs are cached (:mod:`.replay_cache`)."""
    if not (use_cache and run.is_cctools):
        return score(samples, factory(run), machine, seed)
    key = cache_key(samples, run, machine, seed)
    result = load(key)
    if result is None:
        result = score(samples, factory(run), machine, seed)
        store(key, result)
    return result
