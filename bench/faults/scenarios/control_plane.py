"""control-plane-restart: etcd and the apiserver stopped mid-run (the chaos runner's own control
plane: never the shared one) while real workers run tasks. While they are down the application
submits more work, so after their return the pool must grow: how long the operator takes to
act again is measured from the apiserver's readiness to the first new pod (its
creationTimestamp). Expect it within 30 s, no duplicate pod, no busy worker deleted."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from datetime import datetime

from tests.cctools.manager import CategorySpec

from faults.bed import bed, external_manager, log, worker_pool
from faults.context import RunContext
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

NAME = "control-plane-restart"
CATEGORIES = {"work": CategorySpec(cores=1, memory_mb=50, disk_mb=50)}
RECOVERY_LIMIT_S = 30.0


@dataclass(frozen=True)
class Size:
    outage_s: float = 20.0
    pool: int = 10
    tasks_during: int = 40
    """Tasks submitted while the control plane is down: the pool must grow to maxWorkers."""
    task_s: float = 8.0
    timeout_s: float = 900.0


QUICK = Size(outage_s=10.0, pool=4, tasks_during=8, task_s=6.0, timeout_s=300.0)


def created_at(pod: dict[str, object]) -> float:
    stamp = str(pod["metadata"]["creationTimestamp"])  # type: ignore[index]
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def run(context: RunContext, framework: Framework, size: Size) -> Row:
    row, started = begin(NAME, str(framework))
    cluster = context.own_cluster()
    assert context.own is not None
    own = context.own
    half = max(1, size.pool // 2)
    with bed(cluster, "cprestart", framework, context.workdir, keep=context.keep) as b:
        manager = b.start_manager(CATEGORIES)
        # The first tasks need half the pool, and keep those workers busy through the outage.
        for _ in range(half):
            b.submit(f"sleep {size.outage_s * 3 + size.task_s:g}", "work")
        pods = b.start_pod_log()
        b.start_host_runner()
        b.start_operator()
        b.apply(
            external_manager(f"127.0.0.1:{manager.port}", framework),
            worker_pool(max_workers=size.pool, idle_delay=5),
        )
        log(f"{NAME} {framework}: waiting for {half} busy workers")
        b.wait(lambda: len(b.roster.hosts()) >= half if b.roster else False, 300, "workers")
        b.collect(2.0)
        before = {life.name for life in pods.snapshot()}
        log(f"{NAME} {framework}: stopping etcd and kube-apiserver for {size.outage_s:g} s")
        stopped = time.time()
        own.stop_components("kube-apiserver", "etcd")
        for _ in range(size.tasks_during):
            b.submit(f"sleep {size.task_s:g}", "work")
        b.collect(max(0.0, stopped + size.outage_s - time.time()))
        restarting = time.time()
        up = subprocess.Popen(  # the same up.sh starts what is not running
            ["bash", str(own.scripts / "up.sh")],
            env=own._env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        ready = own.wait_ready(300)
        up.wait(timeout=300)
        log(f"{NAME} {framework}: apiserver ready {ready - restarting:.1f} s after its restart")

        def first_new_pod() -> float | None:
            new = [
                created_at(p)
                for name, p in pods.counts().objects.items()
                if name not in before and created_at(p) >= stopped
            ]
            return min(new) if new else None

        first = b.wait(first_new_pod, size.timeout_s, "a pod created after the outage")
        b.wait(b.all_returned, size.timeout_s, "every task returned")
        b.wait(lambda: pods.live_count() == 0, 300, "the pool back at 0 pods")
        lives = pods.snapshot()
        ledger = b.ledger()
        count_tasks(row, b, ledger)
        hosts = b.roster.hosts() if b.roster else {}
        requeues = attribute_requeues(ledger, hosts, lives, set())
        row.faults = f"etcd+apiserver down {ready - stopped:.0f} s"
        row.busy_deleted = len(requeues.busy_deleted_pods)
        peak = pods.peak()
        row.duplicate_pods = max(0, peak - size.pool)
        row.orphan_pods = len(not_owned(lives, b.pool_uid())) + pods.live_count()
        row.converge_s = round(max(0.0, first - ready), 1)
        row.notes.append(
            f"apiserver ready {ready - stopped:.1f} s after the stop; first new pod "
            f"{first - ready:+.1f} s after that (creationTimestamp, 1 s resolution); peak "
            f"{peak} pods (maxWorkers {size.pool}); {len(lives)} created; "
            f"{len(deleted_by_others(lives, set()))} deleted by the operator while live; "
            f"{len(ledger.requeued())} runs requeued"
        )
        row.check("no task lost", row.lost == 0)
        row.check(f"acted again within {RECOVERY_LIMIT_S:.0f} s", first - ready <= RECOVERY_LIMIT_S)
        row.check("no duplicate or orphan pod", row.duplicate_pods == 0 and row.orphan_pods == 0)
        row.check("no busy worker deleted", row.busy_deleted == 0)
        row.check("repeated runs only by design", row.run_twice == row.by_design)
    return end(row, started)
