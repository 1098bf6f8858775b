"""Trace parsing: headers, fields, and malformed lines counted and skipped, never fatal."""

from __future__ import annotations

from pathlib import Path

import pytest

from workqueue_operator.sizing.traces import (
    TraceFormatError,
    load_trace,
    parse_any,
    parse_line,
    parse_trace,
)
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
    assert trace.first_malformed_reason == "expected 8 fields separated by '--', found 7"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("3 -- one -- 10 -- 0 -- 20 -- 3 -- 0 -- a", "cores 'one' is not a number"),
        ("4 -- 1 -- -10 -- 0 -- 20 -- 3 -- 0 -- a", "memory -10 is negative"),
        ("5 -- 1 -- 10 -- 0 -- inf -- 3 -- 0 -- a", "disk inf is not finite"),
        ("6 -- 1 -- 10 -- 0 -- 20 -- nan -- 0 -- a", "wall time nan is not finite"),
        (" -- 1 -- 10 -- 0 -- 20 -- 3 -- 0 -- a", "the task id is empty"),
        ("garbage", "expected 8 fields separated by '--', found 1"),
    ],
)
def test_a_malformed_line_says_what_is_wrong(line: str, reason: str) -> None:
    trace = parse_trace([HEADER, line])
    assert (trace.malformed, trace.first_malformed_line) == (1, 2)
    assert trace.first_malformed_reason == reason


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


CSV = """category,cores,memory,disk,cpu_time,wall_time
a,1,100,50,3.5,10
b,2,900.5,60,0,0
"""


def test_the_papers_csv_becomes_samples_in_row_order() -> None:
    trace = parse_any(CSV.splitlines(keepends=True))
    assert trace.malformed == 0
    assert trace.samples == (
        Sample("a", 1.0, 100.0, 50.0, 10.0, task_id="2"),
        Sample("b", 2.0, 900.5, 60.0, 0.0, task_id="3"),
    )


def test_csv_columns_are_found_by_name_in_any_order() -> None:
    lines = ["wall_time,disk,memory,cores,category,cpu_time", "5,40,300,4,x,1"]
    (sample,) = parse_any(lines).samples
    assert (sample.category, sample.cores, sample.memory_mb, sample.disk_mb) == ("x", 4, 300, 40)
    assert sample.wall_time_s == 5


def test_a_csv_header_without_a_needed_column_names_it() -> None:
    with pytest.raises(TraceFormatError, match=r"lacks the column\(s\) memory, wall_time"):
        parse_any(["category,cores,disk,cpu_time", "a,1,2,3"])


def test_malformed_csv_rows_are_counted_with_a_reason() -> None:
    lines = [*CSV.splitlines(), "c,1,2", "d,1,-5,3,4,5", "", "e,1,2,3,4,5"]
    trace = parse_any(lines)
    assert [s.category for s in trace.samples] == ["a", "b", "e"]
    assert trace.malformed == 2
    assert trace.first_malformed_line == 4
    assert trace.first_malformed_reason == "expected 6 CSV fields, found 3"


def test_leading_blank_lines_keep_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "trace.txt"
    path.write_text("\n\n" + HEADER + "\n1 -- 1 -- x -- 0 -- 20 -- 3 -- 0 -- a\n")
    trace = load_trace(path)
    assert (trace.malformed, trace.first_malformed_line) == (1, 4)


def test_load_trace_reads_a_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "tasks.csv"
    path.write_text(CSV.replace("\n", "\r\n"))
    assert [s.memory_mb for s in load_trace(path).samples] == [100.0, 900.5]
