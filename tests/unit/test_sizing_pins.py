"""Every registered strategy's replay, pinned exactly: counts, each resource's used and allocated
resource x time (hex floats) and a digest of every allocation handed out, under both rule sets,
on a small seeded trace and on the shared coffea trace (skipped when absent).

A change meant only to make the replay faster must leave these identical. The pins were written
by ``bench/replay_fingerprint.py --pins`` with the code before the replay was sped up (issue 15);
write them anew only for a change meant to alter results, and say so in its commit.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.unit.sizing_data import REPO, SHARED

if str(REPO / "bench") not in sys.path:
    sys.path.insert(0, str(REPO / "bench"))

from replay_fingerprint import PINNED_TRACE, fingerprint, small_trace
from workqueue_operator.sizing.traces import load_trace

PINS = Path(__file__).with_name("replay_pins.txt")


def pinned(trace: str) -> list[str]:
    """The pinned lines of one trace, without its label."""
    prefix = f"{trace} "
    lines = PINS.read_text().splitlines()
    return [line.removeprefix(prefix) for line in lines if line.startswith(prefix)]


def test_the_small_trace_replays_exactly_as_pinned() -> None:
    expected = pinned("small")
    assert len(expected) == 16  # 8 strategies x 2 rule sets
    assert fingerprint(small_trace()) == expected


def test_coffea_replays_exactly_as_pinned() -> None:
    path = SHARED / PINNED_TRACE
    if not path.is_file():
        pytest.skip(f"trace {path} is absent (set WQ_SHARED_DIR to the shared data)")
    assert fingerprint(load_trace(path).samples) == pinned("coffea")


def test_a_task_using_1_mb_more_changes_the_fingerprint() -> None:
    samples = small_trace()
    index = next(i for i, s in enumerate(samples) if s.wall_time_s > 0)
    moved = list(samples)
    moved[index] = replace(samples[index], memory_mb=samples[index].memory_mb + 1)
    assert fingerprint(moved) != fingerprint(samples)
