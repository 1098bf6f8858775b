"""worker-kill: tasks of two categories on a pool of workers; every few seconds a random share
of the worker pods is deleted, and now and then a worker process is SIGKILLed on its node
instead. Expect every task returned once, none lost, the framework's resubmissions of the
killed workers' tasks the only repeated runs, and no busy worker deleted by the operator."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tests.cctools.manager import CategorySpec

from faults.bed import bed, external_manager, log, worker_pool
from faults.context import RunContext
from faults.inject import Injector
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

NAME = "worker-kill"
CATEGORIES = {
    "short": CategorySpec(cores=1, memory_mb=50, disk_mb=50),
    "long": CategorySpec(cores=1, memory_mb=100, disk_mb=50),
}


@dataclass(frozen=True)
class Size:
    tasks: int = 1000
    pool: int = 20
    short_s: float = 2.0
    long_s: float = 5.0
    interval_s: float = 5.0
    fraction: float = 0.1
    sigkill_every: int = 3
    """Every this many rounds, one of the round's pods has its worker SIGKILLed instead."""
    timeout_s: float = 1800.0


QUICK = Size(tasks=40, pool=4, short_s=1.0, long_s=2.0, interval_s=3.0, timeout_s=300.0)


def run(context: RunContext, framework: Framework, size: Size) -> Row:
    row, started = begin(NAME, str(framework))
    cluster = context.own_cluster()
    with bed(cluster, "wkill", framework, context.workdir, keep=context.keep) as b:
        manager = b.start_manager(CATEGORIES)
        for i in range(size.tasks):
            long = i % 4 == 3
            b.submit(
                f"sleep {size.long_s if long else size.short_s:g}", "long" if long else "short"
            )
        pods = b.start_pod_log()
        runner = b.start_host_runner()
        b.start_operator()
        b.apply(
            external_manager(f"127.0.0.1:{manager.port}", framework),
            worker_pool(max_workers=size.pool),
        )
        injector = Injector(cluster, b.namespace)
        deadline = time.monotonic() + size.timeout_s
        rounds = 0
        log(f"{NAME} {framework}: {size.tasks} tasks, pool {size.pool}")
        b.wait(lambda: pods.live_count() > 0, 120, "the first worker pod")
        while not b.all_returned() and time.monotonic() < deadline:
            b.collect(size.interval_s)
            left = b.submitted - len(b.returned_ids())
            if left <= size.pool:
                continue  # the tail: no more faults, let it converge
            running = [p.name for p in runner.processes() if p.state == "running"]
            victims = injector.pick(running, size.fraction)
            rounds += 1
            if victims and rounds % size.sigkill_every == 0:
                injector.sigkill_worker(runner, victims.pop())
            injector.delete_pods(victims)
        b.wait(b.all_returned, max(1.0, deadline - time.monotonic()), "every task returned")
        b.wait(lambda: pods.live_count() == 0, 300, "the pool back at 0 pods")
        converged = time.time()
        row.faults = injector.describe()
        ledger = b.ledger()
        count_tasks(row, b, ledger)
        lives = pods.snapshot()
        requeues = attribute_requeues(
            ledger, b.roster.hosts() if b.roster else {}, lives, injector.hit
        )
        row.busy_deleted = len(requeues.busy_deleted_pods)
        peak = pods.peak()
        row.duplicate_pods = max(0, peak - size.pool)
        row.orphan_pods = len(not_owned(lives, b.pool_uid())) + pods.live_count()
        last = injector.last or converged
        row.converge_s = round(converged - last, 1)
        others = deleted_by_others(lives, injector.hit)
        row.notes.append(
            f"peak {peak} pods live (maxWorkers {size.pool}); {len(lives)} pods created; "
            f"{len(others)} deleted by the operator while live; "
            f"{requeues.by_faults} runs resubmitted for killed workers, "
            f"{requeues.unattributed} unattributed"
        )
        if requeues.busy_deleted_pods:
            row.notes.append(f"busy workers deleted: {list(requeues.busy_deleted_pods)[:5]}")
        finals = b.pool_status()
        row.notes.append(f"pool status at the end: {finals.get('desiredReason', '')[:200]}")
        row.check("no task lost", row.lost == 0)
        row.check("no task returned twice", row.returned_twice == 0)
        row.check("repeated runs only by design", row.run_twice == row.by_design)
        row.check("no duplicate or orphan pod", row.duplicate_pods == 0 and row.orphan_pods == 0)
        row.check("no busy worker deleted", row.busy_deleted == 0)
    return end(row, started)
