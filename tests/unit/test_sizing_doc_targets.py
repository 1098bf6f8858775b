"""The first target's verdict in docs/sizing.md (``bench/gen_sizing_doc.py``): the own memory at
least the best other's, with no more failed attempts than CCTools' greedy, and each shortfall
said by how much."""

from __future__ import annotations

import sys

import pytest

from tests.unit.sizing_data import REPO

if str(REPO / "bench") not in sys.path:
    sys.path.insert(0, str(REPO / "bench"))

from gen_sizing_doc import Shortfall, first_target, shortfall
from workqueue_operator.sizing.replay import ReplayResult, ResourceScore


def result(memory_efficiency: float, failed: int) -> ReplayResult:
    """A replay of 100 tasks with the given memory efficiency and failed attempts."""
    whole = ResourceScore(used=1.0, allocated=1.0)
    memory = ResourceScore(used=memory_efficiency * 1000.0, allocated=1000.0)
    return ReplayResult(100, 100 + failed, failed, whole, memory, whole)


@pytest.mark.parametrize(
    ("own", "best", "greedy", "expected"),
    [
        (result(0.8, 5), result(0.7, 9), result(0.5, 5), Shortfall(0.0, 0)),
        (result(0.7, 5), result(0.7, 0), None, Shortfall(0.0, 0)),
        (result(0.69, 5), result(0.7, 0), result(0.5, 9), Shortfall(-1.0, 0)),
        (result(0.8, 12), result(0.7, 0), result(0.5, 9), Shortfall(0.0, 3)),
        (result(0.6, 12), result(0.7, 0), result(0.5, 2), Shortfall(-10.0, 10)),
    ],
)
def test_shortfall_is_each_half_of_the_target_missed(
    own: ReplayResult, best: ReplayResult, greedy: ReplayResult | None, expected: Shortfall
) -> None:
    missed = shortfall(own, best, greedy)
    assert missed.memory_points == pytest.approx(expected.memory_points)
    assert missed.more_failures == expected.more_failures
    assert missed.met == (expected.memory_points == 0 and expected.more_failures == 0)


def test_first_target_says_each_miss_by_how_much() -> None:
    assert first_target(result(0.8, 5), result(0.7, 0), result(0.5, 5)) == "met"
    assert first_target(result(0.69, 5), result(0.7, 0), None) == "MISSED (memory -1.00 points)"
    assert (
        first_target(result(0.69996, 12), result(0.7, 0), result(0.5, 9))
        == "MISSED (memory -0.004 points) (3 more failures)"
    )
    assert first_target(result(0.9, 12), result(0.7, 0), result(0.5, 9)) == (
        "MISSED (3 more failures)"
    )
