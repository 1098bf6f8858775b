r"""Print every registered strategy's full replay result on some traces, to compare two versions.

    PYTHONPATH=operator:. .venv/bin/python bench/replay_fingerprint.py TRACE... > FILE
    PYTHONPATH=operator:. .venv/bin/python bench/replay_fingerprint.py --pins [SHARED_DIR] \
        > tests/unit/replay_pins.txt

For each trace, rule set (the papers' and the operator's) and registered strategy: the task,
attempt and failed-attempt counts, each resource's used and allocated resource x time as exact
hex floats, and a SHA-256 of every allocation the strategy handed out (each first attempt and
each retry, in order, as hex floats). Run it with the code before and after a change and
``diff`` the outputs: a speed-up must leave them identical. CCTools' own modes are not
included (they are CCTools' code, and their replays take minutes to hours).

``--pins`` prints the fingerprints ``tests/unit/test_sizing_pins.py`` holds the code to: those of
a small seeded trace (:func:`small_trace`) and of the shared coffea trace. Write them anew only
for a change that is meant to change results (or for a numpy whose arithmetic differs), and
say so in the commit.
"""

from __future__ import annotations

import hashlib
import math
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from workqueue_operator.sizing.replay import ReplayResult, score
from workqueue_operator.sizing.resources import Allocation, Resource
from workqueue_operator.sizing.rules import RULE_SETS
from workqueue_operator.sizing.strategies import STRATEGIES
from workqueue_operator.sizing.strategies.base import (
    CategoryPolicy,
    Strategy,
    StrategyConfig,
    StrategyFactory,
)
from workqueue_operator.sizing.suite import Run, factory
from workqueue_operator.sizing.traces import load_trace
from workqueue_operator.values.samples import Sample


def hexes(allocation: Allocation) -> str:
    """An allocation as exact hex floats."""
    return " ".join(float(v).hex() for v in allocation.values())


@dataclass(frozen=True, slots=True)
class RecordingPolicy:
    """A policy that writes every allocation it hands out into a digest."""

    inner: CategoryPolicy
    digest: hashlib._Hash

    def first(self, rng: random.Random) -> Allocation:
        allocation = self.inner.first(rng)
        self.digest.update(b"F " + hexes(allocation).encode())
        return allocation

    def retry(
        self, failed: Allocation, exceeded: frozenset[Resource], rng: random.Random
    ) -> Allocation:
        allocation = self.inner.retry(failed, exceeded, rng)
        self.digest.update(b"R " + hexes(allocation).encode())
        return allocation


@dataclass(frozen=True, slots=True)
class RecordingStrategy:
    """A strategy whose policies record what they hand out."""

    inner: Strategy
    digest: hashlib._Hash

    def policy(self, category: str) -> CategoryPolicy:
        return RecordingPolicy(self.inner.policy(category), self.digest)

    def observe(self, sample: Sample) -> None:
        self.inner.observe(sample)


def recorded(inner: StrategyFactory, digest: hashlib._Hash) -> StrategyFactory:
    """``inner`` with its allocations recorded into ``digest``."""

    def build(config: StrategyConfig) -> RecordingStrategy:
        return RecordingStrategy(inner(config), digest)

    return build


def line(result: ReplayResult, digest: str) -> str:
    """One result, exactly."""
    scores = " ".join(
        f"{s.used.hex()}/{s.allocated.hex()}" for s in (result.cores, result.memory, result.disk)
    )
    return (
        f"tasks {result.tasks} attempts {result.attempts} failed {result.failed_attempts} "
        f"used/allocated {scores} allocations {digest}"
    )


PINNED_TRACE = Path("traces/coffea/resources_all.txt")
"""The shared trace pinned besides :func:`small_trace` (relative to the shared directory)."""


def fingerprint(samples: Sequence[Sample]) -> list[str]:
    """``<rules> <strategy>: <result>`` for every registered strategy under both rule sets."""
    lines = []
    for rules in RULE_SETS:
        for name in STRATEGIES:
            digest = hashlib.sha256()
            result = score(samples, recorded(factory(Run(rules, name)), digest))
            lines.append(f"{rules.name} {name}: {line(result, digest.hexdigest())}")
    return lines


def small_trace(count: int = 600, seed: int = 15) -> list[Sample]:
    """A seeded trace from ``random.random`` alone (stable across Python versions): three
    categories (a tight bell, two modes, an exponential tail), cores 1, 2 or 4, whole MB, some
    wall times 0."""
    rng = random.Random(seed)
    samples = []
    for _ in range(count):
        pick, bell = rng.random(), sum(rng.random() for _ in range(4)) - 2.0
        if pick < 0.6:
            category, cores, memory = "reco", 1.0, 2500.0 + 200.0 * bell
        elif pick < 0.9:
            upper = rng.random() < 0.3
            category, cores = "skim", 2.0
            memory = 9000.0 + 1200.0 * bell if upper else 900.0 + 150.0 * bell
        else:
            category, cores, memory = "merge", 4.0, 200.0 - 1500.0 * math.log(1.0 - rng.random())
        disk = float(round(400.0 + 600.0 * rng.random()))
        wall = 0.0 if rng.random() < 0.02 else round(1.0 + 240.0 * rng.random(), 2)
        samples.append(Sample(category, cores, float(max(1, round(memory))), disk, wall))
    return samples


def pins(shared: Path) -> list[str]:
    """The pinned fingerprints: ``small <rules> <strategy>: ...``, then coffea's if present."""
    lines = [f"small {entry}" for entry in fingerprint(small_trace())]
    if (shared / PINNED_TRACE).is_file():
        coffea = load_trace(shared / PINNED_TRACE).samples
        lines += [f"coffea {entry}" for entry in fingerprint(coffea)]
    return lines


def main(arguments: list[str]) -> int:
    if arguments[:1] == ["--pins"]:
        shared = Path(arguments[1]) if len(arguments) > 1 else Path("../shared")
        print("\n".join(pins(shared)))
        return 0
    for path in arguments:
        for entry in fingerprint(load_trace(Path(path)).samples):
            print(f"{path} {entry}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
