"""CCTools' own bucketing code, driven through ctypes on the trace of its C tests.

``dttools/src/bucketing_manager_test.c`` feeds a manager tasks whose cores follow
``c = 2c mod 7`` from 2 and whose memory and disk follow ``m = 2m mod 7000`` from 2000 (4000,
1000, 2000, ...), with first guesses 1 core and 1000 MB, 10 sampling points and increase rate 2
(the manager's defaults). ``bucketing_base_test.c`` asserts that after those 10 points the
first two buckets are 2000 and 4000 in greedy, det-greedy, exhaustive and det-exhaustive mode.
So, run by the real library:

* during sampling a task gets the first guess and doubles on failure: (4, 4000, 4000) tries
  (1, 1000, 1000), (2, 2000, 2000), then (4, 4000, 4000);
* the 11th task's first memory allocation is a bucket: 2000 in the deterministic modes (the
  lowest), 2000 or 4000 in the random ones.

The tests run the library built from a real CCTools build and skip, saying why, without one.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from workqueue_operator.sizing.cctools_builds import (
    HOW_TO_BUILD,
    CCToolsBuild,
    bucketing_modes,
    find_builds,
)
from workqueue_operator.sizing.replay import failed_attempt, next_allocation, score
from workqueue_operator.sizing.resources import Allocation
from workqueue_operator.sizing.rules import Rules, under
from workqueue_operator.sizing.strategies.cctools import CCToolsBucketing, cctools_factory
from workqueue_operator.values.samples import Sample

MACHINE = Allocation(16, 64000, 64000)
BUILDS = find_builds()
NEEDS_BUILD = pytest.mark.skipif(not BUILDS, reason=f"no CCTools build found: {HOW_TO_BUILD}")


def c_test_trace(count: int) -> Iterator[Sample]:
    """The tasks of bucketing_manager_test.c."""
    cores, memory = 2, 2000
    for index in range(count):
        cores, memory = cores * 2 % 7, memory * 2 % 7000
        yield Sample("c", cores, memory, memory, 1.0, task_id=str(index + 1))


def attempts(strategy: CCToolsBucketing, sample: Sample, rng: random.Random) -> list[Allocation]:
    """Every allocation of a task until it fits, told to the manager as the replay tells it."""
    use = Allocation.used_by(sample)
    policy = strategy.policy(sample.category)
    tried = [policy.first(rng)]
    while exceeded := tried[-1].exceeded_by(use):
        strategy.observe(failed_attempt(sample, use, tried[-1]))
        retry = policy.retry(tried[-1], exceeded, rng)
        tried.append(next_allocation(tried[-1], retry, exceeded, MACHINE))
    strategy.observe(sample)
    return tried


def modes() -> list[tuple[str, str]]:
    return [(build.version, mode) for build in BUILDS for mode, _ in build.modes]


def test_the_modes_are_read_from_bucketing_h() -> None:
    header = """typedef enum {
        BUCKETING_MODE_GREEDY,
        BUCKETING_MODE_EXHAUSTIVE, /* a comment */
        BUCKETING_MODE_DET_GREEDY = 5,
        BUCKETING_MODE_QUANTIZED
    } bucketing_mode_t;"""
    assert bucketing_modes(header) == (
        ("greedy", 0),
        ("exhaustive", 1),
        ("det-greedy", 5),
        ("quantized", 6),
    )
    assert bucketing_modes("no enum here") == ()


@NEEDS_BUILD
@pytest.mark.parametrize(("version", "mode"), modes())
def test_sampling_gives_the_first_guess_then_doubles(version: str, mode: str) -> None:
    strategy = CCToolsBucketing(version, mode, sampling_points=0)
    rng = random.Random(0)
    tasks = list(c_test_trace(10))
    tried = [attempts(strategy, sample, rng) for sample in tasks]
    assert tried[0] == [
        Allocation(1, 1000, 1000),
        Allocation(2, 2000, 2000),
        Allocation(4, 4000, 4000),
    ]
    assert tried[1] == [Allocation(1, 1000, 1000)]  # (1, 1000, 1000) fits the first guess
    assert tried[2] == [Allocation(1, 1000, 1000), Allocation(2, 2000, 2000)]
    assert sum(len(t) - 1 for t in tried) == 4 * 2 + 3 * 1


@NEEDS_BUILD
@pytest.mark.parametrize(("version", "mode"), modes())
def test_after_sampling_the_first_allocation_is_one_of_the_c_tests_buckets(
    version: str, mode: str
) -> None:
    strategy = CCToolsBucketing(version, mode, sampling_points=0)
    rng = random.Random(0)
    *_, eleventh = (attempts(strategy, sample, rng) for sample in c_test_trace(11))
    memory = eleventh[0].memory_mb
    if mode.startswith("det-"):
        assert memory == 2000
    elif mode == "quantized":
        assert memory == 4000  # CCTools' default for quantized: one bucket, the maximum
    else:
        assert memory in {2000, 4000}


@NEEDS_BUILD
def test_a_replay_of_cctools_is_reproducible_from_its_seed() -> None:
    build: CCToolsBuild = BUILDS[-1]
    factory = under(
        Rules("x", per_category=True, cold_start=0), cctools_factory(build.version, "greedy")
    )
    trace = list(c_test_trace(40))
    first = score(trace, factory, MACHINE, seed=3)
    assert score(trace, factory, MACHINE, seed=3) == first
    assert first.failed_attempts >= 11  # at least the sampling phase's failures
