"""telemetry-loss: a Buckets pool whose telemetry agent (``workqueue-operator agent`` on the
manager's transactions log) is away, then answers, then is SIGKILLed. Expect: with no shapes
yet, pods of the declared worker size and a condition saying so; once the agent answered, the
recommended shapes; after its loss, new pods still of the recommended shapes and a condition
(TelemetryAvailable False, TelemetryUnavailable) and Warning Event saying so; no task lost."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import Any

from tests.cctools.manager import free_port

from faults.bed import Bed, bed, external_manager, log, worker_pool
from faults.context import RunContext
from faults.outcome import Row, attribute_requeues, begin, count_tasks, end, not_owned
from workqueue_operator.api.common import Framework

NAME = "telemetry-loss"
DECLARED_SHAPE = "c1m512d1024"
TASKVINE_TUNE = {"proportional-resources": 0}
"""Tasks of an undeclared category take a whole worker (TaskVine 7.17.1 with monitoring would
give them 1 MB; tests/e2e/test_real_node_sizing.py)."""
SHAPE_LABEL = "workqueue.dev/shape"


@dataclass(frozen=True)
class Size:
    pool: int = 10
    samples: int = 20
    """minSamples of the pool, and the tasks of the first batch."""
    tasks_after: int = 40
    """Tasks submitted once the agent is gone."""
    task_s: float = 2.0
    timeout_s: float = 600.0


QUICK = Size(pool=3, samples=4, tasks_after=6, task_s=1.0, timeout_s=300.0)


def condition(b: Bed) -> dict[str, Any]:
    found = [c for c in b.pool_status().get("conditions", []) if c["type"] == "TelemetryAvailable"]
    return found[0] if found else {}


def shapes_of(b: Bed, names: set[str]) -> set[str]:
    assert b.pods is not None
    objects = b.pods.counts().objects
    return {objects[n]["metadata"]["labels"].get(SHAPE_LABEL, "") for n in names if n in objects}


def run(context: RunContext, framework: Framework, size: Size) -> Row:
    row, started = begin(NAME, str(framework))
    cluster = context.own_cluster()
    with bed(cluster, "telemetry", framework, context.workdir, keep=context.keep) as b:
        tune = TASKVINE_TUNE if framework is Framework.TASKVINE else None
        manager = b.start_manager({}, monitoring=True, tune=tune)
        assert manager.transactions_log is not None
        agent_port = free_port()
        agent_url = f"http://127.0.0.1:{agent_port}"
        pods = b.start_pod_log()
        b.start_host_runner()
        b.start_operator()
        b.apply(
            external_manager(f"127.0.0.1:{manager.port}", framework, telemetry=agent_url),
            worker_pool(
                max_workers=size.pool,
                sizing={"mode": "Buckets", "minSamples": size.samples, "updateMode": "Initial"},
            ),
        )
        log(f"{NAME} {framework}: batch 1 ({size.samples} tasks) with no agent")
        for _ in range(size.samples):
            b.submit(f"sleep {size.task_s:g}", "work")
        none_yet = b.wait(
            lambda: (c := condition(b)).get("status") == "False" and c, 120, "TelemetryUnavailable"
        )
        b.wait(b.all_returned, size.timeout_s, "batch 1 returned")
        batch1 = {life.name for life in pods.snapshot()}

        log(f"{NAME} {framework}: agent started")
        agent = b.start_agent(manager.transactions_log, agent_port)
        agent_started = time.time()
        recommended = b.wait(
            lambda: condition(b).get("status") == "True" and b.pool_status().get("recommendations"),
            120,
            "recommendations from the agent",
        )
        back_s = time.time() - agent_started

        log(f"{NAME} {framework}: agent SIGKILLed")
        os.kill(agent.pid, signal.SIGKILL)
        lost_at = time.time()
        kept = b.wait(
            lambda: (c := condition(b)).get("status") == "False" and c, 120, "the loss noticed"
        )
        noticed = time.time()
        before_batch2 = {life.name for life in pods.snapshot()}
        for _ in range(size.tasks_after):
            b.submit(f"sleep {size.task_s:g}", "work")
        b.wait(b.all_returned, size.timeout_s, "batch 2 returned")
        b.wait(lambda: pods.live_count() == 0, 300, "the pool back at 0 pods")
        lives = pods.snapshot()
        batch2 = {life.name for life in lives} - before_batch2
        ledger = b.ledger()
        count_tasks(row, b, ledger)
        hosts = b.roster.hosts() if b.roster else {}
        row.busy_deleted = len(attribute_requeues(ledger, hosts, lives, set()).busy_deleted_pods)
        row.orphan_pods = len(not_owned(lives, b.pool_uid())) + pods.live_count()
        row.duplicate_pods = max(0, pods.peak() - size.pool)
        row.faults = "agent away, then SIGKILLed"
        row.converge_s = round(noticed - lost_at, 1)
        warnings = [e for e in b.events("workers") if e.get("reason") == "TelemetryUnavailable"]
        shapes1, shapes2 = shapes_of(b, batch1), shapes_of(b, batch2)
        buckets = {
            f"c{int(k['cores'])}m{int(k['memoryMb'])}d{int(k['diskMb'])}"
            for r in recommended
            for k in r["buckets"]
        }
        row.notes += [
            f"no agent yet: {none_yet.get('reason')}: {none_yet.get('message')}; batch-1 pods "
            f"{sorted(shapes1)}",
            f"agent up: recommendations {sorted(buckets)} after {back_s:.1f} s",
            f"agent lost: {kept.get('reason')}: {kept.get('message')}; noticed "
            f"{noticed - lost_at:.1f} s after the SIGKILL; {len(warnings)} Warning Events; "
            f"batch-2 pods {sorted(shapes2)} ({len(batch2)} pods)",
        ]
        row.check("no task lost", row.lost == 0)
        row.check(
            "declared size said without shapes",
            "pods get the declared worker size" in str(none_yet.get("message"))
            and shapes1 == {DECLARED_SHAPE},
        )
        row.check(
            "last shapes kept, and said",
            "keeping the last recommended shapes" in str(kept.get("message"))
            and kept.get("reason") == "TelemetryUnavailable"
            and bool(batch2)
            and DECLARED_SHAPE not in shapes2,
        )
        row.check("Warning Event", bool(warnings))
        row.check("no busy worker deleted", row.busy_deleted == 0)
        row.check("no duplicate or orphan pod", row.duplicate_pods == 0 and row.orphan_pods == 0)
    return end(row, started)
