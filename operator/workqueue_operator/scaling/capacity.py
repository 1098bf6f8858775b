"""How many workers of each shape a backlog needs.

A worker holds as many tasks at once as the manager would put on it, so the count follows the
manager's own allocation rule (``task_worker_box_size`` in CCTools' ``work_queue.c``, with
proportional resources, the default since CCTools 7.5): a task that declares some resources
gets the same proportion of the worker's other resources, rounded so that a whole number of
such tasks fill the worker; a task that declares nothing, or declares a whole worker's worth
of anything, takes the whole worker; a task that declares more than the worker has never runs
on it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workqueue_operator.scaling.inputs import CategoryDemand, TaskResources
from workqueue_operator.values.shapes import WorkerShape


def tasks_per_worker(task: TaskResources, shape: WorkerShape) -> int:
    """How many tasks like ``task`` a worker of ``shape`` runs at once; 0 if one does not fit.

    4-core workers, 1-core tasks of unknown memory and disk: 4. Tasks that declare nothing: 1.
    """
    declared = (task.cores, task.memory_mb, task.disk_mb, task.gpus)
    totals = (float(shape.cores), float(shape.memory_mb), float(shape.disk_mb), float(shape.gpus))
    if any(want > total for want, total in zip(declared, totals, strict=True) if want > 0):
        return 0
    if task.is_unknown:
        return 1
    if any(want >= total for want, total in zip(declared, totals, strict=True) if want > 0):
        return 1
    proportion = max(
        want / total for want, total in zip(declared, totals, strict=True) if total > 0
    )
    if proportion <= 0:
        return 1
    proportion = 1.0 / math.floor(1.0 / proportion)
    cores_total, memory_total, disk_total, _ = totals
    allocation = (
        # A task that declares GPUs but not cores gets no core of its own.
        0.0
        if task.cores < 0 and task.gpus > 0
        else max(1.0, task.cores, math.floor(cores_total * proportion)),
        max(1.0, task.memory_mb, math.floor(memory_total * proportion)),
        max(1.0, task.disk_mb, math.floor(disk_total * proportion)),
        max(0.0, task.gpus),
    )
    fits = [
        math.floor(total / allocated)
        for allocated, total in zip(allocation, totals, strict=True)
        if allocated > 0
    ]
    return max(1, min(fits)) if fits else 1


def choose_shape(demand: CategoryDemand, shapes: Sequence[WorkerShape]) -> WorkerShape | None:
    """The shape a category's workers get: its own ``shape_id`` if its tasks fit that shape,
    else the first shape they fit (tasks of unknown size: the first shape); ``None`` if they
    fit none."""
    preferred = [shape for shape in shapes if shape.id == demand.shape_id]
    for shape in (*preferred, *shapes):
        if tasks_per_worker(demand.task, shape) > 0:
            return shape
    return None


@dataclass(frozen=True, slots=True)
class CategoryNeed:
    """The workers one category's backlog needs."""

    category: str
    tasks: int
    waiting: int
    running: int
    shape_id: str | None
    """``None`` when its tasks fit no shape."""
    tasks_per_worker: int
    workers: int


@dataclass(frozen=True, slots=True)
class BacklogNeed:
    """Workers the whole backlog needs, per shape, and how each category adds to it."""

    by_shape: Mapping[str, int]
    categories: tuple[CategoryNeed, ...]

    @property
    def workers(self) -> int:
        """Workers needed over all shapes."""
        return sum(self.by_shape.values())

    @property
    def tasks(self) -> int:
        """Tasks waiting or running over all categories."""
        return sum(need.tasks for need in self.categories)

    @property
    def unfit(self) -> tuple[CategoryNeed, ...]:
        """Categories whose tasks fit no worker shape (they cannot run on this pool)."""
        return tuple(need for need in self.categories if need.shape_id is None)


def backlog_need(demands: Sequence[CategoryDemand], shapes: Sequence[WorkerShape]) -> BacklogNeed:
    """Workers of each shape that the waiting and running tasks need.

    Each category is packed on its own (tasks of one category are alike, so that packing is
    exact) and the categories' workers are added up. That is an upper bound: tasks of two
    categories may share a worker. It is chosen over the lower bound (adding fractions of
    workers) because the lower bound can leave tasks waiting for good when they do not pack
    across categories, and the scaler would never see a reason to add the worker they need.
    """
    by_shape = {shape.id: 0 for shape in shapes}
    categories: list[CategoryNeed] = []
    for demand in demands:
        if demand.tasks == 0:
            continue
        shape = choose_shape(demand, shapes)
        per_worker = tasks_per_worker(demand.task, shape) if shape else 0
        workers = math.ceil(demand.tasks / per_worker) if shape else 0
        if shape:
            by_shape[shape.id] += workers
        categories.append(
            CategoryNeed(
                category=demand.category,
                tasks=demand.tasks,
                waiting=max(0, demand.waiting),
                running=max(0, demand.running),
                shape_id=shape.id if shape else None,
                tasks_per_worker=per_worker,
                workers=workers,
            )
        )
    return BacklogNeed(by_shape=by_shape, categories=tuple(categories))


def apportion(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split ``total`` over the keys of ``weights`` in proportion, exactly (largest remainder,
    ties to the earlier key).

    Every key with a positive weight gets at least one while ``total`` allows, so a small
    shape is not starved by a large one. With no positive weight, all goes to the first key.
    """
    keys = list(weights)
    shares = dict.fromkeys(keys, 0)
    if total <= 0 or not keys:
        return shares
    positive = [key for key in keys if weights[key] > 0]
    if not positive:
        shares[keys[0]] = total
        return shares
    if total <= len(positive):
        ranked = sorted(positive, key=lambda key: (-weights[key], keys.index(key)))
        for key in ranked[:total]:
            shares[key] = 1
        return shares
    for key in positive:
        shares[key] = 1
    rest = total - len(positive)
    rest_weights = {key: weights[key] - 1 for key in positive}
    rest_sum = sum(rest_weights.values())
    if rest_sum == 0:
        rest_weights = dict.fromkeys(positive, 1)
        rest_sum = len(positive)
    floors = {key: rest * rest_weights[key] // rest_sum for key in positive}
    remainders = {key: rest * rest_weights[key] % rest_sum for key in positive}
    left = rest - sum(floors.values())
    ranked = sorted(positive, key=lambda key: (-remainders[key], keys.index(key)))
    for key in ranked[:left]:
        floors[key] += 1
    for key in positive:
        shares[key] += floors[key]
    return shares
