"""Read ``resources_all.txt`` task traces into samples.

One task per line, in completion order, eight fields separated by `` -- ``: ``taskid``,
``cores``, ``memory_MB``, ``virtual_memory_MB``, ``disk_MB``, ``wall_time_s``,
``average_cores``, ``tag``.

The first line is a header (``taskid ...`` or ``task_id ...``). Blank lines and header lines are
ignored; any other line that does not parse (wrong field count, a non-number, a negative or
non-finite value) is counted and skipped, never fatal. The tag becomes the sample's category.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from workqueue_operator.values.samples import Sample

SEPARATOR = " -- "
FIELDS = 8
HEADER_PREFIXES = ("taskid", "task_id")
DEFAULT_CATEGORY = "default"


@dataclass(frozen=True, slots=True)
class Trace:
    """The samples of a trace and what could not be read."""

    samples: tuple[Sample, ...]
    malformed: int = 0
    """How many non-blank, non-header lines were skipped."""
    first_malformed_line: int | None = None
    """1-based number of the first skipped line, for error messages."""


def parse_line(line: str) -> Sample | None:
    """One trace line as a sample, or None when it is malformed."""
    fields = [field.strip() for field in line.split(SEPARATOR.strip())]
    if len(fields) != FIELDS:
        return None
    task_id, cores, memory, _virtual, disk, wall_time, _average, tag = fields
    try:
        numbers = [float(cores), float(memory), float(disk), float(wall_time)]
    except ValueError:
        return None
    if not task_id or any(not math.isfinite(n) or n < 0 for n in numbers):
        return None
    return Sample(
        category=tag or DEFAULT_CATEGORY,
        cores=numbers[0],
        memory_mb=numbers[1],
        disk_mb=numbers[2],
        wall_time_s=numbers[3],
        task_id=task_id,
    )


def is_header(line: str) -> bool:
    """Whether a line is the trace's column header."""
    return line.lstrip().lower().startswith(HEADER_PREFIXES)


def parse_trace(lines: Iterable[str]) -> Trace:
    """Parse trace lines; malformed lines are counted, not raised."""
    samples: list[Sample] = []
    malformed = 0
    first_bad: int | None = None
    for number, line in enumerate(lines, start=1):
        if not line.strip() or is_header(line):
            continue
        sample = parse_line(line)
        if sample is None:
            malformed += 1
            first_bad = first_bad or number
        else:
            samples.append(sample)
    return Trace(samples=tuple(samples), malformed=malformed, first_malformed_line=first_bad)


def load_trace(path: Path | str) -> Trace:
    """Read a ``resources_all.txt`` file (undecodable bytes are replaced, then counted)."""
    with Path(path).open(encoding="utf-8", errors="replace") as handle:
        return parse_trace(handle)
