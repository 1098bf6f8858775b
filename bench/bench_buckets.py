"""Time computing buckets from many samples, per bucketing strategy.

    .venv/bin/python bench/bench_buckets.py [--samples 100000] [--repeat 5] [--seed 0]

The samples are synthetic and seeded: cores 1, 2 or 4; memory and disk from log-normal
mixtures (continuous, so nearly every value is distinct: the worst case for sorting and
histograms); wall times exponential. Each strategy's ``compute_buckets`` is timed (median of
``--repeat`` runs). The baseline, measured in the same run on the same samples, is the floor
any strategy pays: reading the samples into arrays and sorting each resource's values. The own
strategy's target is 200 ms; the exit status is 1 when it is missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from workqueue_operator.sizing.recommend import BUCKETING, compute_buckets
from workqueue_operator.sizing.resources import DEFAULT_MACHINE, RESOURCES
from workqueue_operator.sizing.strategies import OWN_STRATEGY
from workqueue_operator.sizing.strategies.history import History
from workqueue_operator.values.samples import Sample

TARGET_MS = 200.0


def synthetic_samples(count: int, seed: int) -> list[Sample]:
    """A seeded two-mode workload of ``count`` tasks in one category."""
    rng = np.random.default_rng(seed)
    big = rng.random(count) < 0.3
    cores = np.where(big, 4.0, rng.choice([1.0, 2.0], count))
    memory = np.where(big, rng.lognormal(9.5, 0.3, count), rng.lognormal(6.0, 0.5, count))
    disk = np.where(big, rng.lognormal(8.5, 0.4, count), rng.lognormal(6.5, 0.2, count))
    wall = rng.exponential(60.0, count)
    return [
        Sample("bench", float(c), float(m), float(d), float(t))
        for c, m, d, t in zip(cores, memory, disk, wall, strict=True)
    ]


def baseline(samples: list[Sample]) -> None:
    """The floor: samples into arrays, each resource's values sorted."""
    history = History(DEFAULT_MACHINE, samples)
    for resource in RESOURCES:
        np.sort(history.values(resource))


def median_ms(work: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``work`` in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    samples = synthetic_samples(args.samples, args.seed)
    floor = median_ms(lambda: baseline(samples), args.repeat)
    print(f"compute_buckets on {len(samples):,} samples, median of {args.repeat} runs")
    print(f"{'what':<24} {'ms':>9} {'x baseline':>11} {'buckets':>8}")
    print(f"{'baseline (read + sort)':<24} {floor:9.1f} {1.0:11.2f} {'-':>8}")
    own_ms = 0.0
    for name in BUCKETING:
        buckets = compute_buckets(samples, name, max_buckets=10, seed=args.seed)
        work = partial(compute_buckets, samples, name, max_buckets=10, seed=args.seed)
        elapsed = median_ms(work, args.repeat)
        print(f"{name:<24} {elapsed:9.1f} {elapsed / floor:11.2f} {len(buckets):8d}")
        if name == OWN_STRATEGY:
            own_ms = elapsed
    met = own_ms <= TARGET_MS
    print(f"target: {OWN_STRATEGY} <= {TARGET_MS:.0f} ms: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
