"""A shift in use: the learner forgets the tasks before it, and only then."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from workqueue_operator.sizing.replay import score
from workqueue_operator.sizing.resources import Allocation, Resource
from workqueue_operator.sizing.rules import PAPERS, under
from workqueue_operator.sizing.strategies.adaptive import (
    AdaptiveLadder,
    AdaptiveSettings,
    recency_weights,
)
from workqueue_operator.sizing.strategies.history import History
from workqueue_operator.sizing.strategies.shift import least_likely_suffix, shift_length
from workqueue_operator.values.samples import Sample

MACHINE = Allocation(cores=16, memory_mb=64_000, disk_mb=64_000)
ALPHA = AdaptiveSettings().shift_alpha
FIRST_RUNGS = (1.0, 100.0, 10.0)  # cores, memory, disk


def task(memory: float) -> Sample:
    return Sample("a", 1, memory, 10, 1)


def history_of(memories: list[float]) -> History:
    return History(MACHINE, [task(m) for m in memories])


def test_the_least_likely_suffix_is_the_run_above_the_rung() -> None:
    above = np.array([False] * 50 + [True] * 10)
    length, log_bound = least_likely_suffix(above, 0.05)
    # Ten of ten above a rung crossed 5 % of the time: Chernoff's bound is 0.05 ** 10 exactly.
    assert length == 10
    assert log_bound == pytest.approx(10 * math.log(0.05))
    # Below the rung's share no suffix is unlikely.
    assert least_likely_suffix(np.array([True, False, False, False]), 0.5) == (0, 0.0)


def test_use_that_moves_up_for_good_is_a_shift_at_the_move() -> None:
    history = history_of([100.0] * 200 + [450.0] * 20)
    recency = recency_weights(len(history), AdaptiveSettings().half_life)
    assert shift_length(history, FIRST_RUNGS, recency, ALPHA) == 20
    assert shift_length(history, FIRST_RUNGS, recency, 0.0) == 0  # off


def test_a_few_tasks_above_the_rung_are_no_shift() -> None:
    history = history_of([100.0] * 200 + [450.0] * 3)
    recency = recency_weights(len(history), AdaptiveSettings().half_life)
    assert shift_length(history, FIRST_RUNGS, recency, ALPHA) == 0


def test_a_steady_mixture_is_never_taken_for_a_shift() -> None:
    # 30 % of the tasks above the first rung, drawn independently: at no point of 2,000 tasks
    # does any suffix look like a shift.
    rng = random.Random(7)
    memories = [450.0 if rng.random() < 0.3 else 100.0 for _ in range(2000)]
    for end in range(10, len(memories) + 1, 10):
        history = history_of(memories[:end])
        recency = recency_weights(len(history), AdaptiveSettings().half_life)
        assert shift_length(history, FIRST_RUNGS, recency, ALPHA) == 0, end


def test_after_a_shift_the_learner_fails_the_new_tasks_far_less() -> None:
    # coffea's pooled stream in small: 150 tasks of 100 MB, then 300 of 450 MB. Without the
    # shift the first rung stays at 100 MB until decay lets the new tasks outweigh the old.
    trace = [task(100.0 + i % 5) for i in range(150)] + [task(450.0 + i % 7) for i in range(300)]

    def replayed(alpha: float) -> int:
        settings = AdaptiveSettings(shift_alpha=alpha)
        factory = under(PAPERS, lambda config: AdaptiveLadder(config, settings))
        return score(trace, factory, MACHINE).failed_attempts

    with_shift, without = replayed(ALPHA), replayed(0.0)
    assert with_shift < without / 2, (with_shift, without)


def test_the_newest_tasks_of_a_history() -> None:
    history = history_of([float(m) for m in range(1, 41)])
    kept = history.newest(5)
    assert list(kept.values(Resource.MEMORY)) == [36, 37, 38, 39, 40]
    assert kept.maximum() == Allocation(1, 40, 10)
    kept.add(task(7.0))  # it grows as any history does
    assert list(kept.values(Resource.MEMORY)) == [36, 37, 38, 39, 40, 7]
    assert len(history) == 40  # the original is untouched
