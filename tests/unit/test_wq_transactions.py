"""The transactions-log reader, pinned on the real TopEFT/Coffea log and on broken input."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.unit.wq_helpers import COFFEA_LOG, LOCAL_LOG, VINE_LOG
from workqueue_operator.values.samples import TaskResult
from workqueue_operator.wq.measurements import is_under_measured
from workqueue_operator.wq.transactions import (
    UNKNOWN_CATEGORY,
    MalformedLineError,
    Observation,
    TaskEnded,
    TaskRunning,
    TaskWaiting,
    TransactionsReader,
    parse_line,
)

COFFEA_TRACE = COFFEA_LOG.with_name("resources_all.txt")


@pytest.fixture(scope="module")
def coffea() -> tuple[TransactionsReader, list[Observation]]:
    if not COFFEA_LOG.exists():
        pytest.skip(f"{COFFEA_LOG} not present")
    reader = TransactionsReader()
    with COFFEA_LOG.open() as lines:
        observations = reader.feed_all(lines)
    return reader, observations


def test_coffea_counts_are_pinned(coffea: tuple[TransactionsReader, list[Observation]]) -> None:
    reader, observations = coffea
    stats = reader.stats
    assert stats.lines == 9584
    assert stats.ignored == 164  # 11 header comments, 1 blank, 152 MANAGER/WORKER records
    assert stats.task_records == 9420  # 1,884 tasks x 5 states
    assert stats.malformed == 0
    assert stats.attempts == stats.samples == len(observations) == 1884
    assert stats.duplicates == 1884  # every DONE repeats its RETRIEVED
    assert stats.unmeasured == stats.unknown_category == stats.evicted == 0
    assert stats.categories == {"preprocessing": 136, "processing": 1572, "accumulating": 176}
    assert Counter(o.result for o in observations) == {"success": 1884}
    samples = [o.sample for o in observations if o.sample is not None]
    under = Counter(s.category for s in samples if is_under_measured(s))
    assert under == {"preprocessing": 30, "accumulating": 173}  # 203 shorter than 5 s


def test_coffea_samples_match_the_published_trace(
    coffea: tuple[TransactionsReader, list[Observation]],
) -> None:
    _, observations = coffea
    samples = [o.sample for o in observations if o.sample is not None]
    rows = [line.split(" -- ") for line in COFFEA_TRACE.read_text().splitlines()[1:]]
    assert [o.task_id for o in observations] == [row[0] for row in rows]
    assert [s.memory_mb for s in samples] == [float(row[2]) for row in rows]
    assert [s.disk_mb for s in samples] == [float(row[4]) for row in rows]
    assert [s.wall_time_s for s in samples] == [float(row[5]) for row in rows]
    first = samples[0]
    assert first.category == "preprocessing"
    assert first.cores == 1.0
    assert first.timestamp == pytest.approx(1626271159.878014)  # "end" in microseconds


def test_local_build_log_with_retry_after_exhaustion() -> None:
    reader = TransactionsReader()
    observations = reader.feed_all(LOCAL_LOG.read_text().splitlines())
    assert [(o.task_id, o.category, o.result) for o in observations] == [
        ("3", "my category", "resource_exhaustion"),
        ("3", "my category", "success"),
        ("1", "small", "success"),  # DONE without RETRIEVED still counts once
    ]
    exhausted, retried, short = (o.sample for o in observations)
    assert exhausted is not None and retried is not None and short is not None
    assert exhausted.result is TaskResult.RESOURCE_EXHAUSTION
    assert exhausted.memory_mb == 413.0
    assert exhausted.cores == 0.5
    assert exhausted.timestamp == pytest.approx(1795545015.711032)
    assert retried.wall_time_s == pytest.approx(10.120623)
    assert short.disk_mb == 0.0  # not measured -> 0
    assert is_under_measured(short)
    assert reader.stats.duplicates == 1
    assert reader.stats.malformed == 0


def test_taskvine_log_with_a_retry_at_max_resources() -> None:
    """Recorded from a TaskVine 7.17.1 manager (ndcctools.taskvine, vine_worker, monitoring on):
    task 1 ("small") runs once; task 2 ("my category", first allocation 100 MB, max 1000 MB)
    holds 300 MB, exhausts its first allocation and is retried at its maximum. TaskVine logs
    no RETRIEVED line for the exhausted attempt: only the retry's READY (attempt 2,
    MAX_RESOURCES) shows it, and only the successful attempt is measured."""
    reader = TransactionsReader()
    observations = reader.feed_all(VINE_LOG.read_text().splitlines())
    assert [(o.task_id, o.category, o.result) for o in observations] == [
        ("1", "small", "success"),
        ("2", "my category", "success"),
    ]
    small, hog = (o.sample for o in observations)
    assert small is not None and hog is not None
    assert 300 <= hog.memory_mb <= 330, hog
    assert hog.wall_time_s > 8
    assert reader.stats.duplicates == 2  # each DONE repeats its RETRIEVED
    assert reader.stats.retries == 1
    assert reader.stats.malformed == 0


def test_parse_taskvine_line_shapes() -> None:
    ready = parse_line('1 2 TASK 7 READY my cat MAX_RESOURCES 2 {"memory":[1,"MB"]}')
    assert ready == TaskWaiting(1, 7, "my cat", "MAX_RESOURCES", {"memory": [1, "MB"]})
    running = parse_line("1 2 TASK 7 RUNNING worker-ab12  FIRST_RESOURCES {}")
    assert running == TaskRunning(1, 7, "worker-ab12", "FIRST_RESOURCES")
    done = parse_line("1 2 TASK 7 DONE SUCCESS  0 ")
    assert isinstance(done, TaskEnded) and (done.result, done.exit_code) == ("SUCCESS", 0)
    assert done.measured == {}


def test_parse_line_records() -> None:
    waiting = parse_line('1 2 TASK 7 WAITING cat FIRST_RESOURCES {"memory":[1,"MB"]}')
    assert waiting == TaskWaiting(1, 7, "cat", "FIRST_RESOURCES", {"memory": [1, "MB"]})
    running = parse_line("1 2 TASK 7 RUNNING 1.2.3.4:5  MAX_RESOURCES {}")
    assert running == TaskRunning(1, 7, "1.2.3.4:5", "MAX_RESOURCES")
    ended = parse_line("1 2 TASK 7 DONE SIGNAL 9 {} {}")
    assert isinstance(ended, TaskEnded) and ended.exit_code == 9 and ended.measured == {}
    assert parse_line("# comment") is None
    assert parse_line("   ") is None
    assert parse_line("1 2 MANAGER START") is None


@pytest.mark.parametrize(
    "line",
    [
        "garbage",
        "x 2 TASK 1 DONE SUCCESS 0 {} {}",
        "1 2 TASK one DONE SUCCESS 0 {} {}",
        "1 2 TASK",
        "1 2 TASK 1 DONE SUCCESS 0 {} {trunc",
        "1 2 TASK 1 DONE SUCCESS zero {} {}",
        "1 2 TASK 1 DONE SUCCESS 0 {}",
        "1 2 TASK 1 DONE SUCCESS 0 [] {}",
        "1 2 TASK 1 WAITING onlycategory",
        "1 2 TASK 1 RUNNING",
    ],
)
def test_malformed_lines_raise(line: str) -> None:
    with pytest.raises(MalformedLineError):
        parse_line(line)


def test_malformed_input_is_counted_and_skipped_never_fatal() -> None:
    reader = TransactionsReader()
    lines = [
        "\x00\xff binary junk",
        "1 2 TASK 1 DONE SUCCESS 0 {} {trunc",
        '1 2 TASK 2 DONE SUCCESS 0 {} {"memory":["lots","MB"],"wall_time":[1,"s"]}',
        '1 2 TASK 3 DONE SUCCESS 0 {} {"memory":[5,"parsecs"],"wall_time":[1,"s"]}',
        "1 2 TASK 4 DONE SUCCESS 0 {} {}",  # monitoring off: an attempt without a sample
        "1 2 TASK 5 DONE WEIRD_RESULT 0 {} {}",
        '1 2 TASK 6 DONE SUCCESS 0 {} {"memory":[5,"MB"],"wall_time":[6,"s"],"cmd":"a \\\'q\\\'"}',
    ]
    observations = reader.feed_all(lines)
    assert reader.stats.malformed == 4
    assert [(o.task_id, o.result, o.sample is None) for o in observations] == [
        ("4", "success", True),
        ("5", "unknown", True),
        ("6", "success", False),
    ]
    assert observations[2].category == UNKNOWN_CATEGORY
    assert reader.stats.unmeasured == 2


def test_tracked_tasks_are_bounded() -> None:
    reader = TransactionsReader(max_tracked_tasks=10)
    for task in range(100):
        reader.feed(f'1 2 TASK {task} WAITING c FIRST_RESOURCES {{"memory":[1,"MB"]}}')
    assert reader.stats.evicted == 90
    late = reader.feed('1 2 TASK 0 DONE SUCCESS 0 {} {"memory":[1,"MB"],"wall_time":[9,"s"]}')
    assert late is not None and late.category == UNKNOWN_CATEGORY
    recent = reader.feed('1 2 TASK 99 DONE SUCCESS 0 {} {"memory":[1,"MB"],"wall_time":[9,"s"]}')
    assert recent is not None and recent.category == "c"
