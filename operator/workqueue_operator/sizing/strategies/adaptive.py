"""The project's own strategy, ``adaptive-ladder``: the cheapest retry ladder of a learner.

A learner sees the tasks its rules give it (one category, or all: :mod:`..rules`). Per resource
it keeps the use of the finished tasks, each weighted by its wall time (waste is resource x
time) and by recency (weights halve every ``half_life`` tasks, so a phase change takes over).
From that it computes the ladder of least expected resource x time (:func:`optimal_ladder`):
the first attempt gets the lowest rung, a retry the next rung above the failed value,
deterministically.

Records (:mod:`.records`): the chance that the next task goes above every earlier one, and how
far, join the distribution the ladder is computed from, so the top rung can sit above the
maximum seen; a retry above every rung climbs the cheapest ladder over the past records'
excesses, then grows the value by ``growth`` up to the machine.

Coupling: a failed attempt wastes every resource's allocation. Memory efficiency already counts
the memory a failure wastes, so the memory ladder is charged its own allocation only
(``memory_coupling`` 0, the memory-optimal ladder); the cores and disk ladders are charged
``coupling`` times their mean use per attempt (by default 2: about one mean task's worth of
each of the two other resources, memory among them), because their failures waste memory.

Shift (:mod:`.shift`): when the newest tasks go above the first rung far more often than the
history says they would, use has moved up for good; the learner forgets the tasks before the
shift and learns again from those after it (:func:`learn_since_shift`), instead of failing the
new tasks until decay lets them outweigh the old.

Only the first task runs on the whole machine; the rules' cold start comes on top.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from workqueue_operator.sizing.buckets import Ladders, Rung
from workqueue_operator.sizing.resources import RESOURCES, Allocation, Resource
from workqueue_operator.sizing.strategies.base import FixedPolicy, StrategyConfig
from workqueue_operator.sizing.strategies.history import (
    FloatArray,
    History,
    grown_by_one_percent,
    histogram,
)
from workqueue_operator.sizing.strategies.ladder_dp import MAX_LEVELS, merge_levels, optimal_ladder
from workqueue_operator.sizing.strategies.records import (
    excesses_to_learn,
    next_record,
    records,
)
from workqueue_operator.sizing.strategies.shift import shift_length
from workqueue_operator.values.samples import Sample

Values = tuple[float, ...]
Rungs = tuple[Values, Values, Values]
"""Rung values of each resource, ascending."""


@dataclass(frozen=True, slots=True)
class AdaptiveSettings:
    """Knobs of the adaptive strategy. The defaults are principled, not fitted to any trace."""

    half_life: float = 1000.0
    """Tasks after which a sample's weight has halved (0: no decay)."""
    coupling: float = float(len(RESOURCES) - 1)
    """Extra cost of an attempt, in means of the resource: the other resources it wastes."""
    memory_coupling: float | None = 0.0
    """The memory ladder's coupling (None: ``coupling``). Memory efficiency already counts the
    memory a failed attempt wastes, so the memory-optimal ladder charges nothing more."""
    records: bool = True
    """Model new records (:mod:`.records`): mass above the maximum, a ladder above the top."""
    records_by_position: bool = True
    """Weigh each record by its position in the history (so the first tasks' records do not set
    the headroom for the rest: :func:`.records.position_weighted_excesses`); False: every record
    alike."""
    growth: float = 2.0
    """Factor a retry grows a value by above every known rung (CCTools' increase rate)."""
    first_on_machine: int = 1
    """Tasks run on the whole machine before anything is known."""
    shift_alpha: float = 1e-6
    """Chance, per resource and refit, of taking a steady stream for a shift in use and
    forgetting the tasks before it (:mod:`.shift`; 0: never)."""
    one_standard_error: bool = True
    """Take the ladder of fewest rungs whose expected cost is within one standard error of the
    cheapest one's (:func:`.ladder_dp.fewest_within_one_error`); False: the cheapest."""

    def attempt_cost(self, resource: Resource, mean: float) -> float:
        """What an attempt is charged on top of its allocation, in the resource's units."""
        coupling = self.coupling
        if resource is Resource.MEMORY and self.memory_coupling is not None:
            coupling = self.memory_coupling
        return coupling * mean


def recency_weights(count: int, half_life: float) -> FloatArray:
    """Recency alone, oldest first: halved every ``half_life`` tasks (all 1 for 0: no decay)."""
    if half_life > 0:
        age = np.arange(count - 1, -1, -1, dtype=np.float64)
        return np.exp2(-age / half_life)
    return np.ones(count)


def sample_weights(
    times: FloatArray, half_life: float, recency: FloatArray | None = None
) -> FloatArray:
    """Wall time x recency weights, oldest first (``recency``: :func:`recency_weights`, when
    the caller has it).

    Tasks without a measurable time weigh as much as the shortest measured one (they still show
    that their value occurs); with no clock at all every task weighs 1.
    """
    positive = times[times > 0]
    floor = float(positive.min()) if len(positive) else 1.0
    weights = np.maximum(times, floor)
    if half_life > 0:
        if recency is None:
            recency = recency_weights(len(times), half_life)
        weights = weights * recency
    return weights


RECORD_LEVELS = 16
"""Levels, beyond the ``MAX_LEVELS`` of the values seen, for where the next record may land:
kept apart so that merging never swallows the maximum seen into a record far above it."""


def ladder(
    values: FloatArray,
    weights: FloatArray,
    max_rungs: int,
    cost: float,
    beyond: tuple[FloatArray, FloatArray] = (np.empty(0), np.empty(0)),
) -> Values:
    """The cheapest ladder of some (unsorted) values as a tuple (empty for no values).

    ``beyond`` are values above all of ``values`` with their weights (the next record),
    merged into their own levels.
    """
    if len(values) == 0:
        return ()
    return histogram_ladder(histogram(values, weights), max_rungs, cost, beyond)


def histogram_ladder(
    counted: tuple[FloatArray, FloatArray],
    max_rungs: int,
    cost: float,
    beyond: tuple[FloatArray, FloatArray] = (np.empty(0), np.empty(0)),
    effective: float = 0.0,
) -> Values:
    """:func:`ladder` of values already counted into (distinct values, summed weights);
    ``effective`` > 0: the one-standard-error ladder (:func:`.ladder_dp.optimal_ladder`)."""
    if len(counted[0]) == 0:
        return ()
    distinct, summed = merge_levels(*counted, MAX_LEVELS)
    if len(beyond[0]):
        above, above_summed = merge_levels(*histogram(*beyond), RECORD_LEVELS)
        distinct = np.concatenate((distinct, above))
        summed = np.concatenate((summed, above_summed))
    levels = MAX_LEVELS + RECORD_LEVELS
    top = float(counted[0][-1])
    rungs = optimal_ladder(
        distinct, summed, max_rungs, cost, levels, effective=effective, sampled_top=top
    )
    return tuple(float(v) for v in rungs)


def learn_since_shift(
    history: History, max_rungs: int, settings: AdaptiveSettings
) -> tuple[History, Rungs, Rungs]:
    """:func:`learn`; when the newest tasks show a shift in use above the first rungs
    (:func:`.shift.shift_length`), :func:`learn` again over the tasks since the shift only.
    Returns the history learnt from with the two ladders."""
    recency = recency_weights(len(history), settings.half_life)
    rungs, above = learn(history, max_rungs, settings, recency)
    first = [ladder[0] for ladder in rungs]
    kept = shift_length(history, first, recency, settings.shift_alpha)
    if kept:
        history = history.newest(kept)
        rungs, above = learn(history, max_rungs, settings)
    return history, rungs, above


def learn(
    history: History,
    max_rungs: int,
    settings: AdaptiveSettings,
    recency: FloatArray | None = None,
) -> tuple[Rungs, Rungs]:
    """Per resource: the cheapest ladder, and the ladder a retry climbs above its top
    (``recency``: :func:`recency_weights` of the history, when the caller has them).

    With the record model the ladder is computed over the tasks seen plus the mass of the next
    record (:func:`next_record`), and the ladder above is the cheapest one over the records'
    excesses scaled to the top rung; without it, over the tasks seen, and nothing above.
    """
    if recency is None:
        recency = recency_weights(len(history), settings.half_life)
    weights = sample_weights(history.times(), settings.half_life, recency)
    total = float(weights.sum())
    effective = total * total / float(weights @ weights) if settings.one_standard_error else 0.0
    within: list[Values] = []
    above: list[Values] = []
    for resource in RESOURCES:
        values = history.values(resource)
        cost = settings.attempt_cost(resource, float(values @ weights) / total)
        counted = history.histogram(resource, weights)
        if not settings.records:
            within.append(histogram_ladder(counted, max_rungs, cost, effective=effective))
            above.append(())
            continue
        found = records(values) if len(values) >= 2 else None
        by_position = settings.records_by_position
        beyond = next_record(values, weights, recency, found, by_position=by_position)
        within.append(histogram_ladder(counted, max_rungs, cost, beyond, effective))
        excesses, excess_weights = excesses_to_learn(
            values, weights, found, by_position=by_position
        )
        above.append(ladder(within[-1][-1] * (1 + excesses), excess_weights, max_rungs, cost))
    return (within[0], within[1], within[2]), (above[0], above[1], above[2])


def adaptive_ladders(
    history: History, config: StrategyConfig, settings: AdaptiveSettings | None = None
) -> Ladders:
    """The cheapest ladders of a non-empty history, with each rung's share of its tasks."""
    history, rungs, _ = learn_since_shift(
        history, config.max_buckets, settings or AdaptiveSettings()
    )
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
    """First attempt at the lowest rungs; retries climb the ladder, then the one above it."""

    rungs: Rungs
    above: Rungs
    """Per resource, the ladder above the top rung (from the records' excesses)."""
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
            if resource in exceeded:
                ladders = (self.rungs[index], self.above[index])
                limit = self.machine.get(resource)
                values[index] = next_value(values[index], ladders, limit, self.growth)
        return Allocation.of(values)


@dataclass
class AdaptiveLadder:
    """The adaptive-ladder strategy: one learner (the rules decide which tasks it sees)."""

    config: StrategyConfig
    settings: AdaptiveSettings = field(default_factory=AdaptiveSettings)
    _history: History = field(init=False)
    _policy: AdaptivePolicy | None = field(default=None, init=False)
    _learned_at: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._history = History(self.config.machine)

    def observe(self, sample: Sample) -> None:
        """Remember a finished task (failed attempts are not usage)."""
        self._history.add(sample)

    def policy(self, category: str) -> FixedPolicy | AdaptivePolicy:
        """The ladders of everything seen (the whole machine before anything is known)."""
        seen = len(self._history)
        if seen < max(self.settings.first_on_machine, 1):
            return FixedPolicy(self.config.machine, self.config.machine)
        if self._policy is None or grown_by_one_percent(seen, self._learned_at):
            self._history, rungs, above = learn_since_shift(
                self._history, self.config.max_buckets, self.settings
            )
            self._policy = AdaptivePolicy(rungs, above, self.config.machine, self.settings.growth)
            self._learned_at = len(self._history)
        return self._policy


def adaptive_ladder(config: StrategyConfig) -> AdaptiveLadder:
    """The project's own strategy with its default settings."""
    return AdaptiveLadder(config)
