"""The fault-injection runner's counting (bench/faults): what a manager's transactions log and
a pod watch must make it report, so that its figures can say lost, run twice, not by design,
and busy worker deleted when these happen (the lines are Work Queue 7.17.1's own format)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.cctools.manager import FinishedTask
from tests.harness import REPO

if str(REPO / "bench") not in sys.path:
    sys.path.insert(0, str(REPO / "bench"))

from faults.ledger import AttemptEnd, read_ledger
from faults.outcome import Row, attribute_requeues, count_tasks, deleted_by_others
from faults.podlog import PodLife

WANT = '{"memory":[50,"MB"],"disk":[50,"MB"],"cores":[1,"cores"]}'
GOT = '{"memory":[512,"MB"],"disk":[1024,"MB"],"cores":[1,"cores"]}'


def waiting(t: int, task: int) -> str:
    return f"{t}000000 7 TASK {task} WAITING short FIRST_RESOURCES {WANT}"


def running(t: int, task: int, worker: str) -> str:
    return f"{t}000000 7 TASK {task} RUNNING {worker}  FIRST_RESOURCES {GOT}"


def retrieved(t: int, task: int) -> str:
    return f"{t}000000 7 TASK {task} RETRIEVED SUCCESS  0  {{}} {{}}"


LOG = [
    # 1: once. 2: its worker went (back to WAITING), then again elsewhere: by design.
    # 3: started again while its first run was still open: not by design.
    waiting(1, 1),
    waiting(1, 2),
    waiting(1, 3),
    running(2, 1, "10.0.0.1:9000"),
    running(2, 2, "10.0.0.2:9000"),
    running(2, 3, "10.0.0.3:9000"),
    retrieved(3, 1),
    "4000000 7 WORKER 10.0.0.2:9000 10.0.0.2:9000  DISCONNECTION FAILURE",
    waiting(4, 2),
    running(5, 2, "10.0.0.1:9000"),
    running(5, 3, "10.0.0.4:9000"),
    retrieved(6, 2),
    retrieved(7, 3),
]


def finished(task_id: int, exit_code: int = 0) -> FinishedTask:
    return FinishedTask(task_id, 0, "SUCCESS", exit_code, "", "short", "", "10.0.0.1:9000")


def test_the_ledger_tells_the_frameworks_retries_from_the_others(tmp_path: Path) -> None:
    log = tmp_path / "transactions.log"
    log.write_text("\n".join(LOG) + "\n")
    ledger = read_ledger(log)
    assert ledger.submitted == {1, 2, 3}
    assert set(ledger.ran_more_than_once()) == {2, 3}
    assert ledger.explained(2) and not ledger.explained(3)
    [requeued] = ledger.requeued()
    assert (requeued.task_id, requeued.worker, requeued.end) == (2, "10.0.0.2:9000", "requeued")
    assert requeued.end is AttemptEnd.REQUEUED
    assert ledger.disconnections == [(4000000, "10.0.0.2:9000", "FAILURE")]

    row = Row("unit", "WorkQueue")
    bed: Any = SimpleNamespace(
        submitted=4, returned=[finished(1), finished(2), finished(2), finished(3, exit_code=1)]
    )
    count_tasks(row, bed, ledger)
    assert (row.submitted, row.finished, row.lost) == (4, 2, 2)
    assert (row.run_twice, row.by_design, row.returned_twice) == (2, 1, 1)
    assert row.notes == ["returned unsuccessful: {'SUCCESS (exit 1)': 1}"]


def test_a_requeue_is_a_busy_worker_deleted_unless_the_scenario_killed_it(tmp_path: Path) -> None:
    log = tmp_path / "transactions.log"
    log.write_text("\n".join(LOG) + "\n")
    ledger = read_ledger(log)
    hosts = {"10.0.0.2:9000": "workers-b.chaos.svc"}
    pod = PodLife("workers-b", "uid-b", 1.0, running=1.5, deleted=3.9, phase_at_deletion="Running")
    by_operator = attribute_requeues(ledger, hosts, [pod], injected=set())
    assert by_operator.busy_deleted_pods == ("workers-b",) and by_operator.by_faults == 0
    by_scenario = attribute_requeues(ledger, hosts, [pod], injected={"workers-b"})
    assert by_scenario.busy_deleted_pods == () and by_scenario.by_faults == 1
    unknown = attribute_requeues(ledger, {}, [pod], injected=set())
    assert unknown.busy_deleted_pods == () and unknown.unattributed == 1
    assert deleted_by_others([pod], set()) == [pod]
    assert deleted_by_others([pod], {"workers-b"}) == []
