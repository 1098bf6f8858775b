"""Sample's direct copies (built without ``dataclasses.replace``, for the replay's speed) carry
every field: a field added to Sample must be added to them, and this test says so."""

from __future__ import annotations

from dataclasses import fields, replace

from workqueue_operator.values.samples import Sample, TaskResult

EVERY_FIELD = {
    "category": "reco",
    "cores": 1.5,
    "memory_mb": 2500.0,
    "disk_mb": 300.0,
    "wall_time_s": 42.0,
    "result": TaskResult.OTHER,
    "timestamp": 1700000000.0,
    "task_id": "17",
}


def test_every_field_is_listed_here() -> None:
    assert set(EVERY_FIELD) == {f.name for f in fields(Sample)}, "add it to the copies too"


def test_in_category_is_replace_of_the_category() -> None:
    sample = Sample(**EVERY_FIELD)  # type: ignore[arg-type]
    assert sample.in_category("pooled") == replace(sample, category="pooled")


def test_stopped_at_is_replace_of_the_use_and_the_result() -> None:
    sample = Sample(**EVERY_FIELD)  # type: ignore[arg-type]
    stopped = replace(
        sample, cores=1.0, memory_mb=2000.0, disk_mb=250.0, result=TaskResult.RESOURCE_EXHAUSTION
    )
    assert sample.stopped_at(1.0, 2000.0, 250.0) == stopped
