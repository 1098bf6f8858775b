"""Trace parsing: headers, fields, and malformed lines counted and skipped, never fatal."""

from __future__ import annotations

from pathlib import Path

from workqueue_operator.sizing.traces import load_trace, parse_line, parse_trace
from workqueue_operator.values.samples import Sample, TaskResult

HEADER = "taskid -- core -- memory -- virtual_memory -- disk -- time -- average_cores -- tag"


def test_a_line_becomes_a_sample_with_the_tag_as_category() -> None:
    sample = parse_line("136 -- 1 -- 92 -- 661 -- 318 -- 12.319071 -- 0.186 -- 1")
    assert sample == Sample(
        category="1",
        cores=1.0,
        memory_mb=92.0,
        disk_mb=318.0,
        wall_time_s=12.319071,
        result=TaskResult.SUCCESS,
        task_id="136",
    )


def test_both_header_spellings_are_skipped_without_counting() -> None:
    for header in (HEADER, HEADER.replace("taskid", "task_id")):
        trace = parse_trace([header, "1 -- 4 -- 100 -- 0 -- 40 -- 5 -- 0 -- a", ""])
        assert [s.task_id for s in trace.samples] == ["1"]
        assert trace.malformed == 0
        assert trace.first_malformed_line is None


def test_malformed_lines_are_counted_and_skipped() -> None:
    lines = [
        HEADER,
        "1 -- 1 -- 10 -- 0 -- 20 -- 3 -- 0 -- a",
        "2 -- 1 -- 10 -- 0 -- 20 -- 3 -- 0",  # seven fields
        "3 -- one -- 10 -- 0 -- 20 -- 3 -- 0 -- a",  # not a number
        "4 -- 1 -- -10 -- 0 -- 20 -- 3 -- 0 -- a",  # negative
        "5 -- 1 -- nan -- 0 -- 20 -- 3 -- 0 -- a",  # not finite
        "garbage",
        "   ",
        "6 -- 2 -- 30 -- 0 -- 40 -- 1.5 -- 0 -- b",
    ]
    trace = parse_trace(lines)
    assert [s.task_id for s in trace.samples] == ["1", "6"]
    assert trace.malformed == 5
    assert trace.first_malformed_line == 3


def test_virtual_memory_and_average_cores_are_not_validated_as_usage() -> None:
    sample = parse_line("7 -- 2 -- 30 -- x -- 40 -- 1.5 -- y -- b")
    assert sample is not None
    assert (sample.cores, sample.memory_mb, sample.disk_mb) == (2.0, 30.0, 40.0)


def test_an_empty_tag_falls_back_to_the_default_category() -> None:
    sample = parse_line("7 -- 2 -- 30 -- 0 -- 40 -- 1.5 -- 0 -- ")
    assert sample is not None
    assert sample.category == "default"


def test_load_trace_reads_a_file_and_survives_undecodable_bytes(tmp_path: Path) -> None:
    path = tmp_path / "resources_all.txt"
    path.write_bytes(
        (HEADER + "\n1 -- 1 -- 10 -- 0 -- 20 -- 3 -- 0 -- a\n").encode()
        + b"\xff\xfe -- broken\n"
        + b"2 -- 1 -- 11 -- 0 -- 21 -- 4 -- 0 -- a\n"
    )
    trace = load_trace(path)
    assert [s.memory_mb for s in trace.samples] == [10.0, 11.0]
    assert trace.malformed == 1
