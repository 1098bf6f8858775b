"""Starting a strategy from CCTools' first guess instead of the whole machine."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from workqueue_operator.sizing import suite
from workqueue_operator.sizing.first_guess import (
    CCTOOLS_FIRST_GUESS,
    DoublingPolicy,
    FirstGuessStrategy,
    from_first_guess,
)
from workqueue_operator.sizing.replay import replay
from workqueue_operator.sizing.resources import Allocation, Resource
from workqueue_operator.sizing.strategies import OWN_STRATEGY
from workqueue_operator.sizing.strategies.base import CategoryPolicy, StrategyConfig
from workqueue_operator.values.samples import Sample

MACHINE = Allocation(cores=16, memory_mb=64_000, disk_mb=64_000)
LEARNT = Allocation(2, 5_000, 2_000)


def learnt(config: StrategyConfig) -> FixedPolicyStrategy:
    """A learner that allocates LEARNT once anything is known."""
    return FixedPolicyStrategy(DoublingPolicy(LEARNT, config.machine))


@dataclass(frozen=True)
class FixedPolicyStrategy:
    policy_of_every_category: DoublingPolicy

    def policy(self, category: str) -> DoublingPolicy:
        return self.policy_of_every_category

    def observe(self, sample: Sample) -> None:
        pass


@dataclass(frozen=True)
class LoggingPolicy:
    """A category's policy that logs every allocation it hands out."""

    category: str
    policy: CategoryPolicy
    log: list[tuple[str, Allocation]]

    def first(self, rng: random.Random) -> Allocation:
        return self.logged(self.policy.first(rng))

    def retry(
        self, failed: Allocation, exceeded: frozenset[Resource], rng: random.Random
    ) -> Allocation:
        return self.logged(self.policy.retry(failed, exceeded, rng))

    def logged(self, allocation: Allocation) -> Allocation:
        self.log.append((self.category, allocation))
        return allocation


@dataclass
class Logged:
    """Wraps a strategy and logs every allocation its policies hand out."""

    inner: FirstGuessStrategy
    log: list[tuple[str, Allocation]] = field(default_factory=list)

    def policy(self, category: str) -> LoggingPolicy:
        return LoggingPolicy(category, self.inner.policy(category), self.log)

    def observe(self, sample: Sample) -> None:
        self.inner.observe(sample)


def test_doubling_policy_starts_at_the_guess_and_doubles_only_what_was_exceeded() -> None:
    policy = DoublingPolicy(CCTOOLS_FIRST_GUESS, MACHINE)
    rng = random.Random(0)
    assert policy.first(rng) == Allocation(1, 1000, 1000)
    retried = policy.retry(Allocation(1, 1000, 1000), frozenset({Resource.MEMORY}), rng)
    assert retried == Allocation(1, 2000, 1000)
    capped = policy.retry(Allocation(1, 48_000, 1000), frozenset({Resource.MEMORY}), rng)
    assert capped == Allocation(1, 64_000, 1000)


def test_first_guess_is_capped_at_a_small_machine() -> None:
    small = Allocation(0.5, 500, 4000)
    assert DoublingPolicy(CCTOOLS_FIRST_GUESS, small).first(random.Random(0)) == Allocation(
        0.5, 500, 1000
    )


def test_each_category_starts_from_the_guess_until_it_has_a_finished_task() -> None:
    strategy = Logged(from_first_guess(learnt)(StrategyConfig(machine=MACHINE)))
    trace = [
        Sample("a", 1, 3500, 10, 1),  # 1000 and 2000 fail, 4000 holds it
        Sample("a", 1, 3500, 10, 1),  # learnt: LEARNT holds it
        Sample("b", 3, 10, 10, 1),  # a new category starts from the guess again: 1, 2, 4 cores
    ]
    result = replay(trace, strategy, MACHINE)
    assert [(c, a.cores, a.memory_mb) for c, a in strategy.log] == [
        ("a", 1, 1000),
        ("a", 1, 2000),
        ("a", 1, 4000),
        ("a", 2, 5000),
        ("b", 1, 1000),
        ("b", 2, 1000),
        ("b", 4, 1000),
    ]
    assert result.failed_attempts == 4


def test_the_own_strategy_runs_from_the_first_guess_beside_cctools_out_of_the_box() -> None:
    runs = suite.runs([OWN_STRATEGY, "greedy-bucketing"], [suite.CCTOOLS_DEFAULTS])
    assert [run.name for run in runs] == [OWN_STRATEGY]
    strategy = suite.factory(runs[0])(StrategyConfig(machine=MACHINE))
    assert isinstance(strategy, FirstGuessStrategy)
    assert strategy.policy("new").first(random.Random(0)) == CCTOOLS_FIRST_GUESS
    assert "first guess" in suite.CCTOOLS_DEFAULTS.title
