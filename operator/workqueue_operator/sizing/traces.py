"""Read task traces into samples: ``resources_all.txt`` and the papers' per-task CSV files.

``resources_all.txt``: one task per line, in completion order, eight fields separated by
`` -- ``: ``taskid``, ``cores``, ``memory_MB``, ``virtual_memory_MB``, ``disk_MB``,
``wall_time_s``, ``average_cores``, ``tag``. The first line is a header (``taskid ...`` or
``task_id ...``). The tag becomes the sample's category.

CSV (the bucketing papers' raw data): a header naming at least the columns ``category``,
``cores``, ``memory``, ``disk`` and ``wall_time`` (memory and disk in MB, wall time in s; other
columns such as ``cpu_time`` are ignored), then one row a task in run order. The task id is
the row's line number. A file is read as CSV when its first non-blank line has a comma and no
`` -- ``; a CSV header that lacks a needed column is an error that names it.

Blank lines and header lines are ignored; any other line that does not parse (wrong field
count, a non-number, a negative or non-finite value) is counted and skipped, never fatal, and
the first one's reason is kept for the error message.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from workqueue_operator.values.samples import Sample

SEPARATOR = " -- "
FIELDS = 8
HEADER_PREFIXES = ("taskid", "task_id")
DEFAULT_CATEGORY = "default"
CSV_COLUMNS = ("category", "cores", "memory", "disk", "wall_time")
"""Columns a CSV trace must have (in any order; others are ignored)."""


class TraceFormatError(ValueError):
    """A trace that cannot be read at all (e.g. a CSV header without a needed column)."""


@dataclass(frozen=True, slots=True)
class Malformed:
    """Why a line is not a task."""

    reason: str


@dataclass(frozen=True, slots=True)
class Trace:
    """The samples of a trace and what could not be read."""

    samples: tuple[Sample, ...]
    malformed: int = 0
    """How many non-blank, non-header lines were skipped."""
    first_malformed_line: int | None = None
    """1-based number of the first skipped line, for error messages."""
    first_malformed_reason: str = ""
    """What is wrong with that line."""


def task_sample(
    task_id: str, category: str, named: Sequence[tuple[str, str]]
) -> Sample | Malformed:
    """A sample from text values of cores, memory, disk and wall time, or why it is none."""
    numbers = []
    for name, text in named:
        try:
            value = float(text)
        except ValueError:
            return Malformed(f"{name} {text!r} is not a number")
        if not math.isfinite(value):
            return Malformed(f"{name} {text} is not finite")
        if value < 0:
            return Malformed(f"{name} {text} is negative")
        numbers.append(value)
    if not task_id:
        return Malformed("the task id is empty")
    return Sample(
        category=category or DEFAULT_CATEGORY,
        cores=numbers[0],
        memory_mb=numbers[1],
        disk_mb=numbers[2],
        wall_time_s=numbers[3],
        task_id=task_id,
    )


def read_line(line: str) -> Sample | Malformed:
    """One ``resources_all.txt`` line as a sample, or why it is malformed."""
    fields = [field.strip() for field in line.split(SEPARATOR.strip())]
    if len(fields) != FIELDS:
        return Malformed(
            f"expected {FIELDS} fields separated by '{SEPARATOR.strip()}', found {len(fields)}"
        )
    task_id, cores, memory, _virtual, disk, wall_time, _average, tag = fields
    named = [("cores", cores), ("memory", memory), ("disk", disk), ("wall time", wall_time)]
    return task_sample(task_id, tag, named)


def parse_line(line: str) -> Sample | None:
    """One trace line as a sample, or None when it is malformed."""
    result = read_line(line)
    return result if isinstance(result, Sample) else None


def is_header(line: str) -> bool:
    """Whether a line is the trace's column header."""
    return line.lstrip().lower().startswith(HEADER_PREFIXES)


def collect(results: Iterable[tuple[int, Sample | Malformed]]) -> Trace:
    """Samples kept, malformed lines counted (with the first one's number and reason)."""
    samples: list[Sample] = []
    malformed = 0
    first: tuple[int, str] | None = None
    for number, result in results:
        if isinstance(result, Malformed):
            malformed += 1
            first = first or (number, result.reason)
        else:
            samples.append(result)
    return Trace(
        samples=tuple(samples),
        malformed=malformed,
        first_malformed_line=first[0] if first else None,
        first_malformed_reason=first[1] if first else "",
    )


def parse_trace(lines: Iterable[str], start: int = 1) -> Trace:
    """Parse ``resources_all.txt`` lines (the first numbered ``start``); malformed lines are
    counted, not raised."""
    return collect(
        (number, read_line(line))
        for number, line in enumerate(lines, start=start)
        if line.strip() and not is_header(line)
    )


def csv_rows(lines: Iterator[str], header_line: int) -> Iterator[tuple[int, Sample | Malformed]]:
    """Rows of a CSV trace whose header is the next line (numbered ``header_line``)."""
    reader = csv.reader(lines)
    header = [name.strip().lower() for name in next(reader, [])]
    missing = [name for name in CSV_COLUMNS if name not in header]
    if missing:
        raise TraceFormatError(
            f"the CSV header (line {header_line}) lacks the column(s) {', '.join(missing)}; "
            f"a CSV trace needs {', '.join(CSV_COLUMNS)}"
        )
    index = {name: header.index(name) for name in CSV_COLUMNS}
    labels = {"wall_time": "wall time"}
    for offset, row in enumerate(reader, start=1):
        if not any(cell.strip() for cell in row):
            continue
        number = header_line + offset
        if len(row) != len(header):
            yield number, Malformed(f"expected {len(header)} CSV fields, found {len(row)}")
            continue
        named = [(labels.get(n, n), row[index[n]].strip()) for n in CSV_COLUMNS[1:]]
        yield number, task_sample(str(number), row[index["category"]].strip(), named)


def is_csv_header(line: str) -> bool:
    """Whether the first non-blank line of a trace starts a CSV file."""
    return "," in line and SEPARATOR.strip() not in line


def parse_any(lines: Iterable[str]) -> Trace:
    """Parse a trace in either format, told apart by its first non-blank line.

    Raises :class:`TraceFormatError` for a CSV header without a needed column.
    """
    iterator = iter(lines)
    for number, line in enumerate(iterator, start=1):
        if not line.strip():
            continue
        if is_csv_header(line):
            return collect(csv_rows(chain([line], iterator), number))
        return parse_trace(chain([line], iterator), start=number)
    return Trace(samples=())


def load_trace(path: Path | str) -> Trace:
    """Read a trace file of either format (undecodable bytes are replaced, then counted).

    Raises :class:`TraceFormatError` for a CSV header without a needed column, and
    ``OSError`` when the file cannot be read.
    """
    with Path(path).open(encoding="utf-8", errors="replace", newline="") as handle:
        return parse_any(handle)
