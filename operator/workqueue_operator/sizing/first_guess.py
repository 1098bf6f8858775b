"""A strategy run from CCTools' first guess instead of the whole machine.

CCTools out of the box (:data:`workqueue_operator.sizing.suite.CCTOOLS_DEFAULTS`) gives a task
of a category it knows nothing about its first guess, 1 core, 1000 MB memory and 1000 MB disk,
and doubles each exceeded resource on a failure (its increase rate). The operator's rules
(:data:`workqueue_operator.sizing.rules.OPERATOR`) give such a task the whole machine instead.
:func:`from_first_guess` runs a strategy under the operator's rules with CCTools' start: per
category, until the category has a finished task, its tasks start at the first guess and double;
after that the strategy's learner decides, as under the operator's rules. So a strategy can be
compared with CCTools' modes as their users get them, from the same first guess.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from workqueue_operator.sizing.resources import RESOURCES, Allocation, Resource
from workqueue_operator.sizing.rules import OPERATOR, RuledStrategy
from workqueue_operator.sizing.strategies.base import (
    CategoryPolicy,
    StrategyConfig,
    StrategyFactory,
)
from workqueue_operator.sizing.strategies.per_resource import raise_one

CCTOOLS_FIRST_GUESS = Allocation(cores=1.0, memory_mb=1000.0, disk_mb=1000.0)
"""CCTools' bucketing manager's default values (``bucketing_manager.c``)."""


@dataclass(frozen=True, slots=True)
class DoublingPolicy:
    """The first guess; a retry doubles each exceeded resource (CCTools' increase rate, as the
    published strategies do above their top rung: ``per_resource.raise_one``) up to the machine."""

    guess: Allocation
    machine: Allocation

    def first(self, rng: random.Random) -> Allocation:
        """The first guess, capped at the machine."""
        return self.guess.capped(self.machine)

    def retry(
        self, failed: Allocation, exceeded: frozenset[Resource], rng: random.Random
    ) -> Allocation:
        """The failed allocation with every exceeded resource doubled (no rungs to climb)."""
        return Allocation.of(
            raise_one(value, (), limit, rng) if resource in exceeded else value
            for resource, value, limit in zip(
                RESOURCES, failed.values(), self.machine.values(), strict=True
            )
        )


@dataclass
class FirstGuessStrategy(RuledStrategy):
    """A strategy under the operator's rules whose cold start is the first guess, doubled."""

    guess: Allocation = CCTOOLS_FIRST_GUESS

    def policy(self, category: str) -> CategoryPolicy:
        """The doubling first guess until the category has a finished task, then the learner's."""
        if self.cold(category):
            return DoublingPolicy(self.guess, self.config.machine)
        return super().policy(category)


def from_first_guess(
    factory: StrategyFactory, guess: Allocation = CCTOOLS_FIRST_GUESS
) -> StrategyFactory:
    """``factory`` under the operator's rules, starting each category from ``guess``."""

    def build(config: StrategyConfig) -> FirstGuessStrategy:
        return FirstGuessStrategy(factory, config, OPERATOR, guess)

    return build
