"""operator-kill: the operator SIGKILLed at random moments of a 0 -> N pod scale-out on KWOK
nodes and of the scale-down that follows. The backlog is real: N one-core tasks in a real
manager. The pods stay Pending (KWOK holds them by annotation; no worker runs in them), so the
scale-down may remove them at once; the scale-down follows the backlog as a worker outside the
pool (a local process with many cores) drains the queue. Expect never more pods than the
backlog and maxWorkers allow, none created while the backlog only falls, none created twice,
and the pool at its target after the last restart."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from tests.cctools.manager import CategorySpec
from tests.cctools.workers import launch, stop, worker_argv

from faults.bed import Bed, bed, external_manager, log, worker_pool
from faults.context import RunContext
from faults.controlplane import READY_DELAY_ANNOTATION
from faults.outcome import Row, begin, count_tasks, end, not_owned
from workqueue_operator.api.common import Framework

NAME = "operator-kill"
CATEGORIES = {"work": CategorySpec(cores=1, memory_mb=50, disk_mb=50)}


@dataclass(frozen=True)
class Size:
    pods: int = 1000
    kills_out: int = 10
    kills_down: int = 10
    step: int = 10
    """scaleUpStep: the ramp takes ``pods / step`` decisions, which the kills land among."""
    kill_after_min_s: float = 1.0
    kill_after_max_s: float = 4.0
    drain_cores: int = 25
    task_s: float = 1.0
    timeout_s: float = 900.0


QUICK = Size(pods=40, kills_out=3, kills_down=2, step=5, drain_cores=8, timeout_s=300.0)


def kill_randomly(b: Bed, count: int, size: Size, rng: random.Random, done: object) -> float:
    """SIGKILL the operator ``count`` times, each a random moment after its (re)start, while
    ``done()`` is false; return the time of the last restart."""
    assert b.operator is not None
    restarted = time.time()
    for _ in range(count):
        b.collect(rng.uniform(size.kill_after_min_s, size.kill_after_max_s))
        if done():  # type: ignore[operator]
            break
        b.operator.kill()
        b.operator.start()
        restarted = time.time()
    return restarted


def run(context: RunContext, framework: Framework, size: Size) -> Row:
    row, started = begin(NAME, str(framework))
    cluster = context.own_cluster()
    rng = random.Random(size.pods * 31 + size.kills_out)
    with bed(cluster, "opkill", framework, context.workdir, keep=context.keep) as b:
        manager = b.start_manager(CATEGORIES)
        for _ in range(size.pods):
            b.submit(f"sleep {size.task_s:g}", "work")
        pods = b.start_pod_log()
        b.start_operator()
        b.apply(
            external_manager(f"127.0.0.1:{manager.port}", framework),
            worker_pool(
                max_workers=size.pods,
                step=size.step,
                host_runner=False,
                annotations={READY_DELAY_ANNOTATION: "24h"},
                memory="64Mi",
            ),
        )
        log(f"{NAME} {framework}: scale-out to {size.pods} with {size.kills_out} kills")
        out_began = time.time()
        b.wait(lambda: pods.live_count() > 0, 120, "the first pod")
        last_out = kill_randomly(
            b, size.kills_out, size, rng, lambda: pods.live_count() >= size.pods
        )
        b.wait(lambda: pods.live_count() >= size.pods, size.timeout_s, f"{size.pods} pods")
        out_done = time.time()
        time.sleep(3)  # a few more passes: nothing may be added
        out_peak = pods.peak(out_began)
        created_out = len(pods.created_between(0.0))

        log(f"{NAME} {framework}: scale-down as a {size.drain_cores}-core worker drains the queue")
        drain = launch(
            worker_argv(
                "127.0.0.1",
                manager.port,
                framework=framework,
                cores=size.drain_cores,
                memory=size.drain_cores * 100,
                disk=size.drain_cores * 100,
                workdir=b.workdir / "drain-worker",
            ),
            b.workdir / "drain-worker",
            b.workdir / "drain-worker.log",
        )
        b.stack.callback(stop, drain)
        down_began = time.time()
        last_down = kill_randomly(b, size.kills_down, size, rng, lambda: pods.live_count() == 0)
        b.wait(b.all_returned, size.timeout_s, "every task returned")
        b.wait(lambda: pods.live_count() == 0, size.timeout_s, "the pool back at 0 pods")
        down_done = time.time()
        created_down = pods.created_between(down_began)

        row.faults = f"{size.kills_out}+{size.kills_down} operator SIGKILLs"
        starts = b.operator.starts if b.operator else 0
        count_tasks(row, b, b.ledger())
        lives = pods.snapshot()
        over = max(0, out_peak - size.pods)
        row.duplicate_pods = over + max(0, created_out - size.pods) + len(created_down)
        row.orphan_pods = len(not_owned(lives, b.pool_uid())) + pods.live_count()
        row.converge_s = round(down_done - last_down, 1)
        row.notes.append(
            f"scale-out: {created_out} pods created for {size.pods} tasks (maxWorkers "
            f"{size.pods}), peak {out_peak} live, at {size.pods} {out_done - last_out:.1f} s "
            f"after the last restart ({out_done - out_began:.1f} s in all); scale-down: "
            f"{len(created_down)} pods created, 0 live {down_done - last_down:.1f} s after the "
            f"last restart ({down_done - down_began:.1f} s in all); {starts} operator starts"
        )
        row.check("no task lost", row.lost == 0)
        row.check("never more pods than allowed", out_peak <= size.pods)
        row.check("no pod created twice", created_out == size.pods and not created_down)
        row.check("no orphan pod", row.orphan_pods == 0)
    return end(row, started)
