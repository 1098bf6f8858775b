"""What a sizing strategy is: a learner fed finished tasks that hands out per-category policies.

The replay (and later the operator) asks ``strategy.policy(category)`` for the allocation of a
task's first attempt and of its retries, then reports the finished task with
``strategy.observe(sample)``. A policy is a snapshot of what the strategy knew when it was
asked; it draws any randomness from the ``rng`` it is given, so runs are reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from workqueue_operator.sizing.resources import DEFAULT_MACHINE, RESOURCES, Allocation, Resource
from workqueue_operator.values.samples import Sample

COLD_START_TASKS = 10
"""Tasks that bucketing strategies run on the whole machine before any bucket exists."""


@dataclass(frozen=True, slots=True)
class StrategyConfig:
    """Settings shared by all strategies."""

    machine: Allocation = DEFAULT_MACHINE
    """The largest allocation a task can get."""
    seed: int = 0
    """Seed of any random choice the strategy makes itself (e.g. k-means initialisation)."""
    cold_start: int = COLD_START_TASKS
    max_buckets: int = 10
    declared: Allocation | None = None
    """The user's declared per-task maximum, for ``declared-max``."""


class CategoryPolicy(Protocol):
    """Allocations for the tasks of one category."""

    def first(self, rng: random.Random) -> Allocation:
        """The allocation of a task's first attempt."""
        ...

    def retry(
        self, failed: Allocation, exceeded: frozenset[Resource], rng: random.Random
    ) -> Allocation:
        """The allocation after an attempt at ``failed`` went over it in ``exceeded``."""
        ...


class Strategy(Protocol):
    """A sizing strategy: learns from finished tasks, in order."""

    def policy(self, category: str) -> CategoryPolicy:
        """The current policy for a category's tasks."""
        ...

    def observe(self, sample: Sample) -> None:
        """Learn from a finished task."""
        ...


StrategyFactory = Callable[[StrategyConfig], Strategy]


@dataclass(frozen=True, slots=True)
class FixedPolicy:
    """Always the same first allocation; a retry gets the machine in what was exceeded."""

    allocation: Allocation
    machine: Allocation

    def first(self, rng: random.Random) -> Allocation:
        """The fixed allocation."""
        return self.allocation

    def retry(
        self, failed: Allocation, exceeded: frozenset[Resource], rng: random.Random
    ) -> Allocation:
        """The failed allocation with the exceeded resources raised to the machine's."""
        return machine_for(failed, exceeded, self.machine)


def machine_for(
    failed: Allocation, exceeded: frozenset[Resource], machine: Allocation
) -> Allocation:
    """``failed`` with every exceeded resource raised to the whole machine."""
    result = failed
    for resource in RESOURCES:
        if resource in exceeded:
            result = result.replace(resource, machine.get(resource))
    return result
