"""What the manager's transactions log says happened to every task and worker: attempts (when a
task started on which worker and how that attempt ended), worker connections, and which
attempts the framework itself sent back to the queue. Work Queue and TaskVine 7.17.1 logs."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from workqueue_operator.wq.transactions import (
    ATTEMPT_END_STATES,
    WAITING_STATES,
    MalformedLineError,
    TaskEnded,
    TaskOther,
    TaskRunning,
    TaskWaiting,
    parse_line,
)

# Work Queue: "time pid WORKER id addrport  CONNECTION" / "... DISCONNECTION REASON";
# TaskVine:   "time pid WORKER id CONNECTION addrport" / "WORKER id DISCONNECTION REASON".
WORKER_LINE = re.compile(r"^(\d+) \d+ WORKER (\S+) (.*)$")


class AttemptEnd(StrEnum):
    OPEN = "open"
    """Still running (or waiting for retrieval) when the log ends."""
    RETURNED = "returned"
    """Retrieved by the manager: the application got it (or a retry for its resources)."""
    REQUEUED = "requeued"
    """Sent back to the queue by the framework: its worker went away."""


@dataclass
class Attempt:
    task_id: int
    worker: str
    """The worker's address (Work Queue) or id (TaskVine), as the log names it."""
    started_us: int
    end: AttemptEnd = AttemptEnd.OPEN
    ended_us: int | None = None
    result: str = ""


@dataclass
class Ledger:
    """Every task's attempts and every worker's connection, from one transactions log."""

    attempts: dict[int, list[Attempt]] = field(default_factory=lambda: defaultdict(list))
    submitted: set[int] = field(default_factory=set)
    worker_address: dict[str, str] = field(default_factory=dict)
    """TaskVine worker id -> address:port (its CONNECTION line); Work Queue names workers by
    address already."""
    disconnections: list[tuple[int, str, str]] = field(default_factory=list)
    """(time µs, worker, reason)."""
    overlapping: set[int] = field(default_factory=set)
    """Tasks that started again while an earlier attempt was still open."""

    def address(self, worker: str) -> str:
        return self.worker_address.get(worker, worker)

    def ran_more_than_once(self) -> dict[int, list[Attempt]]:
        return {t: a for t, a in self.attempts.items() if len(a) > 1}

    def requeued(self) -> list[Attempt]:
        """Attempts the framework sent back to the queue because their worker vanished."""
        return [a for runs in self.attempts.values() for a in runs if a.end is AttemptEnd.REQUEUED]

    def explained(self, task_id: int) -> bool:
        """Whether every extra attempt of a task is a retry the framework makes by design: the
        attempt before it was requeued (worker gone) or returned for more resources."""
        runs = self.attempts.get(task_id, [])
        if task_id in self.overlapping:
            return False
        return all(
            a.end is AttemptEnd.REQUEUED or a.result == "RESOURCE_EXHAUSTION" for a in runs[:-1]
        )


def read_ledger(path: Path) -> Ledger:
    ledger = Ledger()
    open_attempt: dict[int, Attempt] = {}
    text = path.read_text(errors="replace") if path.exists() else ""
    for line in text.splitlines():
        worker = WORKER_LINE.match(line)
        if worker:
            _worker_line(ledger, int(worker.group(1)), worker.group(2), worker.group(3).split())
            continue
        try:
            record = parse_line(line)
        except MalformedLineError:
            continue
        if record is None:
            continue
        current = open_attempt.get(record.task_id)
        if isinstance(record, TaskWaiting):
            ledger.submitted.add(record.task_id)
            if current is not None:
                current.end, current.ended_us = AttemptEnd.REQUEUED, record.time_us
                del open_attempt[record.task_id]
        elif isinstance(record, TaskRunning):
            if current is not None:
                ledger.overlapping.add(record.task_id)
            attempt = Attempt(record.task_id, record.worker, record.time_us)
            ledger.attempts[record.task_id].append(attempt)
            open_attempt[record.task_id] = attempt
        elif isinstance(record, TaskEnded) and record.state in ATTEMPT_END_STATES:
            if current is not None:
                current.end, current.ended_us = AttemptEnd.RETURNED, record.time_us
                current.result = record.result
                del open_attempt[record.task_id]
        elif isinstance(record, TaskOther) and record.state in WAITING_STATES:
            ledger.submitted.add(record.task_id)
    return ledger


def _worker_line(ledger: Ledger, time_us: int, worker: str, words: list[str]) -> None:
    if "CONNECTION" in words:
        after = words[words.index("CONNECTION") + 1 :]
        if after:  # TaskVine names the address after the word
            ledger.worker_address[worker] = after[0]
        elif words and words[0] != "CONNECTION":  # Work Queue: the address before it
            ledger.worker_address[worker] = words[0]
    elif "DISCONNECTION" in words:
        after = words[words.index("DISCONNECTION") + 1 :]
        ledger.disconnections.append((time_us, worker, after[0] if after else "UNKNOWN"))
