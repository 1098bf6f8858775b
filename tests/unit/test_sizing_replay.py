"""Replay accounting on hand-checked traces."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import pytest

from workqueue_operator.sizing.replay import declared_maximum, next_allocation, replay, score
from workqueue_operator.sizing.resources import Allocation, Resource
from workqueue_operator.sizing.strategies import STRATEGIES
from workqueue_operator.sizing.strategies.base import FixedPolicy, StrategyConfig
from workqueue_operator.sizing.strategies.baselines import declared_max, whole_machine
from workqueue_operator.values.samples import Sample, TaskResult

MACHINE = Allocation(cores=4, memory_mb=100, disk_mb=100)


def task(cores: float, memory: float, disk: float, time: float, category: str = "c") -> Sample:
    return Sample(category, cores, memory, disk, time)


@dataclass
class Recording:
    """A fixed first allocation, machine on retry; remembers what it was told."""

    first: Allocation
    seen: list[Sample] = field(default_factory=list)

    def policy(self, category: str) -> FixedPolicy:
        return FixedPolicy(self.first, MACHINE)

    def observe(self, sample: Sample) -> None:
        self.seen.append(sample)


def test_success_and_failure_accounting_by_hand() -> None:
    strategy = Recording(Allocation(1, 10, 10))
    result = replay([task(1, 5, 5, 2), task(1, 50, 5, 1)], strategy, MACHINE)
    # task 1 fits: allocated (1,10,10) x 2 s; task 2 fails on memory at (1,10,10) x 1 s, then
    # runs at (1,100,10) x 1 s.
    assert result.tasks == 2
    assert result.attempts == 3
    assert result.failed_attempts == 1
    assert (result.cores.used, result.cores.allocated) == (3, 4)
    assert (result.memory.used, result.memory.allocated) == (60, 130)
    assert (result.disk.used, result.disk.allocated) == (15, 40)
    assert result.memory.efficiency == pytest.approx(60 / 130)
    assert result.disk.efficiency == pytest.approx(0.375)


def test_the_strategy_hears_of_failed_attempts_then_the_task() -> None:
    strategy = Recording(Allocation(1, 10, 10))
    replay([task(1, 50, 5, 1)], strategy, MACHINE)
    failed, done = strategy.seen
    assert failed.result is TaskResult.RESOURCE_EXHAUSTION
    assert (failed.cores, failed.memory_mb, failed.disk_mb) == (1, 10, 5)  # capped at the limit
    assert done.result is TaskResult.SUCCESS
    assert done.memory_mb == 50


def test_use_above_the_machine_is_capped_and_the_machine_always_succeeds() -> None:
    result = replay([task(8, 500, 50, 1)], Recording(MACHINE), MACHINE)
    assert result.failed_attempts == 0
    assert result.cores.efficiency == 1.0
    assert result.memory.efficiency == 1.0
    assert result.disk.efficiency == 0.5


def test_an_allocation_is_capped_at_the_machine() -> None:
    result = replay([task(1, 10, 10, 1)], Recording(Allocation(64, 1e6, 1e6)), MACHINE)
    assert (result.cores.allocated, result.memory.allocated) == (4, 100)


def test_zero_time_tasks_count_attempts_but_no_resource_time() -> None:
    result = replay([task(1, 50, 5, 0)], Recording(Allocation(1, 10, 10)), MACHINE)
    assert result.failed_attempts == 1
    assert result.memory.allocated == 0
    assert math.isnan(result.memory.efficiency)  # 0/0 is no efficiency
    assert result.as_json()["memory"] == {"efficiency": None}


def test_a_retry_that_does_not_raise_the_exceeded_resource_gets_the_machine() -> None:
    failed = Allocation(1, 10, 10)
    exceeded = frozenset({Resource.MEMORY})
    assert next_allocation(failed, failed, exceeded, MACHINE) == Allocation(1, 100, 10)
    # a proposal below the failed allocation is raised back to it
    assert next_allocation(failed, Allocation(0, 20, 1), exceeded, MACHINE) == Allocation(1, 20, 10)


@dataclass(frozen=True)
class Stubborn:
    """A broken policy: always proposes the same too-small allocation."""

    def first(self, rng: random.Random) -> Allocation:
        return Allocation(1, 1, 1)

    def retry(
        self, failed: Allocation, exceeded: frozenset[Resource], rng: random.Random
    ) -> Allocation:
        return Allocation(1, 1, 1)


@dataclass
class StubbornStrategy:
    def policy(self, category: str) -> Stubborn:
        return Stubborn()

    def observe(self, sample: Sample) -> None:
        pass


def test_every_task_finishes_even_with_a_policy_that_never_grows() -> None:
    result = replay([task(2, 50, 50, 1)], StubbornStrategy(), MACHINE)
    assert result.failed_attempts == 1
    assert result.memory.allocated == 1 + 100


def test_whole_machine_and_declared_max_never_fail() -> None:
    trace = [task(1, 10, 20, 1), task(2, 40, 10, 3)]
    assert declared_maximum(trace, MACHINE) == Allocation(2, 40, 20)
    machine = score(trace, whole_machine, MACHINE)
    declared = score(trace, declared_max, MACHINE)
    assert machine.failed_attempts == declared.failed_attempts == 0
    assert machine.memory.efficiency == pytest.approx(130 / 400)
    assert declared.memory.efficiency == pytest.approx(130 / 160)


def test_as_json_has_the_documented_shape() -> None:
    result = replay([task(1, 5, 5, 2)], Recording(Allocation(1, 10, 10)), MACHINE)
    assert result.as_json() == {
        "cores": {"efficiency": 1.0},
        "memory": {"efficiency": 0.5},
        "disk": {"efficiency": 0.5},
        "failed_attempts": 0,
    }


def test_the_same_seed_gives_the_same_result() -> None:
    rng = random.Random(7)
    trace = [task(1, rng.uniform(1, 90), rng.uniform(1, 90), rng.uniform(1, 5)) for _ in range(60)]
    config = StrategyConfig(machine=MACHINE, seed=3)
    for name, factory in STRATEGIES.items():
        first = replay(trace, factory(config), MACHINE, seed=3)
        again = replay(trace, factory(config), MACHINE, seed=3)
        assert first == again, name
