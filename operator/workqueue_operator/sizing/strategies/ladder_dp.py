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
import numpy.typing as npt

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
    *,
    effective: float = 0.0,
    sampled_top: float = np.inf,
) -> FloatArray:
    """Rung values (ascending, ending at the largest value) of least expected cost.

    ``values`` are sorted and distinct, ``weights`` non-negative with a positive sum.
    ``attempt_cost`` is a fixed cost charged per attempt (per unit of weight), on top of the
    allocation: it makes extra rungs, hence extra failures, pay for themselves.

    With ``effective`` > 0 (the Kish effective size of the tasks behind the weights), the
    ladder is :func:`fewest_within_one_error` of the cheapest ones of 1, 2, ... rungs;
    ``sampled_top`` is the largest value that is a sampled task (values above it are modelled
    mass, e.g. the next record, whose error is not a sampling error).
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
    if effective <= 0 or len(choices) <= 1:
        return ladder_of(choices, values)
    sampled = values <= sampled_top
    return fewest_within_one_error(
        choices, values, weights, attempt_cost=attempt_cost, effective=effective, sampled=sampled
    )


def ladder_of(choices: list[npt.NDArray[np.intp]], values: FloatArray) -> FloatArray:
    """The ladder the DP's ``choices`` (one per rung allowed) lead to from the first level."""
    size = len(values)
    rungs = []
    state = 0
    for choice in reversed(choices):
        if state == size:
            break
        rung = int(choice[state])
        rungs.append(float(values[rung]))
        state = rung + 1
    return np.asarray(rungs, dtype=np.float64)


def level_costs(rungs: FloatArray, values: FloatArray, attempt_cost: float) -> FloatArray:
    """What a task at each level costs on ``rungs``: every rung tried until one holds it. The
    top rung must hold every level (the DP's ladders end at the largest value)."""
    assert rungs[-1] >= values[-1], "a ladder that does not hold every level"
    tried = np.cumsum(rungs + attempt_cost)
    return tried[np.minimum(np.searchsorted(rungs, values), len(rungs) - 1)]


def fewest_within_one_error(
    choices: list[npt.NDArray[np.intp]],
    values: FloatArray,
    weights: FloatArray,
    *,
    attempt_cost: float,
    effective: float,
    sampled: npt.NDArray[np.bool_],
) -> FloatArray:
    """The ladder of fewest rungs whose expected cost exceeds the cheapest ladder's by at most
    one standard error of the difference (after Breiman et al.'s one-standard-error rule).

    The cheapest ladder is chosen on the sample it is scored on, so its estimated saving over a
    ladder of fewer rungs is biased up (the optimiser exploits where the sample's tail happens
    to be thin). The difference of two ladders' costs is a weighted mean over the levels; its
    standard error is taken as ``sd / sqrt(effective)``, ``sd`` the weighted standard deviation
    of the per-task difference over the sampled levels and ``effective`` Kish's number of tasks
    behind the weights. The modelled mass above the sampled top (the next record) adds to the
    mean but has no spread of its own to measure; it is extrapolated from a few records, so the
    sample's error stands for the whole difference rather than for its sampled share only. A
    candidate no dearer than the cheapest is within any error; with ``effective`` at most 1
    (one task's worth) nothing tells a rung from noise, so the fewest rungs it is.
    """
    share = weights / float(weights.sum())
    local = share[sampled] / float(share[sampled].sum())
    ladders = [ladder_of(choices[:k], values) for k in range(1, len(choices) + 1)]
    if effective <= 1:
        return ladders[0]
    best = level_costs(ladders[-1], values, attempt_cost)
    for candidate in ladders[:-1]:
        difference = level_costs(candidate, values, attempt_cost) - best
        mean = float(share @ difference)
        spread = difference[sampled] - float(local @ difference[sampled])
        variance = float(local @ spread**2) / effective
        if mean <= 0 or mean * mean <= variance:
            return candidate
    return ladders[-1]
