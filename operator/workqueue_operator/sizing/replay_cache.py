"""Replay results kept on disk, keyed by everything a replay depends on.

CCTools' greedy modes rebucket every point after every task (O(n^2) per task, so a 2,000-task
trace takes minutes), and a CCTools replay gives the same result for the same inputs. Those
results are kept under ``${WQ_CACHE_DIR}/replays/<key>.json``; the key is a digest of the
trace's samples, the strategy and its rules (what decides a replay, not the rule set's title:
``suite.rules_part``), the machine, the seed, the CCTools library (its
archive's content) and the source of every module that decides a replay, so a change to any of
them is a miss, never a stale result.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from workqueue_operator.sizing.cctools_builds import cache_dir
from workqueue_operator.sizing.replay import ReplayResult, ResourceScore
from workqueue_operator.sizing.resources import RESOURCES, Allocation
from workqueue_operator.values.samples import Sample

PACKAGE = Path(__file__).resolve().parents[1]
SOURCES = {
    "replay.py": "sizing/replay.py",
    "rules.py": "sizing/rules.py",
    "resources.py": "sizing/resources.py",
    "samples.py": "values/samples.py",
    "cctools_builds.py": "sizing/cctools_builds.py",
    "cctools_link.py": "sizing/cctools_link.py",
    "cctools_library.py": "sizing/cctools_library.py",
    "strategies/base.py": "sizing/strategies/base.py",
    "strategies/cctools.py": "sizing/strategies/cctools.py",
}
"""The modules whose code decides a CCTools replay (paths in the package), each digested under
its label: a module that moves keeps its label, so the stored replays stay valid."""


@cache
def sources_digest() -> str:
    """Digest of the modules that decide a replay."""
    digest = hashlib.sha256()
    for label, path in SOURCES.items():
        digest.update(label.encode())
        digest.update((PACKAGE / path).read_bytes())
    return digest.hexdigest()


def samples_digest(samples: Sequence[Sample]) -> str:
    """Digest of a trace's samples (everything a replay reads of them)."""
    digest = hashlib.sha256()
    for s in samples:
        row = f"{s.category}\t{s.cores!r}\t{s.memory_mb!r}\t{s.disk_mb!r}\t{s.wall_time_s!r}\n"
        digest.update(row.encode())
    return digest.hexdigest()


def replay_key(parts: Iterable[str]) -> str:
    """The cache key of a replay described by ``parts`` (plus the deciding sources)."""
    digest = hashlib.sha256(sources_digest().encode())
    for part in parts:
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()[:32]


def describe(machine: Allocation, seed: int) -> list[str]:
    """The key parts of the machine and the seed."""
    return [f"machine={machine.values()!r}", f"seed={seed}"]


def path_of(key: str) -> Path:
    """Where a result is kept."""
    return cache_dir() / "replays" / f"{key}.json"


def to_json(result: ReplayResult) -> dict[str, object]:
    """A result as JSON-able numbers."""
    scores = {r.value: [result.score(r).used, result.score(r).allocated] for r in RESOURCES}
    return {
        "tasks": result.tasks,
        "attempts": result.attempts,
        "failed_attempts": result.failed_attempts,
        **scores,
    }


def from_json(data: dict[str, Any]) -> ReplayResult:
    """The inverse of :func:`to_json`."""
    scores = [ResourceScore(*map(float, data[r.value])) for r in RESOURCES]
    cores, memory, disk = scores
    tasks, attempts, failed = (int(data[k]) for k in ("tasks", "attempts", "failed_attempts"))
    return ReplayResult(tasks, attempts, failed, cores, memory, disk)


def load(key: str) -> ReplayResult | None:
    """A kept result, or None (missing or unreadable)."""
    try:
        data = json.loads(path_of(key).read_text())
        return from_json(data)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(key: str, result: ReplayResult) -> None:
    """Keep a result (written to a temporary file, then renamed)."""
    path = path_of(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.part")
    partial.write_text(json.dumps(to_json(result)))
    partial.replace(path)
