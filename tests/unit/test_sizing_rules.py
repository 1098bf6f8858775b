"""The rule sets: who learns from what, and who gets the whole machine."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from workqueue_operator.sizing.replay import replay
from workqueue_operator.sizing.resources import Allocation
from workqueue_operator.sizing.rules import OPERATOR, PAPERS, POOLED, Rules, under
from workqueue_operator.sizing.strategies.base import FixedPolicy, StrategyConfig
from workqueue_operator.values.samples import Sample, TaskResult

MACHINE = Allocation(cores=4, memory_mb=100, disk_mb=100)
SMALL = Allocation(1, 10, 10)


@dataclass
class Learner:
    """Allocates SMALL; records the config it was built with and what it was told."""

    config: StrategyConfig
    seen: list[Sample] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    def policy(self, category: str) -> FixedPolicy:
        self.asked.append(category)
        return FixedPolicy(SMALL, MACHINE)

    def observe(self, sample: Sample) -> None:
        self.seen.append(sample)


@dataclass
class Factory:
    built: list[Learner] = field(default_factory=list)

    def __call__(self, config: StrategyConfig) -> Learner:
        learner = Learner(config)
        self.built.append(learner)
        return learner


def task(category: str, memory: float = 5) -> Sample:
    return Sample(category, 1, memory, 5, 1)


def first_allocations(rules: Rules, categories: list[str]) -> tuple[list[Allocation], Factory]:
    factory = Factory()
    strategy = under(rules, factory)(StrategyConfig(machine=MACHINE))
    allocations = []
    for category in categories:
        allocations.append(strategy.policy(category).first(random.Random(0)))
        strategy.observe(task(category))
    return allocations, factory


def test_papers_rules_pool_categories_and_give_ten_tasks_the_machine() -> None:
    allocations, factory = first_allocations(PAPERS, ["a", "b"] * 6)
    assert allocations == [MACHINE] * 10 + [SMALL] * 2
    (learner,) = factory.built
    assert learner.config.cold_start == 10
    assert {s.category for s in learner.seen} == {POOLED}
    assert len(learner.seen) == 12
    assert learner.asked == [POOLED, POOLED]


def test_operator_rules_learn_per_category_after_its_first_finished_task() -> None:
    allocations, factory = first_allocations(OPERATOR, ["a", "a", "b", "a", "b"])
    assert allocations == [MACHINE, SMALL, MACHINE, SMALL, SMALL]
    first, second = factory.built
    assert first.config.cold_start == second.config.cold_start == 1
    assert [s.category for s in first.seen] == ["a", "a", "a"]
    assert [s.category for s in second.seen] == ["b", "b"]


def test_a_failed_attempt_is_not_a_finished_task() -> None:
    factory = Factory()
    strategy = under(OPERATOR, factory)(StrategyConfig(machine=MACHINE))
    strategy.observe(Sample("a", 1, 5, 5, 1, result=TaskResult.RESOURCE_EXHAUSTION))
    assert strategy.policy("a").first(random.Random(0)) == MACHINE


def test_rules_with_no_cold_start_always_ask_the_learner() -> None:
    allocations, _ = first_allocations(Rules("x", per_category=True, cold_start=0), ["a"])
    assert allocations == [SMALL]


def test_a_replay_under_rules_counts_the_cold_start_on_the_machine() -> None:
    trace = [task("a", 50), task("a", 5), task("b", 5)]
    result = replay(trace, under(OPERATOR, Factory())(StrategyConfig(machine=MACHINE)), MACHINE)
    # a: machine, then SMALL (fits); b: machine
    assert result.memory.allocated == 100 + 10 + 100
    assert result.failed_attempts == 0


def test_the_learner_of_a_category_is_its_own_or_the_pooled_one() -> None:
    assert [OPERATOR.learner_of(c) for c in ("a", POOLED)] == ["a", POOLED]
    assert [PAPERS.learner_of(c) for c in ("a", "b", POOLED)] == [POOLED] * 3
