"""The published bucketing scheme: independent per-resource ladders, rungs drawn at random.

As in Phung et al. (WORKS 2021, IPDPS 2024) and CCTools' ``bucketing.c``: the first
``cold_start`` tasks get the whole machine; afterwards each resource's allocation is a rung
drawn with probability equal to its share. After a failure, each exceeded resource draws again
among the rungs above the failed value (shares renormalised) or, above the top rung, doubles
(CCTools' increase rate 2) up to the machine. Resources that were not exceeded keep their value.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from workqueue_operator.sizing.buckets import Ladder, Ladders
from workqueue_operator.sizing.resources import RESOURCES, Allocation, Resource
from workqueue_operator.sizing.strategies.base import FixedPolicy, StrategyConfig
from workqueue_operator.sizing.strategies.history import (
    FloatArray,
    History,
    grown_by_one_percent,
)
from workqueue_operator.values.samples import Sample

LadderFunction = Callable[[FloatArray, FloatArray], Ladder]
"""(distinct values ascending, their weights) -> ladder. Values are never empty."""
WeightFunction = Callable[[int], FloatArray]
"""Number of tasks -> weight of each, oldest first."""

INCREASE_RATE = 2.0


def draw(ladder: Ladder, rng: random.Random, total: float | None = None) -> float:
    """A rung value drawn with probability proportional to its share (``total``: their sum,
    when the caller already has it)."""
    if total is None:
        total = sum(rung.share for rung in ladder)
    point = rng.random() * total
    for rung in ladder:
        point -= rung.share
        if point < 0:
            return rung.value
    return ladder[-1].value


def raise_one(failed: float, ladder: Ladder, limit: float, rng: random.Random) -> float:
    """A value above ``failed``: a higher rung drawn by share, else doubled; at most ``limit``."""
    higher = tuple(rung for rung in ladder if rung.value > failed)
    if higher:
        return min(draw(higher, rng), limit)
    if failed <= 0:
        return limit
    return min(failed * INCREASE_RATE, limit)


@dataclass(frozen=True, slots=True)
class LadderPolicy:
    """Random draws on per-resource ladders (see the module docstring)."""

    ladders: Ladders
    machine: Allocation
    totals: tuple[float, ...] = field(init=False)
    """Each ladder's sum of shares, for the draws."""

    def __post_init__(self) -> None:
        totals = tuple(sum(rung.share for rung in ladder) for ladder in self.ladders)
        object.__setattr__(self, "totals", totals)

    def first(self, rng: random.Random) -> Allocation:
        """Each resource drawn from its ladder."""
        (cores, memory, disk), totals = self.ladders, self.totals
        drawn = Allocation(
            draw(cores, rng, totals[0]), draw(memory, rng, totals[1]), draw(disk, rng, totals[2])
        )
        return drawn.capped(self.machine)

    def retry(
        self, failed: Allocation, exceeded: frozenset[Resource], rng: random.Random
    ) -> Allocation:
        """Exceeded resources raised (higher rung, else doubled); the others kept."""
        return Allocation.of(
            raise_one(value, ladder, limit, rng) if resource in exceeded else value
            for resource, value, ladder, limit in zip(
                RESOURCES, failed.values(), self.ladders, self.machine.values(), strict=True
            )
        )


def compute_ladders(history: History, ladder: LadderFunction, weight: WeightFunction) -> Ladders:
    """One ladder per resource from a (non-empty) history."""
    weights = weight(len(history))
    result = [ladder(*history.histogram(r, weights)) for r in RESOURCES]
    return (result[0], result[1], result[2])


RefreshRule = Callable[[int, int], bool]
"""(tasks seen, tasks seen at the last computation) -> recompute now?"""
REFRESH: RefreshRule = grown_by_one_percent


class PerResourceBucketing:
    """A pooled (category-blind, as in the papers' simulator) per-resource bucketing strategy."""

    def __init__(
        self,
        config: StrategyConfig,
        ladder: LadderFunction,
        weight: WeightFunction,
        refresh: RefreshRule = REFRESH,
    ) -> None:
        self.config = config
        self.history = History(config.machine)
        self._ladder = ladder
        self._weight = weight
        self._refresh = refresh
        self._cold = FixedPolicy(config.machine, config.machine)
        self._policy: LadderPolicy | None = None
        self._computed_at = 0

    def observe(self, sample: Sample) -> None:
        """Remember a finished task."""
        self.history.add(sample)

    def policy(self, category: str) -> FixedPolicy | LadderPolicy:
        """Whole machine during the cold start, else draws on the current ladders."""
        seen = len(self.history)
        if seen < max(self.config.cold_start, 1):
            return self._cold
        if self._policy is None or self._refresh(seen, self._computed_at):
            ladders = compute_ladders(self.history, self._ladder, self._weight)
            self._policy = LadderPolicy(ladders, self.config.machine)
            self._computed_at = seen
        return self._policy
