"""resource_monitor summaries and the directory follower, on files this machine produced."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from workqueue_operator.values.samples import TaskResult
from workqueue_operator.wq.measurements import (
    BYTES_PER_MB,
    MeasurementError,
    megabytes,
    sample_from_measured,
    seconds,
    task_result,
)
from workqueue_operator.wq.rmsummary import (
    MalformedSummaryError,
    SummaryReader,
    iter_objects,
    sample_from_summary,
)
from workqueue_operator.wq.summary_dir import SummaryDirectory

DATA = Path(__file__).with_name("wq_data")
# `resource_monitor -O out -- python3 -c "...bytearray(300 MiB)...; time.sleep(3)"`
PYTHON_300 = DATA / "python_300mb.summary"
# A Work Queue manager's monitor directory file: its own summary, then four task attempts.
MANAGER = DATA / "manager.summaries"


def test_single_pretty_printed_summary() -> None:
    reader = SummaryReader()
    [sample] = reader.read_file(PYTHON_300)
    assert sample.category == "default"
    assert sample.memory_mb == 313.0  # 300 MiB + the interpreter: "MB" are MiB
    assert sample.wall_time_s == pytest.approx(3.522703)
    assert sample.result is TaskResult.SUCCESS
    assert sample.timestamp == pytest.approx(1795545075.0856)
    assert reader.stats.malformed == 0


def test_manager_summaries_skip_the_managers_own_record() -> None:
    reader = SummaryReader()
    samples = reader.read_file(MANAGER)
    assert [(s.task_id, s.category, s.memory_mb, s.result) for s in samples] == [
        ("4", "small", 2.0, TaskResult.SUCCESS),
        ("3", "small", 413.0, TaskResult.RESOURCE_EXHAUSTION),
        ("2", "big", 263.0, TaskResult.SUCCESS),
        ("1", "small", 113.0, TaskResult.SUCCESS),
    ]
    assert reader.stats.objects == 5
    assert reader.stats.skipped == 1


def test_broken_text_is_counted_never_raised() -> None:
    reader = SummaryReader()
    assert reader.read_text('{"memory": [1, "MB"], "wall_time": [1, "s"]} {"trunc') != []
    assert reader.read_text('{"memory": ["x", "MB"], "wall_time": [1, "s"]}') == []
    assert reader.read_text("[1, 2]") == []
    assert reader.stats.malformed == 3
    with pytest.raises(MalformedSummaryError):
        list(iter_objects("not json"))


def test_summary_result_mapping() -> None:
    base = {"memory": [1, "MB"], "wall_time": [1, "s"]}
    assert sample_from_summary({**base, "exit_type": "signal"}) is not None
    signal = sample_from_summary({**base, "exit_type": "signal"})
    assert signal is not None and signal.result is TaskResult.OTHER
    limits = sample_from_summary({**base, "limits_exceeded": {"memory": [1, "MB"]}})
    assert limits is not None and limits.result is TaskResult.RESOURCE_EXHAUSTION
    assert sample_from_summary({"type": "work_queue", **base}) is None
    assert sample_from_summary({"wall_time": [1, "s"]}) is None


def test_units() -> None:
    assert seconds([1_500_000, "us"]) == 1.5
    assert seconds(2) == 2.0
    assert megabytes([2, "GB"]) == 2048.0
    assert megabytes([BYTES_PER_MB, "B"]) == 1.0
    assert task_result("RESOURCE_EXHAUSTION") is TaskResult.RESOURCE_EXHAUSTION
    assert task_result("SIGNAL") is TaskResult.OTHER
    for bad in ([1, "furlongs"], ["x", "s"], [1, 2, 3], None, True):
        with pytest.raises(MeasurementError):
            seconds(bad)
    sample = sample_from_measured(
        {"memory": [1, "MB"], "wall_time": [1, "s"], "end": [1_000_000, "us"]}, category="c"
    )
    assert sample is not None and sample.timestamp == 1.0


def test_directory_follows_appended_summaries_and_settled_files(tmp_path: Path) -> None:
    directory = SummaryDirectory(tmp_path, settle_s=0.5)
    assert directory.poll() == []
    lines = MANAGER.read_text().splitlines(keepends=True)
    live = tmp_path / "wq-1.summaries"
    live.write_text("".join(lines[:2]))  # the manager's record and task 4 share a line
    assert [s.memory_mb for s in directory.poll()] == [2.0, 413.0]
    with live.open("a") as handle:
        handle.write("".join(lines[2:]) + "{broken\n")
    assert [s.memory_mb for s in directory.poll()] == [263.0, 113.0]
    assert directory.reader.stats.malformed == 1

    single = tmp_path / "task.summary"
    single.write_text(PYTHON_300.read_text())
    assert directory.poll() == []  # still settling
    old = time.time() - 5
    os.utime(single, (old, old))
    assert [s.memory_mb for s in directory.poll()] == [313.0]
    assert directory.poll() == []  # read once
    single.unlink()
    assert directory.poll() == []


def test_directory_bounds_tracked_files(tmp_path: Path) -> None:
    old = time.time() - 5
    for index in range(5):
        path = tmp_path / f"t{index}.summary"
        path.write_text(PYTHON_300.read_text())
        os.utime(path, (old, old))
    directory = SummaryDirectory(tmp_path, max_files=3)
    assert len(directory.poll()) == 3
    assert directory.files_dropped == 2


def test_missing_directory_is_not_fatal(tmp_path: Path) -> None:
    assert SummaryDirectory(tmp_path / "absent").poll() == []


def test_measurement_error_for_bad_values_in_summaries() -> None:
    with pytest.raises(MalformedSummaryError):
        sample_from_summary({"memory": [1, "parsecs"], "wall_time": [1, "s"]})
