"""A Work Queue or TaskVine manager's transactions log, line by line, into per-attempt
observations.

Task lines (each log's own header documents them). Work Queue::

    time pid TASK id WAITING category (FIRST_RESOURCES|MAX_RESOURCES) {requested}
    time pid TASK id RUNNING worker_address (FIRST_RESOURCES|MAX_RESOURCES) {allocated}
    time pid TASK id WAITING_RETRIEVAL worker_address
    time pid TASK id (RETRIEVED|DONE) result exit_code {limits_exceeded} {measured}

TaskVine (``vine-run-info/<run>/vine-logs/transactions``) differs in three ways: a task waits
as READY with its attempt number before the JSON, workers are named by id rather than
address, and DONE carries only the result and exit code (the measurement is on RETRIEVED)::

    time pid TASK id READY category (FIRST_RESOURCES|MAX_RESOURCES) attempt {requested}
    time pid TASK id RUNNING worker_id (FIRST_RESOURCES|MAX_RESOURCES) {allocated}
    time pid TASK id RETRIEVED result exit_code {limits_exceeded} {measured}
    time pid TASK id DONE result exit_code

An attempt ends with RETRIEVED (a task retried after RESOURCE_EXHAUSTION has several); DONE
repeats the last attempt when the task goes back to the application, so it yields an
observation only when no RETRIEVED was seen for that attempt (e.g. the log was picked up
late). Categories come from WAITING/READY lines. Every line is accepted: a broken one is
counted as malformed and skipped.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from workqueue_operator.values.samples import Sample
from workqueue_operator.wq import cctools_json
from workqueue_operator.wq.measurements import (
    MeasurementError,
    sample_from_measured,
    task_result,
)

log = logging.getLogger(__name__)

UNKNOWN_CATEGORY = "unknown"
ATTEMPT_END_STATES = frozenset({"RETRIEVED", "DONE"})
WAITING_STATES = frozenset({"WAITING", "READY"})  # Work Queue, TaskVine
ALLOCATIONS = frozenset({"FIRST_RESOURCES", "MAX_RESOURCES"})
# Result names as the managers write them; anything else is reported as "unknown".
RESULT_NAMES = frozenset(
    {
        "SUCCESS",
        "MAX_END_TIME",
        "MAX_WALL_TIME",
        "LIBRARY_EXIT",
        "CANCELLED",
        "FIXED_LOCATION_MISSING",
        "INPUT_MISSING",
        "OUTPUT_MISSING",
        "STDOUT_MISSING",
        "SIGNAL",
        "RESOURCE_EXHAUSTION",
        "END_TIME",
        "TASK_TIMEOUT",
        "UNKNOWN",
        "FORSAKEN",
        "MAX_RETRIES",
        "MAX_WALLTIME",
        "TASK_MAX_RUN_TIME",
        "DISK_ALLOC_FULL",
        "RMONITOR_ERROR",
    }
)


class MalformedLineError(ValueError):
    """A line that claims to be a task record but cannot be parsed."""


@dataclass(frozen=True, slots=True)
class TaskWaiting:
    time_us: int
    task_id: int
    category: str
    allocation: str
    requested: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TaskRunning:
    time_us: int
    task_id: int
    worker: str
    allocation: str


@dataclass(frozen=True, slots=True)
class TaskEnded:
    time_us: int
    task_id: int
    state: str
    result: str
    exit_code: int
    limits_exceeded: dict[str, Any]
    measured: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TaskOther:
    """Any other task state (WAITING_RETRIEVAL, CANCELED, ...)."""

    time_us: int
    task_id: int
    state: str


TaskRecord = TaskWaiting | TaskRunning | TaskEnded | TaskOther


def _objects(text: str, count: int) -> list[dict[str, Any]]:
    repaired = cctools_json.repair(text)
    found: list[dict[str, Any]] = []
    position = 0
    for _ in range(count):
        value, position = cctools_json.decode_prefix(repaired, position)
        if not isinstance(value, dict):
            raise MalformedLineError(f"expected a JSON object, got {type(value).__name__}")
        found.append(value)
    return found


def parse_line(line: str) -> TaskRecord | None:
    """The task record on ``line``; None for comments, blank lines and non-task records.

    Raises ``MalformedLineError`` when the line is not a valid log line.
    """
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    parts = text.split(None, 5)
    if len(parts) < 3:
        raise MalformedLineError("fewer than three fields")
    try:
        time_us = int(parts[0])
        int(parts[1])  # the manager's pid
    except ValueError as exc:
        raise MalformedLineError("time or pid is not an integer") from exc
    if parts[2] != "TASK":
        return None
    if len(parts) < 5:
        raise MalformedLineError("TASK line without id and state")
    try:
        task_id = int(parts[3])
    except ValueError as exc:
        raise MalformedLineError("task id is not an integer") from exc
    state = parts[4]
    rest = parts[5] if len(parts) > 5 else ""
    try:
        return _parse_task(time_us, task_id, state, rest)
    except (ValueError, json.JSONDecodeError) as exc:
        if isinstance(exc, MalformedLineError):
            raise
        raise MalformedLineError(f"TASK {state}: {exc}") from exc


def _waiting_names(head: str) -> tuple[str, str]:
    """(category, allocation) of a WAITING/READY line's words before its JSON: ``category
    allocation`` (Work Queue; the category may hold blanks) or ``category allocation attempt``
    (TaskVine)."""
    names = head.rsplit(None, 2)
    if len(names) == 3 and names[1] in ALLOCATIONS and names[2].isdigit():
        return names[0], names[1]
    names = head.rsplit(None, 1)
    if len(names) != 2:
        raise MalformedLineError("WAITING needs category, allocation and {resources}")
    return names[0], names[1]


def _parse_task(time_us: int, task_id: int, state: str, rest: str) -> TaskRecord:
    if state in WAITING_STATES:
        head, brace, tail = rest.partition("{")
        if not brace:
            raise MalformedLineError(f"{state} needs category, allocation and {{resources}}")
        category, allocation = _waiting_names(head)
        [requested] = _objects(brace + tail, 1)
        return TaskWaiting(time_us, task_id, category, allocation, requested)
    if state == "RUNNING":
        fields = rest.split()
        if len(fields) < 2:
            raise MalformedLineError("RUNNING needs worker and allocation")
        return TaskRunning(time_us, task_id, fields[0], fields[1])
    if state in ATTEMPT_END_STATES:
        fields = rest.split(None, 2)
        if state == "DONE" and len(fields) == 2:  # TaskVine: result and exit code only
            return TaskEnded(time_us, task_id, state, fields[0], int(fields[1]), {}, {})
        if len(fields) < 3:
            raise MalformedLineError(f"{state} needs result, exit code and two JSON objects")
        limits, measured = _objects(fields[2], 2)
        return TaskEnded(time_us, task_id, state, fields[0], int(fields[1]), limits, measured)
    return TaskOther(time_us, task_id, state)


@dataclass(frozen=True, slots=True)
class Observation:
    """One task attempt that ended: its result and, when monitored, what it used."""

    category: str
    task_id: str
    result: str  # lower-case Work Queue result name, e.g. "success", "resource_exhaustion"
    exit_code: int
    time_s: float
    sample: Sample | None


@dataclass
class TransactionStats:
    lines: int = 0
    ignored: int = 0  # comments, blank lines, manager/worker/category records
    task_records: int = 0
    malformed: int = 0
    attempts: int = 0  # observations produced
    samples: int = 0  # observations with a sample
    unmeasured: int = 0  # attempts without resources_measured (monitoring off)
    duplicates: int = 0  # DONE lines repeating an attempt already seen as RETRIEVED
    retries: int = 0  # a task waiting again after an attempt ran (TaskVine: no RETRIEVED line)
    unknown_category: int = 0  # attempts whose WAITING line was not seen
    evicted: int = 0  # tracked tasks dropped to bound memory
    categories: dict[str, int] = field(default_factory=dict)  # attempts per category


@dataclass(slots=True)
class _Task:
    category: str = UNKNOWN_CATEGORY
    attempt_open: bool = True  # no RETRIEVED seen since the attempt started
    ran: bool = False  # a RUNNING line was seen


class TransactionsReader:
    """Turns transactions-log lines into ``Observation``s; memory bounded by
    ``max_tracked_tasks`` (least recently seen tasks are forgotten first)."""

    def __init__(self, max_tracked_tasks: int = 100_000) -> None:
        self.stats = TransactionStats()
        self._tasks: OrderedDict[int, _Task] = OrderedDict()
        self._max_tracked = max_tracked_tasks

    def feed_all(self, lines: Iterable[str]) -> list[Observation]:
        found = []
        for line in lines:
            observation = self.feed(line)
            if observation is not None:
                found.append(observation)
        return found

    def feed(self, line: str) -> Observation | None:
        self.stats.lines += 1
        try:
            record = parse_line(line)
        except MalformedLineError as exc:
            self._malformed(line, str(exc))
            return None
        if record is None:
            self.stats.ignored += 1
            return None
        self.stats.task_records += 1
        try:
            return self._apply(record)
        except MeasurementError as exc:
            self._malformed(line, str(exc))
            return None

    def _malformed(self, line: str, reason: str) -> None:
        self.stats.malformed += 1
        log.debug("malformed transactions line", extra={"reason": reason, "line": line[:200]})

    def _track(self, task_id: int) -> _Task:
        task = self._tasks.get(task_id)
        if task is None:
            task = self._tasks[task_id] = _Task()
            if len(self._tasks) > self._max_tracked:
                self._tasks.popitem(last=False)
                self.stats.evicted += 1
        else:
            self._tasks.move_to_end(task_id)
        return task

    def _apply(self, record: TaskRecord) -> Observation | None:
        task: _Task | None
        if isinstance(record, TaskWaiting):
            task = self._track(record.task_id)
            if task.ran and task.attempt_open:
                self.stats.retries += 1
            task.category = record.category
            return None
        if isinstance(record, TaskRunning):
            task = self._track(record.task_id)
            task.attempt_open = task.ran = True
            return None
        if isinstance(record, TaskOther):
            if record.state in {"CANCELED", "CANCELLED"}:
                self._tasks.pop(record.task_id, None)
            return None
        if record.state == "DONE":
            task = self._tasks.pop(record.task_id, None)
            if task is not None and not task.attempt_open:
                self.stats.duplicates += 1
                return None
        else:
            task = self._track(record.task_id)
            task.attempt_open = False
        category = task.category if task is not None else UNKNOWN_CATEGORY
        return self._observe(record, category)

    def _observe(self, record: TaskEnded, category: str) -> Observation:
        time_s = record.time_us / 1e6
        sample = sample_from_measured(
            record.measured,
            category=category,
            result=task_result(record.result),
            task_id=str(record.task_id),
            fallback_timestamp=time_s,
        )
        stats = self.stats
        stats.attempts += 1
        stats.categories[category] = stats.categories.get(category, 0) + 1
        if category == UNKNOWN_CATEGORY:
            stats.unknown_category += 1
        if sample is None:
            stats.unmeasured += 1
        else:
            stats.samples += 1
        result = record.result if record.result in RESULT_NAMES else "UNKNOWN"
        return Observation(
            category=category,
            task_id=str(record.task_id),
            result=result.lower(),
            exit_code=record.exit_code,
            time_s=time_s,
            sample=sample,
        )
