"""What strategies remember: finished tasks' usage in arrival order, and weighted histograms."""

from __future__ import annotations

from collections.abc import Iterable
from operator import attrgetter

import numpy as np
import numpy.typing as npt

from workqueue_operator.sizing.resources import RESOURCES, Allocation, Resource
from workqueue_operator.sizing.strategies.levels import Levels
from workqueue_operator.values.samples import Sample, TaskResult

FloatArray = npt.NDArray[np.float64]

_FIELDS = ("cores", "memory_mb", "disk_mb", "wall_time_s")  # the resources, then wall time
_COLUMNS = len(_FIELDS)


class History:
    """Usage (capped at the machine) and wall time of successful tasks, oldest first."""

    def __init__(self, machine: Allocation, samples: Iterable[Sample] = ()) -> None:
        self.machine = machine
        done = [s for s in samples if s.result is TaskResult.SUCCESS]
        self._size = len(done)
        self._rows = np.zeros((max(16, self._size), _COLUMNS), dtype=np.float64)
        for column, field in enumerate(_FIELDS):
            self._rows[: self._size, column] = np.fromiter(
                map(attrgetter(field), done), np.float64, self._size
            )
        limits = self._rows[:, : len(RESOURCES)]
        np.minimum(limits, machine.values(), out=limits)
        top = limits[: self._size].max(0) if self._size else np.zeros(len(RESOURCES))
        self._maximum = Allocation.of(float(v) for v in top)
        self._levels = tuple(Levels() for _ in RESOURCES)
        self._pending: list[tuple[float, float, float, float]] = []
        """Rows added since the array was last read (written into it when it is)."""

    def add(self, sample: Sample) -> None:
        """Remember a task that finished successfully (failed attempts are ignored)."""
        if sample.result is not TaskResult.SUCCESS:
            return
        machine, top = self.machine, self._maximum
        cores = min(sample.cores, machine.cores)
        memory = min(sample.memory_mb, machine.memory_mb)
        disk = min(sample.disk_mb, machine.disk_mb)
        self._pending.append((cores, memory, disk, sample.wall_time_s))
        self._size += 1
        if cores > top.cores or memory > top.memory_mb or disk > top.disk_mb:
            self._maximum = top.at_least(Allocation(cores, memory, disk))

    def __len__(self) -> int:
        return self._size

    def _stored(self) -> FloatArray:
        """The rows, with the pending ones written in."""
        if self._pending:
            if self._size > len(self._rows):
                grown = np.zeros((max(2 * len(self._rows), self._size), _COLUMNS))
                grown[: len(self._rows)] = self._rows
                self._rows = grown
            self._rows[self._size - len(self._pending) : self._size] = self._pending
            self._pending.clear()
        return self._rows

    def values(self, resource: Resource) -> FloatArray:
        """Usage of one resource, oldest first (a read-only view)."""
        view = self._stored()[: self._size, RESOURCES.index(resource)]
        view.flags.writeable = False
        return view

    def times(self) -> FloatArray:
        """Wall times, oldest first (a read-only view)."""
        view = self._stored()[: self._size, len(RESOURCES)]
        view.flags.writeable = False
        return view

    def usage(self) -> FloatArray:
        """Usage as rows of (cores, memory, disk), oldest first (a read-only view)."""
        view = self._stored()[: self._size, : len(RESOURCES)]
        view.flags.writeable = False
        return view

    def histogram(self, resource: Resource, weights: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``histogram(self.values(resource), weights)``, without sorting the history again."""
        distinct, inverse = self._levels[RESOURCES.index(resource)].of(self.values(resource))
        summed = np.bincount(inverse, weights=weights, minlength=len(distinct))
        return distinct, summed.astype(np.float64)

    def maximum(self) -> Allocation:
        """Per-resource maximum seen (zero when empty), kept as tasks are added."""
        return self._maximum

    def newest(self, count: int) -> History:
        """A history of the newest ``count`` tasks only (the older ones forgotten)."""
        kept = History(self.machine)
        rows = self._stored()[max(self._size - count, 0) : self._size]
        kept._rows = np.zeros((max(16, len(rows)), _COLUMNS), dtype=np.float64)
        kept._rows[: len(rows)] = rows
        kept._size = len(rows)
        top = rows[:, : len(RESOURCES)].max(0) if len(rows) else np.zeros(len(RESOURCES))
        kept._maximum = Allocation.of(float(v) for v in top)
        return kept


def histogram(values: FloatArray, weights: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Distinct values, ascending, with the summed weight of each."""
    distinct, inverse = np.unique(values, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=weights, minlength=len(distinct))
    return distinct, summed.astype(np.float64)


def arrival_significance(count: int) -> FloatArray:
    """The bucketing papers' significance: the i-th task (from 1) weighs i, so recent count more."""
    return np.arange(1, count + 1, dtype=np.float64)


EXACT_REFITS = 100
"""Tasks after each of which a learner recomputes; beyond them, see :func:`grown_by_one_percent`."""


def grown_by_one_percent(seen: int, last: int) -> bool:
    """Recompute after every task for the first ``EXACT_REFITS``, then when the history has grown
    by 1 % since the last computation (a new task then weighs under 1 % of it). This bounds the
    computations of an n-task replay to about ``EXACT_REFITS + 100 ln(n / EXACT_REFITS)``."""
    return seen != last and (seen <= EXACT_REFITS or (seen - last) * 100 >= last)


def every_task(seen: int, last: int) -> bool:
    """Recompute after every new task (the papers' simulator)."""
    return seen != last
