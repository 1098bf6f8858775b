"""A shift in use: the newest tasks go above the first rung far more often than the history did.

A learner's ladder fits its recency-weighted history. When its tasks' use moves up for good
(coffea's pooled stream: category 2's 450 MB tasks replace category 1's 100 MB ones), the first
rung fails the new tasks until decay lets them outweigh the old ones, which with a half-life of
1000 tasks takes hundreds of tasks. Such a shift shows as a run of recent tasks above the first
rung that the history makes improbable.

For each suffix of the newest :data:`SCAN` tasks, of length ``m`` with ``k`` tasks above the
first rung, the chance of ``k`` or more when each task goes above it with the history's share
``p`` is at most ``exp(-m D(k/m || p))`` (Chernoff's bound; ``D`` is the Kullback-Leibler
divergence of two Bernoulli laws). ``p`` is Laplace's rule of succession over the history's
effective size, so a rung no task has crossed yet still has a chance. When the least likely
suffix has a bound below ``alpha / SCAN`` (Bonferroni over the suffixes tried, so a steady
stream raises a false alarm with chance at most ``alpha`` per resource and refit), the use is
taken to have shifted at that suffix's first task, and the learner keeps only the suffix.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from workqueue_operator.sizing.resources import RESOURCES
from workqueue_operator.sizing.strategies.history import FloatArray, History

SCAN = 100
"""Newest tasks among which a shift is looked for (the longest suffix tried)."""

BoolArray = npt.NDArray[np.bool_]


def bernoulli_divergence(rate: FloatArray, p: float) -> FloatArray:
    """``D(rate || p)`` of two Bernoulli laws, elementwise (``0 log 0`` taken as 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        upper = np.where(rate > 0, rate * np.log(rate / p), 0.0)
        lower = np.where(rate < 1, (1 - rate) * np.log((1 - rate) / (1 - p)), 0.0)
    return np.asarray(upper + lower, dtype=np.float64)


def least_likely_suffix(above: BoolArray, p: float) -> tuple[int, float]:
    """Over the suffixes of ``above`` (oldest first), the one most improbably often above the
    rung: its length and the log of the Chernoff bound of its count; ``(0, 0.0)`` when no suffix
    is above it more often than ``p`` says."""
    if len(above) == 0:
        return 0, 0.0
    newest_first = above[::-1]
    lengths = np.arange(1, len(above) + 1, dtype=np.float64)
    rate = np.cumsum(newest_first) / lengths
    log_bound = np.where(rate > p, -lengths * bernoulli_divergence(rate, p), 0.0)
    best = int(np.argmin(log_bound))
    if log_bound[best] >= 0:
        return 0, 0.0  # no suffix goes above the rung more often than the history says
    return best + 1, float(log_bound[best])


def effective_size(recency: FloatArray) -> float:
    """Kish's effective size of ``recency``, ``(sum w)^2 / sum w^2``: how many equally weighted
    tasks would estimate a share as precisely as the weighted ones."""
    total = float(recency.sum())
    return total * total / float((recency * recency).sum())


def share_above(column: FloatArray, rung: float, recency: FloatArray, effective: float) -> float:
    """The rule of succession for a task going above ``rung``: recency-weighted, over the
    history's ``effective`` size (:func:`effective_size` of ``recency``)."""
    share = float(recency[column > rung].sum()) / float(recency.sum())
    return (share * effective + 1) / (effective + 2)


def shift_length(
    history: History, first_rungs: Sequence[float], recency: FloatArray, alpha: float
) -> int:
    """How many of the newest tasks to keep: the suffix where use shifted above a first rung
    (the least likely over every resource), or 0 when no suffix is unlikely enough."""
    if alpha <= 0 or len(history) < 2:
        return 0
    scanned = min(SCAN, len(history) - 1)  # a shift needs some task before it
    threshold = np.log(alpha / SCAN)
    kept, least = 0, threshold
    effective = effective_size(recency)
    for resource, rung in zip(RESOURCES, first_rungs, strict=True):
        column = history.values(resource)
        above = column[-scanned:] > rung
        length, log_bound = least_likely_suffix(
            above, share_above(column, rung, recency, effective)
        )
        if log_bound < least:
            kept, least = length, log_bound
    return kept
