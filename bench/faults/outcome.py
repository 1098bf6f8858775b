"""A scenario's figures, every one read from the manager's records (the tasks its ``wait()``
returned, its transactions log, its ``worker_status``) and the apiserver (the pod log), never
from the operator's own status or metrics."""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from faults.bed import Bed
from faults.ledger import Ledger
from faults.podlog import FINISHED, PodLife


@dataclass
class Row:
    scenario: str
    framework: str
    faults: str = ""
    submitted: int = 0
    finished: int = 0
    lost: int = 0
    run_twice: int = 0
    by_design: int = 0
    """Of ``run_twice``: tasks whose every extra run follows a run the framework sent back to
    the queue because its worker vanished (or a retry for more resources)."""
    returned_twice: int = 0
    duplicate_pods: int = 0
    orphan_pods: int = 0
    busy_deleted: int = 0
    converge_s: float | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    started: str = ""
    seconds: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and all(self.checks.values())

    def check(self, name: str, passed: bool) -> None:
        self.checks[name] = bool(passed)

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["ok"] = self.ok
        return data


def begin(scenario: str, framework: str) -> tuple[Row, float]:
    row = Row(scenario, framework, load_before=os.getloadavg())
    row.started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return row, time.monotonic()


def end(row: Row, started: float) -> Row:
    row.load_after = os.getloadavg()
    row.seconds = round(time.monotonic() - started, 1)
    return row


def count_tasks(row: Row, bed: Bed, ledger: Ledger) -> None:
    """Submitted, finished (returned successful, once per task), lost, returned twice, run
    twice and how many of those the framework retried by design."""
    ok = {task.task_id for task in bed.returned if task.ok}
    returns = Counter(task.task_id for task in bed.returned)
    row.submitted = bed.submitted
    row.finished = len(ok)
    row.lost = bed.submitted - len(ok)
    row.returned_twice = sum(1 for n in returns.values() if n > 1)
    twice = ledger.ran_more_than_once()
    row.run_twice = len(twice)
    row.by_design = sum(1 for task in twice if ledger.explained(task))
    failed = [task for task in bed.returned if not task.ok]
    if failed:
        kinds = Counter(f"{t.result_str} (exit {t.exit_code})" for t in failed)
        row.notes.append(f"returned unsuccessful: {dict(kinds)}")


@dataclass(frozen=True)
class Requeues:
    """The runs the framework sent back to the queue, by who took their worker away."""

    by_faults: int
    busy_deleted_pods: tuple[str, ...]
    unattributed: int


def attribute_requeues(
    ledger: Ledger, hosts: dict[str, str], lives: list[PodLife], injected: set[str]
) -> Requeues:
    """A requeued run's worker is a pod (its hostname, as the manager's ``worker_status``
    named it at that address). Killed by the scenario: a fault, by design. Deleted by someone
    else (the operator) while not finished: a busy worker deleted."""
    by_name = {life.name: life for life in lives}
    by_faults, unattributed = 0, 0
    busy: set[str] = set()
    for attempt in ledger.requeued():
        host = hosts.get(ledger.address(attempt.worker), "").split(".")[0]
        life = by_name.get(host)
        if host in injected:
            by_faults += 1
        elif (
            life is not None
            and life.deleted is not None
            and life.phase_at_deletion not in FINISHED
            and attempt.ended_us is not None
            and attempt.ended_us / 1e6 >= life.deleted - 1.0
        ):
            busy.add(host)
        else:
            unattributed += 1
    return Requeues(by_faults, tuple(sorted(busy)), unattributed)


def deleted_by_others(lives: list[PodLife], injected: set[str]) -> list[PodLife]:
    """Pods whose deletion began while live, and not by the scenario: the operator's."""
    return [
        life
        for life in lives
        if life.deleted is not None
        and life.name not in injected
        and life.phase_at_deletion not in (*FINISHED, "gone")
    ]


def not_owned(lives: list[PodLife], pool_uid: str) -> list[str]:
    return [life.name for life in lives if pool_uid not in life.owner_uids]


def load_text(load: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)
