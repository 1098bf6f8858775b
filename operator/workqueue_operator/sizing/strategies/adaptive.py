"""The project's own strategy, ``adaptive-ladder``: the cheapest retry ladder per category.

Per category and resource it keeps the use of the category's finished tasks, each weighted by
its wall time (waste is resource x time) and by recency (weights halve every ``half_life``
tasks of the category, so a phase change takes over). From that it computes the ladder of least
expected resource x time (:func:`optimal_ladder`): the first attempt gets the lowest rung, a
retry the next rung above the failed value, deterministically.

The resources are coupled: a failed attempt wastes the other resources' allocation too, so each
attempt is charged ``coupling`` times the resource's mean use on top of its own allocation (by
default 2: about one mean task's worth of each of the two other resources). Extra rungs, hence
extra failures, must pay for that.

Categories share what they know: a category with no finished task yet uses the ladders pooled
over all categories, and a retry above a category's top rung climbs the pooled ladder, then
grows the value by ``growth`` up to the machine.

Cold start: only the very first task runs on the whole machine (the papers' bucketing gives the
first ten tasks the machine; ``first_on_machine`` reproduces that for comparison).
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from workqueue_operator.sizing.buckets import Ladders, Rung
from workqueue_operator.sizing.resources import RESOURCES, Allocation, Resource
from workqueue_operator.sizing.strategies.base import FixedPolicy, StrategyConfig
from workqueue_operator.sizing.strategies.history import FloatArray, History, histogram
from workqueue_operator.sizing.strategies.ladder_dp import optimal_ladder
from workqueue_operator.values.samples import Sample

Values = tuple[float, ...]
Rungs = tuple[Values, Values, Values]
"""Rung values of each resource, ascending."""


@dataclass(frozen=True, slots=True)
class AdaptiveSettings:
    """Knobs of the adaptive strategy. The defaults are principled, not fitted to any trace."""

    half_life: float = 1000.0
    """Tasks of a category after which a sample's weight has halved (0: no decay)."""
    coupling: float = float(len(RESOURCES) - 1)
    """Extra cost of an attempt, in means of the resource: the other resources it wastes."""
    growth: float = 2.0
    """Factor a retry grows a value by above every known rung (CCTools' increase rate)."""
    first_on_machine: int = 1
    """Tasks run on the whole machine before anything is known."""
    use_categories: bool = True
    """Learn per category (False: one pool for all, as the papers' simulator does)."""


def sample_weights(times: FloatArray, half_life: float) -> FloatArray:
    """Wall time x recency weights, oldest first.

    Tasks without a measurable time weigh as much as the shortest measured one (they still show
    that their value occurs); with no clock at all every task weighs 1.
    """
    count = len(times)
    positive = times[times > 0]
    floor = float(positive.min()) if len(positive) else 1.0
    weights = np.maximum(times, floor)
    if half_life > 0:
        age = np.arange(count - 1, -1, -1, dtype=np.float64)
        weights = weights * np.exp2(-age / half_life)
    return weights


def rung_values(history: History, max_rungs: int, settings: AdaptiveSettings) -> Rungs:
    """The cheapest ladder of every resource for a non-empty history."""
    weights = sample_weights(history.times(), settings.half_life)
    result = []
    for resource in RESOURCES:
        values, summed = histogram(history.values(resource), weights)
        mean = float(values @ summed) / float(summed.sum())
        ladder = optimal_ladder(values, summed, max_rungs, attempt_cost=settings.coupling * mean)
        result.append(tuple(float(v) for v in ladder))
    return (result[0], result[1], result[2])


def adaptive_ladders(
    history: History, config: StrategyConfig, settings: AdaptiveSettings | None = None
) -> Ladders:
    """The cheapest ladders of a non-empty history, with each rung's share of its tasks."""
    rungs = rung_values(history, config.max_buckets, settings or AdaptiveSettings())
    result = []
    for resource, values in zip(RESOURCES, rungs, strict=True):
        tops = np.asarray(values)
        position = np.minimum(np.searchsorted(tops, history.values(resource)), len(tops) - 1)
        counts = np.bincount(position, minlength=len(tops)) / len(history)
        result.append(tuple(Rung(v, float(c)) for v, c in zip(values, counts, strict=True)))
    return (result[0], result[1], result[2])


def next_value(failed: float, ladders: Sequence[Values], limit: float, growth: float) -> float:
    """The first rung above ``failed`` in the given ladders, else ``failed`` grown."""
    for ladder in ladders:
        index = bisect.bisect_right(ladder, failed)
        if index < len(ladder):
            return min(ladder[index], limit)
    return limit if failed <= 0 else min(failed * growth, limit)


@dataclass(frozen=True, slots=True)
class AdaptivePolicy:
    """First attempt at the lowest rungs; retries climb the category's, then the pooled ladder."""

    rungs: Rungs
    pooled: Callable[[], Rungs]
    """The pooled ladders, computed only if a retry climbs above the category's."""
    machine: Allocation
    growth: float

    def first(self, rng: random.Random) -> Allocation:
        """The lowest rung of each resource."""
        return Allocation.of(ladder[0] for ladder in self.rungs).capped(self.machine)

    def retry(
        self, failed: Allocation, exceeded: frozenset[Resource], rng: random.Random
    ) -> Allocation:
        """Each exceeded resource to the next rung above its failed value; the others kept."""
        values = list(failed.values())
        for index, resource in enumerate(RESOURCES):
            if resource not in exceeded:
                continue
            ladders: list[Values] = [self.rungs[index]]
            if values[index] >= self.rungs[index][-1]:
                ladders.append(self.pooled()[index])
            limit = self.machine.get(resource)
            values[index] = next_value(values[index], ladders, limit, self.growth)
        return Allocation.of(values)


@dataclass
class _Learned:
    """A history and its ladders, recomputed after the history changes."""

    history: History
    rungs: Rungs | None = None


@dataclass
class AdaptiveLadder:
    """The adaptive-ladder strategy (see the module docstring)."""

    config: StrategyConfig
    settings: AdaptiveSettings = field(default_factory=AdaptiveSettings)
    _categories: dict[str, _Learned] = field(default_factory=dict, init=False)
    _pool: _Learned = field(init=False)

    def __post_init__(self) -> None:
        self._pool = _Learned(History(self.config.machine))

    def observe(self, sample: Sample) -> None:
        """Remember a finished task in its category and in the pool."""
        own = self._categories.setdefault(sample.category, _Learned(History(self.config.machine)))
        for learned in (own, self._pool):
            before = len(learned.history)
            learned.history.add(sample)
            if len(learned.history) != before:
                learned.rungs = None

    def policy(self, category: str) -> FixedPolicy | AdaptivePolicy:
        """The category's policy (the whole machine before anything is known)."""
        if len(self._pool.history) < max(self.settings.first_on_machine, 1):
            return FixedPolicy(self.config.machine, self.config.machine)
        own = self._categories.get(category) if self.settings.use_categories else None
        if own is None or len(own.history) == 0:
            own = self._pool
        pool = self._pool
        return AdaptivePolicy(
            self._rungs(own), lambda: self._rungs(pool), self.config.machine, self.settings.growth
        )

    def _rungs(self, learned: _Learned) -> Rungs:
        if learned.rungs is None:
            learned.rungs = rung_values(learned.history, self.config.max_buckets, self.settings)
        return learned.rungs


def adaptive_ladder(config: StrategyConfig) -> AdaptiveLadder:
    """The project's own strategy with its default settings."""
    return AdaptiveLadder(config)
