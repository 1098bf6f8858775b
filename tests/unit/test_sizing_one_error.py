"""The one-standard-error rule on a ladder's rungs (``ladder_dp.fewest_within_one_error``,
through ``optimal_ladder``): fewer rungs when the cheapest ladder's saving is within the
sample's noise, a tie always to fewer rungs (also one in the modelled mass above the sampled
top, which the sample's spread does not see), and the fewest rungs when the weights stand for
one task or less."""

from __future__ import annotations

import numpy as np

from workqueue_operator.sizing.strategies.ladder_dp import optimal_ladder

VALUES = np.array([100.0, 400.0])
EVEN = np.array([1.0, 1.0])


def rungs(values: np.ndarray, weights: np.ndarray, effective: float, top: float) -> list[float]:
    ladder = optimal_ladder(values, weights, 10, 0.0, effective=effective, sampled_top=top)
    return [float(v) for v in ladder]


def test_without_the_rule_the_cheapest_ladder_with_it_fewer_rungs_until_the_sample_is_big() -> None:
    # [100, 400] costs 100 + 500 = 600 per two tasks, [400] 800: a saving of 100 per task,
    # against a per-task difference of +300 or -100 (sd 200): within one error up to 4 tasks.
    assert rungs(VALUES, EVEN, 0.0, np.inf) == [100.0, 400.0]
    assert rungs(VALUES, EVEN, 4.0, np.inf) == [400.0]
    assert rungs(VALUES, EVEN, 6.0, np.inf) == [100.0, 400.0]


def test_a_tie_goes_to_fewer_rungs_and_modelled_mass_has_no_error() -> None:
    # 400 and 800 are modelled mass above the sampled top (200): the rung at 400 changes
    # nothing the sample's spread sees, and [200, 800] costs what [200, 400, 800] does (the
    # rule before ties went to fewer rungs kept [200, 400, 800] on float noise).
    values = np.array([100.0, 200.0, 400.0, 800.0])
    weights = np.array([50.0, 50.0, 0.5, 0.5])
    assert rungs(values, weights, 0.0, 200.0) == [200.0, 400.0, 800.0]
    assert rungs(values, weights, 1000.0, 200.0) == [200.0, 800.0]


def test_weights_of_one_task_or_less_give_the_fewest_rungs() -> None:
    assert rungs(VALUES, EVEN, 1.0, np.inf) == [400.0]
