"""Work Queue's first allocation (Tovar et al., IEEE TPDS 2017, "A Job Sizing Strategy for
High-Throughput Scientific Workflows").

Per resource, from the histogram of values seen (each weighted by its tasks' wall time), pick
the first allocation ``a`` that

* ``min-waste``: minimises the expected resource x time, ``a * E[t] + a_max * E[t; x > a]``
  (every task runs at ``a``; those above it run again at the maximum seen, ``a_max``);
* ``max-throughput``: maximises tasks per unit time on an ``a_max``-sized slot,
  ``((a_max / a) * P(x <= a) + P(x > a)) / (E[t] + E[t; x > a])``.

A retry gets the maximum seen in the exceeded resources, or the machine when the failed value
was already that. The first ``cold_start`` tasks get the whole machine, as in the bucketing
papers' simulator, which also pools all categories.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from workqueue_operator.sizing.resources import RESOURCES, Allocation, Resource
from workqueue_operator.sizing.strategies.base import FixedPolicy, StrategyConfig
from workqueue_operator.sizing.strategies.history import (
    FloatArray,
    History,
    grown_by_one_percent,
)
from workqueue_operator.values.samples import Sample

Objective = Callable[[FloatArray, FloatArray, FloatArray], float]
"""(distinct values ascending, summed wall time of each, task count of each) -> allocation."""


def _tail_times(times: FloatArray, counts: FloatArray) -> tuple[float, FloatArray, FloatArray]:
    """E[t], E[t; x > a_i] and P(x > a_i) for each distinct value a_i."""
    total = float(counts.sum())
    if float(times.sum()) <= 0:
        times = counts  # no clock: every task counts as one time unit
    mean_time = float(times.sum()) / total
    above_time = (float(times.sum()) - np.cumsum(times)) / total
    above_share = (total - np.cumsum(counts)) / total
    return mean_time, above_time, above_share


def min_waste(values: FloatArray, times: FloatArray, counts: FloatArray) -> float:
    """The allocation with the least expected resource x time (ties: the larger)."""
    mean_time, above_time, _ = _tail_times(times, counts)
    cost = values * mean_time + values[-1] * above_time
    best = len(cost) - 1 - int(np.argmin(cost[::-1]))
    return float(values[best])


def max_throughput(values: FloatArray, times: FloatArray, counts: FloatArray) -> float:
    """The allocation with the highest expected throughput (ties: the larger)."""
    top = float(values[-1])
    if top <= 0:
        return top
    mean_time, above_time, above_share = _tail_times(times, counts)
    positive = values > 0
    slots = np.where(positive, top / np.where(positive, values, 1.0), 0.0)
    rate = (slots * (1 - above_share) + above_share) / (mean_time + above_time)
    rate = np.where(positive, rate, -np.inf)
    best = len(rate) - 1 - int(np.argmax(rate[::-1]))
    return float(values[best])


@dataclass(frozen=True, slots=True)
class MaxSeenRetryPolicy:
    """A computed first allocation; retries go to the maximum seen, then to the machine."""

    allocation: Allocation
    maximum: Allocation
    machine: Allocation

    def first(self, rng: random.Random) -> Allocation:
        """The computed first allocation."""
        return self.allocation

    def retry(
        self, failed: Allocation, exceeded: frozenset[Resource], rng: random.Random
    ) -> Allocation:
        """Exceeded resources to the maximum seen, or the machine if already there."""
        result = failed
        for resource in exceeded:
            seen = self.maximum.get(resource)
            value = seen if failed.get(resource) < seen else self.machine.get(resource)
            result = result.replace(resource, value)
        return result


class FirstAllocation:
    """Tovar et al.'s first-allocation strategy with one objective."""

    def __init__(self, config: StrategyConfig, objective: Objective) -> None:
        self.config = config
        self.history = History(config.machine)
        self._objective = objective
        self._cold = FixedPolicy(config.machine, config.machine)
        self._first: Allocation | None = None
        self._policy: MaxSeenRetryPolicy | None = None
        self._computed_at = 0

    def observe(self, sample: Sample) -> None:
        """Remember a finished task."""
        self.history.add(sample)

    def policy(self, category: str) -> FixedPolicy | MaxSeenRetryPolicy:
        """Whole machine during the cold start, else the objective's first allocation.

        The first allocation is recomputed as :func:`grown_by_one_percent` says; the maximum
        seen that a retry gets is always the current one.
        """
        seen = len(self.history)
        if seen < max(self.config.cold_start, 1):
            return self._cold
        if self._first is None or grown_by_one_percent(seen, self._computed_at):
            self._computed_at = seen
            self._first = self.first_allocation()
        maximum = self.history.maximum()
        policy = self._policy
        if policy is None or policy.allocation is not self._first or policy.maximum is not maximum:
            policy = self._policy = MaxSeenRetryPolicy(self._first, maximum, self.config.machine)
        return policy

    def first_allocation(self) -> Allocation:
        """The objective's value of each resource over the history."""
        times = self.history.times()
        ones = np.ones_like(times)
        first = []
        for resource in RESOURCES:
            values, summed_times = self.history.histogram(resource, times)
            _, summed_counts = self.history.histogram(resource, ones)
            first.append(self._objective(values, summed_times, summed_counts))
        return Allocation.of(first)


def min_waste_strategy(config: StrategyConfig) -> FirstAllocation:
    """``min-waste`` first allocation."""
    return FirstAllocation(config, min_waste)


def max_throughput_strategy(config: StrategyConfig) -> FirstAllocation:
    """``max-throughput`` first allocation."""
    return FirstAllocation(config, max_throughput)
