"""The record model: how likely the next task is to go above every earlier one, and how far.

A *record* is a task whose use is above the maximum ``m`` of all tasks before it; its relative
excess is ``x / m - 1``. The empirical distribution of the tasks seen gives a new record
probability 0, and a retry above the maximum has nothing to go on; both are wrong for a
distribution that drifts or whose maximum is still growing. The record model estimates:

* the **rate** of records: the recency-weighted share of tasks (after the first) that were
  records, so old records (frequent while a history is short) fade;
* their **excess**: the records' relative excesses with their weights, which scaled to the
  current maximum say where the next record is likely to land.

:func:`next_record` gives that mass (rate x the history's total weight, spread over the scaled
excesses), which joins the values a ladder is computed from.
"""

from __future__ import annotations

import numpy as np

from workqueue_operator.sizing.strategies.history import FloatArray


def record_excesses(values: FloatArray, weights: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Relative excesses ``x / m - 1`` of the records (values above the maximum ``m > 0`` of
    all earlier ones, oldest first) and their weights."""
    if len(values) < 2:
        return np.empty(0), np.empty(0)
    previous = np.maximum.accumulate(values)[:-1]
    later = values[1:]
    records = (later > previous) & (previous > 0)
    return later[records] / previous[records] - 1, weights[1:][records]


def record_rate(values: FloatArray, recency: FloatArray) -> float:
    """The recency-weighted share of tasks after the first that were records (0 for < 2)."""
    if len(values) < 2:
        return 0.0
    _, record_recency = record_excesses(values, recency)
    return float(record_recency.sum()) / float(recency[1:].sum())


def next_record(
    values: FloatArray, weights: FloatArray, recency: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Where the next record may land (the records' excesses scaled to the current maximum)
    and with what mass (the record rate x the history's total weight, spread like the
    records' weights). Empty when there was no record.

    ``weights`` are what a ladder is optimised for (wall time x recency), ``recency`` the
    recency alone (how likely each task is to recur).
    """
    excesses, excess_weights = record_excesses(values, weights)
    if len(excesses) == 0 or float(excess_weights.sum()) <= 0:
        return np.empty(0), np.empty(0)
    mass = record_rate(values, recency) * float(weights.sum())
    virtual = float(values.max()) * (1 + excesses)
    return virtual, mass * excess_weights / float(excess_weights.sum())
