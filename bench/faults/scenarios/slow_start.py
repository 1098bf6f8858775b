"""slow-start: worker pods that take a long time to become Ready. KWOK holds each pod Pending
for ``ready_s`` (by annotation), and its worker starts only then (the host runner runs the
worker program through a wrapper that waits as long), as with a slow image pull. Expect the
pool to create the pods the backlog needs once, and none more while they are Pending or
their workers not yet connected."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.cctools.install import cctools_bin
from tests.cctools.manager import CategorySpec
from tests.cctools.workers import WORKER_BINARIES

from faults.bed import bed, external_manager, log, worker_pool
from faults.context import RunContext
from faults.controlplane import READY_DELAY_ANNOTATION
from faults.outcome import (
    Row,
    attribute_requeues,
    begin,
    count_tasks,
    deleted_by_others,
    end,
    not_owned,
)
from workqueue_operator.api.common import Framework

NAME = "slow-start"
CATEGORIES = {"work": CategorySpec(cores=1, memory_mb=50, disk_mb=50)}


@dataclass(frozen=True)
class Size:
    ready_s: int = 60
    pool: int = 20
    tasks: int = 40
    task_s: float = 5.0
    timeout_s: float = 900.0


QUICK = Size(ready_s=15, pool=4, tasks=8, task_s=2.0, timeout_s=300.0)


@contextlib.contextmanager
def slow_workers(directory: Path, seconds: int) -> Iterator[None]:
    """Worker programs first on PATH that wait ``seconds`` before they become the real one (the
    host runner starts pod commands from its PATH)."""
    directory.mkdir(parents=True, exist_ok=True)
    for program in WORKER_BINARIES.values():
        wrapper = directory / program
        wrapper.write_text(f'#!/bin/sh\nsleep {seconds}\nexec {cctools_bin() / program} "$@"\n')
        wrapper.chmod(0o755)
    before = os.environ["PATH"]
    os.environ["PATH"] = f"{directory}{os.pathsep}{before}"
    try:
        yield
    finally:
        os.environ["PATH"] = before


def run(context: RunContext, framework: Framework, size: Size) -> Row:
    row, started = begin(NAME, str(framework))
    cluster = context.own_cluster()
    need = min(size.pool, size.tasks)
    with (
        bed(cluster, "slow", framework, context.workdir, keep=context.keep) as b,
        slow_workers(context.workdir / f"slow-workers-{framework}", size.ready_s),
    ):
        manager = b.start_manager(CATEGORIES)
        for _ in range(size.tasks):
            b.submit(f"sleep {size.task_s:g}", "work")
        pods = b.start_pod_log()
        b.start_host_runner()
        b.start_operator()
        backlog = time.time()
        b.apply(
            external_manager(f"127.0.0.1:{manager.port}", framework),
            worker_pool(
                max_workers=size.pool,
                annotations={READY_DELAY_ANNOTATION: f"{size.ready_s}s"},
                idle_delay=5,
            ),
        )
        log(
            f"{NAME} {framework}: {size.tasks} tasks, pool {size.pool}, "
            f"pods ready after {size.ready_s} s"
        )
        b.wait(lambda: b.roster and b.roster.hosts(), size.timeout_s, "the first worker")
        first_worker = time.time()
        created_slow = pods.created_between(0.0, first_worker)
        b.wait(
            lambda: len(b.roster.hosts()) >= need if b.roster else False,
            size.timeout_s,
            f"{need} workers",
        )
        all_workers = time.time()
        b.wait(b.all_returned, size.timeout_s, "every task returned")
        b.wait(lambda: pods.live_count() == 0, 300, "the pool back at 0 pods")
        lives = pods.snapshot()
        ledger = b.ledger()
        count_tasks(row, b, ledger)
        hosts = b.roster.hosts() if b.roster else {}
        row.busy_deleted = len(attribute_requeues(ledger, hosts, lives, set()).busy_deleted_pods)
        row.faults = f"pods Ready after {size.ready_s} s"
        row.duplicate_pods = max(0, len(lives) - need)
        row.orphan_pods = len(not_owned(lives, b.pool_uid())) + pods.live_count()
        row.converge_s = round(all_workers - backlog, 1)
        early = deleted_by_others([life for life in lives if life.created < first_worker], set())
        early_gone = [
            life for life in early if life.deleted is not None and life.deleted < first_worker
        ]
        row.notes.append(
            f"{len(created_slow)} pods created before the first worker connected "
            f"({first_worker - backlog:.1f} s after the backlog), {len(lives)} in all for "
            f"{size.tasks} tasks (maxWorkers {size.pool}); {len(early_gone)} deleted while "
            f"starting; all {need} workers connected {all_workers - backlog:.1f} s after it"
        )
        row.check("no task lost", row.lost == 0)
        row.check("no extra pod for a covered backlog", len(created_slow) == need)
        row.check("no pod created twice", len(lives) == need)
        row.check("no starting pod deleted", not early_gone)
        row.check("no orphan pod", row.orphan_pods == 0)
        row.check("no busy worker deleted", row.busy_deleted == 0)
    return end(row, started)
