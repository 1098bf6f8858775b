"""The cheapest retry ladder for one resource, by dynamic programming.

A ladder ``a_1 < a_2 < ... < a_k`` (``a_k`` the largest value seen) is tried in order: a task of
value ``x`` runs at ``a_1``, and after each failure at the next rung, until one holds it. With
``S(a)`` the weight of tasks above ``a`` (``S(a_0)`` all of it) and ``c`` a fixed cost per
attempt, its expected cost is ``sum_m (a_m + c) * S(a_{m-1})``. The optimal ladder of at most
``k`` rungs among the distinct values is found exactly in O(k * n^2); values are first merged
into at most ``MAX_LEVELS`` weight quantiles (each level keeps its largest value), which bounds
the work whatever the history size.
"""

from __future__ import annotations

import numpy as np

from workqueue_operator.sizing.strategies.history import FloatArray

MAX_LEVELS = 96


def merge_levels(
    values: FloatArray, weights: FloatArray, levels: int = MAX_LEVELS
) -> tuple[FloatArray, FloatArray]:
    """Group sorted distinct values into at most ``levels`` quantile groups (top value kept)."""
    if len(values) <= levels:
        return values, weights
    cumulative = np.cumsum(weights)
    targets = cumulative[-1] * np.arange(1, levels + 1) / levels
    ends = np.unique(np.minimum(np.searchsorted(cumulative, targets, side="left"), len(values) - 1))
    ends[-1] = len(values) - 1
    merged = np.diff(np.concatenate(([0.0], cumulative[ends])))
    return values[ends], merged


def optimal_ladder(
    values: FloatArray,
    weights: FloatArray,
    max_rungs: int,
    attempt_cost: float = 0.0,
    levels: int = MAX_LEVELS,
) -> FloatArray:
    """Rung values (ascending, ending at the largest value) of least expected cost.

    ``values`` are sorted and distinct, ``weights`` non-negative with a positive sum.
    ``attempt_cost`` is a fixed cost charged per attempt (per unit of weight), on top of the
    allocation: it makes extra rungs, hence extra failures, pay for themselves.
    """
    values, weights = merge_levels(values, weights, levels)
    size = len(values)
    if size == 1 or max_rungs <= 1:
        return values[-1:].copy()
    total = float(weights.sum())
    # above[s]: weight of tasks at index >= s, i.e. still running when rung s-1 failed
    above = total - np.concatenate(([0.0], np.cumsum(weights)[:-1]))
    step = np.outer(above, values + attempt_cost)
    step[np.tri(size, size, -1, dtype=bool)] = np.inf
    rows = np.arange(size)
    best = np.full(size + 1, np.inf)
    best[size] = 0.0
    choices = []
    for _ in range(max_rungs):
        options = step + best[1:]
        choice = options.argmin(axis=1)
        updated = np.append(options[rows, choice], 0.0)
        choices.append(choice)
        if np.array_equal(updated, best):
            break  # more rungs would not help
        best = updated
    rungs = []
    state = 0
    for choice in reversed(choices):
        if state == size:
            break
        rung = int(choice[state])
        rungs.append(float(values[rung]))
        state = rung + 1
    return np.asarray(rungs, dtype=np.float64)
