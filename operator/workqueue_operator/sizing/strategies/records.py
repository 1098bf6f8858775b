"""The record model: how likely the next task is to go above every earlier one, and how far.

A *record* is a task whose use is above the maximum ``m`` of all tasks before it; its relative
excess is ``x / m - 1``. The empirical distribution of the tasks seen gives a new record
probability 0, and a retry above the maximum has nothing to go on; both are wrong for a
distribution that drifts or whose maximum is still growing. The record model estimates:

* the **rate** of records: the recency-weighted share of tasks (after the first) that were
  records, so old records (frequent while a history is short) fade;
* their **excess**: the records' relative excesses with their weights, each divided by the
  chance of a record at its position under exchangeability (``1/i`` for the ``i``-th task), which
  scaled to the current maximum say where the next record is likely to land. Records crowd the
  first tasks whatever the distribution (``sum 1/i``), and an excess over the maximum of a
  handful of tasks is no guide to one over the maximum of the whole history; inverse-chance
  weighting gives every position of the history its share, not the first few most of it.

:func:`next_record` gives that mass (rate x the history's total weight, spread over the scaled
excesses), which joins the values a ladder is computed from.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from workqueue_operator.sizing.strategies.history import FloatArray

BoolArray = npt.NDArray[np.bool_]


def records(values: FloatArray) -> tuple[FloatArray, BoolArray]:
    """For every task after the first: the maximum ``m`` of all earlier ones, and whether it was
    a record (above ``m > 0``). Needs at least 2 values."""
    previous = np.maximum.accumulate(values)[:-1]
    return previous, (values[1:] > previous) & (previous > 0)


def record_excesses(
    values: FloatArray, weights: FloatArray, found: tuple[FloatArray, BoolArray] | None = None
) -> tuple[FloatArray, FloatArray]:
    """Relative excesses ``x / m - 1`` of the records (values above the maximum ``m > 0`` of
    all earlier ones, oldest first) and their weights. ``found``: :func:`records` of
    ``values``, when the caller has it."""
    if len(values) < 2:
        return np.empty(0), np.empty(0)
    previous, mask = records(values) if found is None else found
    return values[1:][mask] / previous[mask] - 1, weights[1:][mask]


def position_weighted_excesses(
    values: FloatArray, weights: FloatArray, found: tuple[FloatArray, BoolArray] | None = None
) -> tuple[FloatArray, FloatArray]:
    """:func:`record_excesses` with each record's weight divided by the chance of a record at
    its position under exchangeability (``1/i`` for the ``i``-th task), i.e. multiplied by
    ``i``: records are dense among the first tasks whatever the distribution, so unweighted the
    excesses over a maximum of a handful of tasks would speak for the next record over a maximum
    of the whole history."""
    if len(values) < 2:
        return np.empty(0), np.empty(0)
    found = records(values) if found is None else found
    excesses, excess_weights = record_excesses(values, weights, found)
    positions = np.flatnonzero(found[1]) + 2  # found[1][k] is about the (k + 2)-th task
    return excesses, excess_weights * positions


def record_rate(
    values: FloatArray, recency: FloatArray, found: tuple[FloatArray, BoolArray] | None = None
) -> float:
    """The recency-weighted share of tasks after the first that were records (0 for < 2)."""
    if len(values) < 2:
        return 0.0
    _, record_recency = record_excesses(values, recency, found)
    return float(record_recency.sum()) / float(recency[1:].sum())


def excesses_to_learn(
    values: FloatArray,
    weights: FloatArray,
    found: tuple[FloatArray, BoolArray] | None = None,
    *,
    by_position: bool = True,
) -> tuple[FloatArray, FloatArray]:
    """The excesses the record model learns from: :func:`position_weighted_excesses`, or with
    ``by_position`` False every record alike (:func:`record_excesses`)."""
    if by_position:
        return position_weighted_excesses(values, weights, found)
    return record_excesses(values, weights, found)


def next_record(
    values: FloatArray,
    weights: FloatArray,
    recency: FloatArray,
    found: tuple[FloatArray, BoolArray] | None = None,
    *,
    by_position: bool = True,
) -> tuple[FloatArray, FloatArray]:
    """Where the next record may land (the records' excesses scaled to the current maximum)
    and with what mass (the record rate x the history's total weight, spread like the
    records' weights). Empty when there was no record.

    ``weights`` are what a ladder is optimised for (wall time x recency), ``recency`` the
    recency alone (how likely each task is to recur); ``found`` as for
    :func:`record_excesses`; ``by_position`` as for :func:`excesses_to_learn`.
    """
    if found is None and len(values) >= 2:
        found = records(values)
    excesses, excess_weights = excesses_to_learn(values, weights, found, by_position=by_position)
    if len(excesses) == 0 or float(excess_weights.sum()) <= 0:
        return np.empty(0), np.empty(0)
    mass = record_rate(values, recency, found) * float(weights.sum())
    virtual = float(values.max()) * (1 + excesses)
    return virtual, mass * excess_weights / float(excess_weights.sum())
