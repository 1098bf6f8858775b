"""Buckets: the task shapes a strategy recommends, and the per-resource ladders behind them.

A *rung* is one per-resource bucket (a value and the share of tasks at or below it that it
covers); a *ladder* is the sorted rungs of one resource. A :class:`Bucket` is a joint shape
(cores, memory, disk) with the share of tasks it covers: what the operator turns into a worker
pod size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from workqueue_operator.sizing.resources import Allocation


@dataclass(frozen=True, slots=True)
class Rung:
    """One per-resource bucket: allocate ``value``; ``share`` of tasks fall in it."""

    value: float
    share: float


Ladder = tuple[Rung, ...]
"""Rungs of one resource, by increasing value; shares sum to 1."""
Ladders = tuple[Ladder, Ladder, Ladder]
"""One ladder per resource, in ``RESOURCES`` order."""


@dataclass(frozen=True, slots=True)
class Bucket:
    """A joint task shape and the share of tasks (0..1) it covers."""

    cores: float
    memory_mb: float
    disk_mb: float
    share: float

    @property
    def allocation(self) -> Allocation:
        """The shape as an allocation."""
        return Allocation(self.cores, self.memory_mb, self.disk_mb)


def joint_buckets(
    usage: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
    ladders: Ladders,
) -> list[Bucket]:
    """Combine per-resource ladders into joint buckets.

    ``usage`` has one row of (cores, memory, disk) per task. Each task is put on the smallest
    rung that holds it in every resource (the top rung when none does); a bucket is one
    combination of rungs that some task needs and its share is those tasks' weight. Buckets are
    sorted by memory, then cores, then disk.
    """
    total = float(weights.sum()) if len(weights) else 0.0
    if len(usage) == 0 or total <= 0:
        return []
    tops = [np.asarray([rung.value for rung in ladder], dtype=np.float64) for ladder in ladders]
    # each task's rung index per resource, folded into one integer key
    key = np.zeros(len(usage), dtype=np.int64)
    for index, values in enumerate(tops):
        position = np.minimum(np.searchsorted(values, usage[:, index]), len(values) - 1)
        key = key * len(values) + position
    codes, inverse = np.unique(key, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=weights, minlength=len(codes))
    shapes = []
    for code, weight in zip(codes, summed, strict=True):
        if weight <= 0:
            continue
        rest = int(code)
        shape = []
        for values in reversed(tops):
            rest, rung = divmod(rest, len(values))
            shape.append(float(values[rung]))
        cores, memory_mb, disk_mb = reversed(shape)
        shapes.append(Bucket(cores, memory_mb, disk_mb, float(weight) / total))
    return sorted(shapes, key=lambda b: (b.memory_mb, b.cores, b.disk_mb))
