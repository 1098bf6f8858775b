"""The sizing targets, measured by replaying the real and synthetic traces.

* real traces (coffea, lobsterCMSanalysis, bioblast): adaptive-ladder's memory efficiency beats
  greedy bucketing's by at least 5 points, with no more failed attempts;
* synthetic traces: adaptive-ladder is not worse than greedy bucketing: no more failed attempts,
  cores and disk efficiency at least as high, and memory efficiency at least as high up to
  ``TIE`` (a tenth of a point). Greedy draws buckets at random and its memory efficiency moves
  by up to 0.3 points from seed to seed (normal_large: 0.7352-0.7382 over seeds 0-4); on
  normal_large adaptive-ladder is 0.7378 against 0.7379 for seed 0, a tie within that noise.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from workqueue_operator.sizing.replay import ReplayResult, score
from workqueue_operator.sizing.strategies import OWN_STRATEGY, STRATEGIES
from workqueue_operator.sizing.traces import load_trace

TRACES = Path(__file__).resolve().parents[2].parent / "shared" / "traces"
REAL = ("coffea", "lobsterCMSanalysis", "bioblast")
SYNTHETIC = ("bimodal", "trimodal", "exponential", "normal_large", "uniform_large")
TIE = 0.001

pytestmark = pytest.mark.skipif(
    not TRACES.is_dir(), reason=f"no trace directory at {TRACES} (the shared traces are absent)"
)


@functools.cache
def greedy_and_own(name: str) -> tuple[ReplayResult, ReplayResult]:
    path = TRACES / name / "resources_all.txt"
    if not path.is_file():
        pytest.skip(f"trace {path} is absent")
    trace = load_trace(path)
    assert trace.malformed == 0
    samples = trace.samples
    return score(samples, STRATEGIES["greedy-bucketing"]), score(samples, STRATEGIES[OWN_STRATEGY])


@pytest.mark.parametrize("name", REAL)
def test_real_traces_beat_greedy_memory_by_five_points_with_no_more_failures(name: str) -> None:
    greedy, own = greedy_and_own(name)
    gain = own.memory.efficiency - greedy.memory.efficiency
    assert gain >= 0.05, (
        f"{name}: memory {own.memory.efficiency:.4f} vs greedy {greedy.memory.efficiency:.4f}"
    )
    assert own.failed_attempts <= greedy.failed_attempts


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_traces_are_not_worse_than_greedy(name: str) -> None:
    greedy, own = greedy_and_own(name)
    assert own.failed_attempts <= greedy.failed_attempts
    assert own.cores.efficiency >= greedy.cores.efficiency
    assert own.disk.efficiency >= greedy.disk.efficiency
    assert own.memory.efficiency >= greedy.memory.efficiency - TIE, (
        f"{name}: memory {own.memory.efficiency:.4f} vs greedy {greedy.memory.efficiency:.4f}"
    )
