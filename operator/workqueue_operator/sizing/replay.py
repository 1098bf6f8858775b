"""Score a sizing strategy by replaying a trace.

The model, as in the bucketing papers' simulator:

* Tasks run one after another in trace order. A task's allocation comes only from the tasks
  that finished before it (and the failed attempts reported before it): the strategy is told
  about each task after it finishes.
* An attempt fails when the task's measured use is above its allocation in any resource
  (cores, memory, disk). **Assumption:** a failed attempt runs for the task's full wall time
  before it is stopped (the trace does not say when the limit was hit), so its allocation x
  wall time is wasted. The task then retries with a larger allocation from the strategy.
* An allocation never exceeds the machine; use is capped at the machine, so an attempt that
  gets the whole machine in a resource never fails on it. A retry always raises the exceeded
  resources (a strategy that does not gets the machine for them), so every task finishes.
* Efficiency of a resource = sum(use x wall time) / sum(allocation x wall time over all
  attempts); NaN (undefined) when nothing was allocated.

Failed attempts are reported to the strategy as samples with result ``RESOURCE_EXHAUSTION``
whose use is what the monitor would see: the true use, capped at the failed allocation.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from workqueue_operator.sizing.resources import DEFAULT_MACHINE, RESOURCES, Allocation, Resource
from workqueue_operator.sizing.strategies.base import Strategy, StrategyConfig, StrategyFactory
from workqueue_operator.values.samples import Sample

MAX_ATTEMPTS = 64
"""After this many failures of one task its next attempt gets the whole machine."""


@dataclass(frozen=True, slots=True)
class ResourceScore:
    """Resource x time used and allocated over a replay."""

    used: float
    allocated: float

    @property
    def efficiency(self) -> float:
        """Used / allocated (NaN when nothing was allocated: 0/0 is no efficiency)."""
        return self.used / self.allocated if self.allocated > 0 else math.nan


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """The score of one strategy on one trace."""

    tasks: int
    attempts: int
    failed_attempts: int
    cores: ResourceScore
    memory: ResourceScore
    disk: ResourceScore

    def score(self, resource: Resource) -> ResourceScore:
        """The score of one resource."""
        return (self.cores, self.memory, self.disk)[RESOURCES.index(resource)]

    def as_json(self) -> dict[str, object]:
        """``{"cores"|"memory"|"disk": {"efficiency": x}, "failed_attempts": n}``.

        An undefined efficiency is ``None`` (JSON ``null``).
        """
        result: dict[str, object] = {}
        for r in RESOURCES:
            efficiency = self.score(r).efficiency
            result[r.value] = {"efficiency": None if math.isnan(efficiency) else efficiency}
        result["failed_attempts"] = self.failed_attempts
        return result


def next_allocation(
    failed: Allocation, proposed: Allocation, exceeded: frozenset[Resource], machine: Allocation
) -> Allocation:
    """The retry allocation: ``proposed``, never below ``failed``, exceeded ones raised."""
    result = proposed.capped(machine).at_least(failed)
    for resource in exceeded:
        if result.get(resource) <= failed.get(resource):
            result = result.replace(resource, machine.get(resource))
    return result


def replay(
    samples: Sequence[Sample],
    strategy: Strategy,
    machine: Allocation = DEFAULT_MACHINE,
    seed: int = 0,
) -> ReplayResult:
    """Replay ``samples`` in order against ``strategy`` (see the module docstring)."""
    rng = random.Random(seed)
    used_cores = used_memory = used_disk = 0.0
    allocated_cores = allocated_memory = allocated_disk = 0.0
    attempts = failed_attempts = 0
    for sample in samples:
        use = Allocation.used_by(sample).capped(machine)
        time = sample.wall_time_s
        policy = strategy.policy(sample.category)
        allocation = policy.first(rng).capped(machine)
        failures = 0
        while True:
            attempts += 1
            allocated_cores += allocation.cores * time
            allocated_memory += allocation.memory_mb * time
            allocated_disk += allocation.disk_mb * time
            exceeded = allocation.exceeded_by(use)
            if not exceeded:
                break
            failures += 1
            strategy.observe(failed_attempt(sample, use, allocation))
            if failures >= MAX_ATTEMPTS:
                proposed = machine
            else:
                proposed = policy.retry(allocation, exceeded, rng)
            allocation = next_allocation(allocation, proposed, exceeded, machine)
        failed_attempts += failures
        used_cores += use.cores * time
        used_memory += use.memory_mb * time
        used_disk += use.disk_mb * time
        strategy.observe(sample)
    return ReplayResult(
        len(samples),
        attempts,
        failed_attempts,
        ResourceScore(used_cores, allocated_cores),
        ResourceScore(used_memory, allocated_memory),
        ResourceScore(used_disk, allocated_disk),
    )


def failed_attempt(sample: Sample, use: Allocation, allocation: Allocation) -> Sample:
    """What the monitor reports for an attempt stopped at its limits."""
    return sample.stopped_at(
        min(use.cores, allocation.cores),
        min(use.memory_mb, allocation.memory_mb),
        min(use.disk_mb, allocation.disk_mb),
    )


def declared_maximum(samples: Sequence[Sample], machine: Allocation) -> Allocation:
    """The per-resource maximum use over a whole trace (the oracle declaration)."""
    cores = memory = disk = 0.0  # as resources.maximum, without an Allocation per task
    for sample in samples:
        cores = max(cores, sample.cores)
        memory = max(memory, sample.memory_mb)
        disk = max(disk, sample.disk_mb)
    return Allocation(cores, memory, disk).capped(machine)


def score(
    samples: Sequence[Sample],
    factory: StrategyFactory,
    machine: Allocation = DEFAULT_MACHINE,
    seed: int = 0,
) -> ReplayResult:
    """Build a strategy (declaring the trace's maximum) and replay the trace against it."""
    config = StrategyConfig(machine=machine, seed=seed, declared=declared_maximum(samples, machine))
    return replay(samples, factory(config), machine, seed)
