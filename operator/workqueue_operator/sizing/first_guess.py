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

CCTOOLS_FIRST_GUESS = Allocation(cores=1.0, memory_mb=1000.0, disk_mb=1000.0)
"""CCTools' bucketing manager's default values (``bucketing_manager.c``)."""
CCTOOLS_INCREASE_RATE = 2.0
"""CCTools' default increase rate: what a failed value is multiplied by in its sampling phase."""


@dataclass(frozen=True, slots=True)
class DoublingPolicy:
    """The first guess; a retry multiplies each exceeded resource by the rate (to the machine)."""

    guess: Allocation
    machine: Allocation
    rate: float = CCTOOLS_INCREASE_RATE

    def first(self, rng: random.Random) -> Allocation:
        """The first guess, capped at the machine."""
        return self.guess.capped(self.machine)

    def retry(
        self, failed: Allocation, exceeded: frozenset[Resource], rng: random.Random
    ) -> Allocation:
        """The failed allocation with every exceeded resource multiplied by the rate."""
        result = failed
        for resource in RESOURCES:
            if resource in exceeded:
                grown = max(failed.get(resource) * self.rate, self.guess.get(resource))
                result = result.replace(resource, min(grown, self.machine.get(resource)))
        return result


@dataclass
class FirstGuessStrategy(RuledStrategy):
    """A strategy under the operator's rules whose cold start is the first guess, doubled."""

    guess: Allocation = CCTOOLS_FIRST_GUESS

    def policy(self, category: str) -> CategoryPolicy:
        """The doubling first guess until the category has a finished task, then the learner's."""
        if self._finished.get(self.key(category), 0) < self.rules.cold_start:
            return DoublingPolicy(self.guess, self.config.machine)
        return super().policy(category)


def from_first_guess(
    factory: StrategyFactory, guess: Allocation = CCTOOLS_FIRST_GUESS
) -> StrategyFactory:
    """``factory`` under the operator's rules, starting each category from ``guess``."""

    def build(config: StrategyConfig) -> FirstGuessStrategy:
        return FirstGuessStrategy(factory, config, OPERATOR, guess)

    return build
