"""Levels: the distinct values of a growing column and each row's index among them, merged in
as rows arrive, must be exactly ``np.unique``'s at every size."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.sizing_data import arr
from workqueue_operator.sizing.strategies.levels import Levels


def grown_in_steps(column: np.ndarray, steps: list[int]) -> None:
    """Ask for the levels at each size in ``steps`` and compare them with ``np.unique``'s."""
    levels = Levels()
    for size in steps:
        distinct, inverse = levels.of(column[:size])
        expected, expected_inverse = np.unique(column[:size], return_inverse=True)
        assert distinct.tobytes() == expected.tobytes()
        assert np.array_equal(inverse, expected_inverse.ravel())


@pytest.mark.parametrize("seed", range(5))
def test_levels_merged_step_by_step_are_np_unique(seed: int) -> None:
    rng = np.random.default_rng(seed)
    column = np.round(rng.lognormal(6.0, 1.0, 3000), int(rng.integers(0, 2)))
    grown_in_steps(column, [1, 2, 3, 10, 11, 50, 51, 52, 400, 401, 1000, 2999, 3000, 3000])


def test_new_values_below_between_and_above_the_known_ones() -> None:
    grown_in_steps(arr(5, 5, 3, 9, 1, 4, 10, 5, 0.5, 4, 11), [2, 3, 4, 6, 7, 9, 11])


@pytest.mark.parametrize("odd", [-0.0, np.nan, -3.0])
def test_signed_or_nan_values_fall_back_to_np_unique(odd: float) -> None:
    column = arr(2, 0, 1, 2, odd, 0, 5, odd, 3)
    levels = Levels()
    for size in (3, 5, 7, 9):
        distinct, inverse = levels.of(column[:size])
        expected, expected_inverse = np.unique(column[:size], return_inverse=True)
        assert distinct.tobytes() == expected.tobytes()
        assert np.array_equal(inverse, expected_inverse.ravel())


def test_what_it_returns_is_read_only() -> None:
    distinct, inverse = Levels().of(arr(3, 1, 2))
    with pytest.raises(ValueError, match="read-only"):
        distinct[0] = 0
    with pytest.raises(ValueError, match="read-only"):
        inverse[0] = 0
