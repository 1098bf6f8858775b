"""Exhaustive bucketing (Phung, Thain et al.; CCTools ``bucketing_exhaust``).

For every bucket count n from 1 to ``max_buckets``, candidate bucket tops are the powers of two
below ``max/n`` followed by ``max*k/n`` for k = 1..n; each candidate is lowered to the largest
value it holds and empty candidates are dropped. The candidate set with the lowest expected cost
wins. The cost model draws a first bucket by share and, on failure, a higher bucket by
renormalised share: ``cost[i][j]`` is what a task of bucket i pays when bucket j is drawn
first, ``b_j - e_i`` if it fits, else ``b_j`` plus the expected cost of the draws above j. The
expected cost is ``sum_ij p_i p_j cost[i][j]``. Weights are arrival significance, as in greedy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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


def candidate_tops(top: float, count: int) -> list[float]:
    """Powers of two below ``top/count``, then ``count`` evenly spaced values up to ``top``."""
    steps = max(0, math.floor(math.log2(top / count))) if top > 0 else 0
    return [2.0**i for i in range(steps)] + [top * (k + 1) / count for k in range(count)]


def candidate_ends(values: FloatArray, count: int) -> tuple[int, ...]:
    """Where each non-empty candidate bucket of ``count`` linear steps ends in ``values``
    (exclusive, ascending; the last is ``len(values)``)."""
    tops = np.asarray(candidate_tops(float(values[-1]), count))
    found: list[int] = np.searchsorted(values, tops, side="right").tolist()
    found[-1] = len(values)
    return tuple(end for i, end in enumerate(found) if end > 0 and (i == 0 or end > found[i - 1]))


def candidate_ladder(
    values: FloatArray, cum_w: FloatArray, cum_vw: FloatArray, ends: Sequence[int]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Bucket tops, probabilities and mean value inside for buckets ending at ``ends``.

    ``cum_w`` and ``cum_vw`` are the cumulative weights and value x weights, starting at 0.
    """
    stops = np.array(ends)
    starts = np.array((0, *ends[:-1]))
    bucket_w = cum_w[stops] - cum_w[starts]
    means = (cum_vw[stops] - cum_vw[starts]) / bucket_w
    return values[stops - 1], bucket_w / cum_w[-1], means


def expected_cost(tops: FloatArray, probs: FloatArray, means: FloatArray) -> float:
    """Expected allocation cost of drawing buckets by share (module docstring)."""
    size = len(tops)
    cost = tops[np.newaxis, :] - means[:, np.newaxis]
    for j in range(size - 2, -1, -1):
        above = probs[j + 1 :]
        renormalised = above / above.sum()
        cost[j + 1 :, j] = tops[j] + cost[j + 1 :, j + 1 :] @ renormalised
    return float(probs @ cost @ probs)


def exhaustive_ladder(values: FloatArray, weights: FloatArray, max_buckets: int = 10) -> Ladder:
    """The lowest-cost candidate ladder over 1..max_buckets linear steps."""
    if len(values) == 1:
        return (Rung(float(values[0]), 1.0),)
    cum_w = np.concatenate(([0.0], np.cumsum(weights)))
    cum_vw = np.concatenate(([0.0], np.cumsum(values * weights)))
    best: tuple[float, FloatArray, FloatArray] | None = None
    tried: set[tuple[int, ...]] = set()
    for count in range(1, max(1, max_buckets) + 1):
        ends = candidate_ends(values, count)
        if ends in tried:
            continue  # the same buckets as a smaller count: the same cost, so never better
        tried.add(ends)
        tops, probs, means = candidate_ladder(values, cum_w, cum_vw, ends)
        cost = expected_cost(tops, probs, means)
        if best is None or cost < best[0]:
            best = (cost, tops, probs)
    assert best is not None
    return tuple(Rung(float(t), float(p)) for t, p in zip(best[1], best[2], strict=True))


def exhaustive_ladders(history: History, config: StrategyConfig) -> Ladders:
    """Exhaustive ladders of a non-empty history."""
    ladder = partial(exhaustive_ladder, max_buckets=config.max_buckets)
    return compute_ladders(history, ladder, arrival_significance)


def exhaustive_bucketing(config: StrategyConfig) -> PerResourceBucketing:
    """The exhaustive bucketing strategy (pooled, random draws, cold start on the machine)."""
    ladder = partial(exhaustive_ladder, max_buckets=config.max_buckets)
    return PerResourceBucketing(config, ladder, arrival_significance)
