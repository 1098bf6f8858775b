"""CCTools' own bucketing code as replay strategies (``cctools-greedy``, ``cctools-exhaustive``,
``cctools-det-greedy``, ``cctools-det-exhaustive``, ``cctools-quantized``).

One strategy object is one ``bucketing_manager_t`` (TaskVine keeps one per category; the rules
in :mod:`workqueue_operator.sizing.rules` decide whether a learner sees one category or all).
It is driven as TaskVine's manager drives it:

* a task's first attempt and each retry get ``bucketing_manager_predict(m, task_id)``;
* a failed attempt is reported with ``bucketing_manager_add_resource_report(m, task_id, r, 0)``,
  ``r`` being what the monitor measured (use capped at the limit) with ``limits_exceeded``
  marking the resources that went over; a finished task with ``success = 1``.

CCTools' defaults stay as they are (first guess 1 core, 1000 MB memory, 1000 MB disk; increase
rate 2; 10 buckets at most; rebucketing after every task), except the sampling points: under
rules with a cold start of ``n`` tasks the manager samples ``n`` points, so its sampling phase
(first guess, doubling) ends when the rules' cold start does; with ``cold_start = 0`` (CCTools
out of the box) it keeps its own 10. The traces have no GPUs, so that resource is removed.

CCTools draws its random numbers (greedy, exhaustive and quantized pick a bucket at random)
from a global 64-bit Mersenne twister; it is seeded from the replay's random stream before each
prediction, so a replay is reproducible from its seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache

from workqueue_operator.sizing.cctools_builds import (
    MODE_NAMES,
    CCToolsUnavailableError,
    find_builds,
)
from workqueue_operator.sizing.cctools_library import load
from workqueue_operator.sizing.resources import RESOURCES, Allocation, Resource
from workqueue_operator.sizing.strategies.base import StrategyConfig, StrategyFactory
from workqueue_operator.values.samples import Sample, TaskResult

PREFIX = "cctools-"


def exceeded_mask(exceeded: frozenset[Resource]) -> int:
    """The bit mask (1 cores, 2 memory, 4 disk) of exceeded resources."""
    return sum(1 << index for index, resource in enumerate(RESOURCES) if resource in exceeded)


@dataclass(frozen=True, slots=True)
class CCToolsPolicy:
    """Allocations from the manager of a :class:`CCToolsBucketing`."""

    strategy: CCToolsBucketing

    def first(self, rng: random.Random) -> Allocation:
        """The manager's prediction for a new task."""
        return self.strategy.start_task(rng)

    def retry(
        self, failed: Allocation, exceeded: frozenset[Resource], rng: random.Random
    ) -> Allocation:
        """Report the failed attempt, then the manager's prediction for the retry."""
        return self.strategy.retry_task(exceeded, rng)


class CCToolsBucketing:
    """One CCTools bucketing manager (see the module docstring)."""

    def __init__(self, version: str, mode: str, sampling_points: int) -> None:
        self.library = load(version)
        self.mode = mode
        self.handle = self.library.create(mode, sampling_points)
        self._tasks = 0
        self._task: int | None = None
        self._measured: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __del__(self) -> None:
        handle = getattr(self, "handle", 0)
        if handle:
            self.library.delete(handle)
            self.handle = 0

    def policy(self, category: str) -> CCToolsPolicy:
        """The manager's policy (it is one category's manager)."""
        return CCToolsPolicy(self)

    def start_task(self, rng: random.Random) -> Allocation:
        """A new task id and its first prediction."""
        self._tasks += 1
        self._task = self._tasks
        return self._predict(self._task, rng)

    def retry_task(self, exceeded: frozenset[Resource], rng: random.Random) -> Allocation:
        """Report the failed attempt (measured use, exceeded limits), then predict again."""
        task = self._current()
        self.library.report(self.handle, task, self._measured, exceeded_mask(exceeded), False)
        return self._predict(task, rng)

    def observe(self, sample: Sample) -> None:
        """A failed attempt's measurement is kept for the retry; a finished task is reported."""
        use = (sample.cores, sample.memory_mb, sample.disk_mb)
        if sample.result is TaskResult.RESOURCE_EXHAUSTION:
            self._measured = use
        elif sample.result is TaskResult.SUCCESS:
            self.library.report(self.handle, self._current(), use, 0, True)
            self._task = None

    def _current(self) -> int:
        """The task in flight, or a new id for a task the manager did not size (cold start)."""
        if self._task is None:
            self._tasks += 1
            self._task = self._tasks
        return self._task

    def _predict(self, task: int, rng: random.Random) -> Allocation:
        self.library.seed(rng.getrandbits(64))
        return Allocation.of(self.library.predict(self.handle, task))


def cctools_factory(version: str, mode: str) -> StrategyFactory:
    """A factory of managers of one mode of one build (``config.cold_start`` sampling points)."""

    def build(config: StrategyConfig) -> CCToolsBucketing:
        return CCToolsBucketing(version, mode, config.cold_start)

    return build


@cache
def cctools_strategies() -> dict[str, tuple[str, str]]:
    """Name -> (build version, mode) of every CCTools bucketing mode found.

    The newest build (the devel head before releases) names its modes ``cctools-<mode>``; a
    mode that an older build also has is ``cctools-<mode>@<version>`` there. Empty when no
    build exists (``HOW_TO_BUILD`` says how to get one).
    """
    names: dict[str, tuple[str, str]] = {}
    for build in reversed(find_builds()):
        for mode in sorted(dict(build.modes), key=list(MODE_NAMES.values()).index):
            plain = f"{PREFIX}{mode}"
            names[plain if plain not in names else f"{plain}@{build.version}"] = (
                build.version,
                mode,
            )
    return names


__all__ = [
    "PREFIX",
    "CCToolsBucketing",
    "CCToolsUnavailableError",
    "cctools_factory",
    "cctools_strategies",
]
