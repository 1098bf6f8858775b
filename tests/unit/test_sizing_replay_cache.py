"""The replay cache: results kept by content, found again only for the same inputs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from workqueue_operator.sizing import replay_cache
from workqueue_operator.sizing.replay import ReplayResult, ResourceScore
from workqueue_operator.sizing.resources import Allocation
from workqueue_operator.sizing.rules import OPERATOR, PAPERS
from workqueue_operator.sizing.suite import rules_part
from workqueue_operator.values.samples import Sample

RESULT = ReplayResult(3, 5, 2, ResourceScore(1, 2), ResourceScore(3.5, 7), ResourceScore(0, 1))


def test_a_stored_result_is_loaded_back_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WQ_CACHE_DIR", str(tmp_path))
    key = replay_cache.replay_key(["a", "b"])
    assert replay_cache.load(key) is None
    replay_cache.store(key, RESULT)
    assert replay_cache.load(key) == RESULT
    replay_cache.path_of(key).write_text("{not json")
    assert replay_cache.load(key) is None


def test_the_key_changes_with_every_input() -> None:
    base = replay_cache.replay_key(["x", *replay_cache.describe(Allocation(1, 2, 3), 0)])
    assert base == replay_cache.replay_key(["x", *replay_cache.describe(Allocation(1, 2, 3), 0)])
    assert base != replay_cache.replay_key(["x", *replay_cache.describe(Allocation(1, 2, 4), 0)])
    assert base != replay_cache.replay_key(["x", *replay_cache.describe(Allocation(1, 2, 3), 1)])
    assert base != replay_cache.replay_key(["y", *replay_cache.describe(Allocation(1, 2, 3), 0)])


def test_the_samples_digest_reads_what_a_replay_reads() -> None:
    one = [Sample("a", 1, 10, 5, 2, task_id="1")]
    assert replay_cache.samples_digest(one) == replay_cache.samples_digest(
        [Sample("a", 1, 10, 5, 2, task_id="other id")]
    )
    assert replay_cache.samples_digest(one) != replay_cache.samples_digest(
        [Sample("b", 1, 10, 5, 2)]
    )
    assert replay_cache.samples_digest(one) != replay_cache.samples_digest(
        [Sample("a", 1, 10, 5, 2.5)]
    )


def test_a_rule_set_is_keyed_by_what_decides_a_replay_not_by_its_title() -> None:
    assert rules_part(replace(PAPERS, title="reworded")) == rules_part(PAPERS)
    assert rules_part(replace(PAPERS, cold_start=5)) != rules_part(PAPERS)
    assert rules_part(replace(PAPERS, per_category=True)) != rules_part(PAPERS)
    assert rules_part(OPERATOR) != rules_part(PAPERS)
