"""Greedy bucketing (Phung, Thain et al., WORKS 2021; CCTools ``bucketing_greedy``).

Values are sorted; a range of them is split at the point that minimises the expected cost of
allocating from the two halves, and each half is split again until the best split point is the
range's top (no split pays). With p1/p2 the weight below/above the split, ``b`` the split value,
``m`` the range's top, and e1/e2 the weighted means below/above, the expected cost is::

    p1*p1*(b - e1) + p1*p2*(m - e1) + p2*p1*(b + m - e2) + p2*p2*(m - e2)

(a task below the split allocated low or high, a task above allocated low then retried high, or
high). Weights are the tasks' significance: the i-th task weighs i, so recent tasks count more.
Points are the distinct values with their summed weight; ties pick the highest split.
"""

from __future__ import annotations

from collections import deque
from functools import partial

import numpy as np

from workqueue_operator.sizing.buckets import Ladder, Ladders, Rung
from workqueue_operator.sizing.strategies.base import StrategyConfig
from workqueue_operator.sizing.strategies.history import (
    FloatArray,
    History,
    arrival_significance,
)
from workqueue_operator.sizing.strategies.per_resource import (
    PerResourceBucketing,
    compute_ladders,
)


def split_costs(values: FloatArray, weights: FloatArray) -> FloatArray:
    """Expected cost of splitting after each point of a sorted range (the last: no split)."""
    below_w = np.cumsum(weights)
    below_vw = np.cumsum(values * weights)
    total_w = below_w[-1]
    above_w = total_w - below_w
    above_w[-1] = 0.0
    p1 = below_w / total_w
    p2 = above_w / total_w
    mean_below = below_vw / below_w
    safe_above = np.where(above_w > 0, above_w, 1.0)
    mean_above = np.where(above_w > 0, (below_vw[-1] - below_vw) / safe_above, 0.0)
    top = values[-1]
    cost: FloatArray = (
        p1 * p1 * (values - mean_below)
        + p1 * p2 * (top - mean_below)
        + p2 * p1 * (values + top - mean_above)
        + p2 * p2 * (top - mean_above)
    )
    return cost


def greedy_breaks(values: FloatArray, weights: FloatArray, limit: int | None = None) -> list[int]:
    """Indices of the bucket tops (ascending) for sorted distinct values and their weights.

    Ranges are split breadth first; with a ``limit``, splitting stops at that many buckets.
    """
    breaks: list[int] = []
    ranges = deque([(0, len(values) - 1)])
    while ranges:
        low, high = ranges.popleft()
        full = limit is not None and len(breaks) + len(ranges) + 1 >= limit
        if low == high or full:
            breaks.append(high)
            continue
        cost = split_costs(values[low : high + 1], weights[low : high + 1])
        best = low + len(cost) - 1 - int(np.argmin(cost[::-1]))
        if best == high:
            breaks.append(high)
        else:
            ranges.extend([(low, best), (best + 1, high)])
    return sorted(breaks)


def greedy_ladder(values: FloatArray, weights: FloatArray, limit: int | None = None) -> Ladder:
    """Greedy bucketing of sorted distinct values with their weights (at most ``limit`` rungs)."""
    breaks = greedy_breaks(values, weights, limit)
    cumulative = np.cumsum(weights)
    total = float(cumulative[-1])
    rungs: list[Rung] = []
    below = 0.0
    for index in breaks:
        rungs.append(Rung(float(values[index]), (float(cumulative[index]) - below) / total))
        below = float(cumulative[index])
    return tuple(rungs)


def greedy_ladders(history: History, config: StrategyConfig) -> Ladders:
    """Greedy ladders of a non-empty history, at most ``config.max_buckets`` rungs each."""
    ladder = partial(greedy_ladder, limit=config.max_buckets)
    return compute_ladders(history, ladder, arrival_significance)


def greedy_bucketing(config: StrategyConfig) -> PerResourceBucketing:
    """The greedy bucketing strategy (pooled, random draws, cold start on the machine).

    As published, the number of buckets is not limited.
    """
    return PerResourceBucketing(config, greedy_ladder, arrival_significance)
