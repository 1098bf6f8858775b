"""Issue 8: the sizing scenario of test_sizing.py (issue 5) on the real node, for a Work Queue
and a TaskVine manager (whose samples come from TaskVine's own transactions log).

A WorkerPool with ``sizing.mode: Buckets`` (``updateMode: Initial``) turns measured task peaks
into worker pod shapes, with worker pods from this project's worker image run by containerd
under a real kubelet (e2e/node/), not as host processes. As in test_sizing.py: a real manager
in this process (monitoring on, transactions log) runs one category, ``work``, of two memory
profiles (~200 MiB and ~1.5 GiB held for 7 s, longer than resource_monitor's 5 s interval); a
real telemetry agent (``workqueue-operator agent``) on this machine follows the manager's
transactions log, and the WorkQueueManager names it in ``telemetryUrl`` (the operator, in this
process, is what reads it). Pods reach the manager at the node's InternalIP.

* Phase 1: 4 + 4 tasks on declared-size workers (1 core, 4Gi: the node has 2 CPUs, so at most
  two pods at once; ``minSamples`` 8 keeps every phase-1 pod at that size). Then
  ``status.recommendations`` must hold two memory buckets, each at most ``marginPercent`` above
  the measured peak of its profile, and the idle pods go.
* Phase 2: 4 + 4 more tasks, each declaring its profile's bucket memory (see test_sizing.py for
  why). The pool must create pods of the two bucket shapes only (memory request = limit = the
  worker's ``--memory`` = the bucket), on the real node, and every task must finish: a big task
  runs inside a pod whose memory cgroup limit is the bucket, so an undersized bucket would be
  OOM-killed by the kernel here, not only stopped by the monitor.

The task programs need no Python (the node may still hold a worker image without it under the
same tag): ``dd`` reads N MiB from /dev/zero into one buffer (touching every page) and then
blocks writing it into a pipe whose reader sleeps first, so the buffer stays resident for the
whole sleep. resource_monitor reads N MiB + ~4 MB for it.

The manager's keepalive is short (KEEPALIVE_SECONDS): a worker whose disconnect is lost (this
was measured here before the node's bridge got a fixed MAC, e2e/node/README.md) is then found
dead in seconds instead of Work Queue's 120 + 30 s, and its task runs elsewhere.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cctools.manager import ManagerFactory, TestManager
from tests.e2e.podwatch import PodTracker
from tests.e2e.realnode import (
    NODE_IP,
    NODE_NAME,
    POD_NETWORK_PREFIX,
    REAL_NODE_PLACEMENT,
    external_manager,
    free_cpu_millicores,
    registry_image,
)
from tests.e2e.test_sizing import (
    CATEGORY,
    HOLD_SECONDS,
    MARGIN_PERCENT,
    POOL,
    PROFILES_MIB,
    StartAgent,
    report,
    run_two_phases,
    start_agent,
)
from tests.harness import Cluster, wait_for
from workqueue_operator.api.common import Framework

pytestmark = pytest.mark.e2e

# The fixture, imported so that pytest finds it for this module's test.
__all__ = ["start_agent"]

TASKS_PER_PROFILE = 4
MAX_WORKERS = 2
"""The node's 2 allocatable CPUs: two 1-core pods at once."""
DECLARED_SHAPE = "c1m4096d4096"
KEEPALIVE_SECONDS = (5, 10)
"""The manager's keepalive (interval, timeout), CCTools' (120, 30) shortened. On this node a
pod may lose its path to the host for tens of seconds when another pod goes (see the module
docstring): a worker's result then arrives late, and the goodbye of a worker whose pod is
being deleted can be lost altogether, leaving the manager with a worker that is gone. The
short keepalive drops such a worker (re-queueing its task) within seconds instead of minutes."""


TASKVINE_TUNE = {"proportional-resources": 0}
"""TaskVine 7.17.1 (and the devel head f4e3b63) with monitoring on gives the tasks of a category
that declares nothing a 1 MB (devel: 2 MB) allocation once earlier tasks of it were measured,
and its watchdog kills them (docs/troubleshooting.md, "TaskVine tasks killed at 1 MB").
Proportional allocation off avoids it: undeclared resources are the whole worker again."""


def hold_memory(mib: int) -> str:
    """A task that keeps ``mib`` MiB resident for HOLD_SECONDS, with coreutils only."""
    return (
        f"dd if=/dev/zero bs={mib}M count=1 status=none"
        f" | {{ sleep {HOLD_SECONDS}; cat > /dev/null; }}"
    )


def sized_pool() -> dict[str, Any]:
    return {
        "apiVersion": "workqueue.dev/v1alpha1",
        "kind": "WorkerPool",
        "metadata": {"name": POOL},
        "spec": {
            "managerRef": {"name": "mgr"},
            "minWorkers": 0,
            "maxWorkers": MAX_WORKERS,
            "image": registry_image("worker"),
            "worker": {"cores": 1, "memory": "4Gi", "disk": "4Gi"},
            "sizing": {
                "mode": "Buckets",
                "updateMode": "Initial",
                "strategy": "greedy",
                "minSamples": TASKS_PER_PROFILE * len(PROFILES_MIB),
                "marginPercent": MARGIN_PERCENT,
            },
            "autoscale": {
                "enabled": True,
                "pollIntervalSeconds": 1,
                "scaleUpStep": MAX_WORKERS,
                "idleDelaySeconds": 2,
                "cooldownSeconds": 2,
            },
            "template": REAL_NODE_PLACEMENT,
        },
    }


def submit_profiles(manager: TestManager, memory_mb: dict[str, int] | None = None) -> int:
    """TASKS_PER_PROFILE tasks of each profile, interleaved, tagged with the profile; with
    ``memory_mb``, each declares that memory (its bucket's)."""
    for _ in range(TASKS_PER_PROFILE):
        for profile, mib in PROFILES_MIB.items():
            manager.submit(
                hold_memory(mib),
                category=CATEGORY,
                tag=profile,
                memory_mb=None if memory_mb is None else memory_mb[profile],
            )
    return TASKS_PER_PROFILE * len(PROFILES_MIB)


@pytest.mark.usefixtures("real_node")
@pytest.mark.parametrize("framework", list(Framework))
def test_buckets_from_measured_peaks_become_worker_shapes_on_the_real_node(
    framework: Framework,
    operator: Cluster,
    namespace: str,
    manager_factory: ManagerFactory,
    start_agent: StartAgent,
) -> None:
    # Two 1-core workers need the node's two CPUs: wait for pods of other tests to go.
    wait_for(
        lambda: free_cpu_millicores(operator) >= MAX_WORKERS * 1000,
        timeout=300,
        what=f"{MAX_WORKERS} free CPUs on the node",
    )
    manager = manager_factory(
        framework=framework,
        monitoring=True,
        keepalive=KEEPALIVE_SECONDS,
        tune=TASKVINE_TUNE if framework is Framework.TASKVINE else None,
    )
    # The agent runs on this machine, beside the operator that reads it (not in a pod), and
    # follows the manager's own transactions log (TaskVine: vine-logs/transactions).
    assert manager.transactions_log is not None
    telemetry = start_agent(manager.transactions_log)
    operator.apply(
        external_manager(manager.port, extra=f"telemetryUrl: {telemetry}", framework=framework),
        namespace,
    )

    with PodTracker(operator.kubeconfig, namespace, f"workqueue.dev/pool={POOL}") as pods:
        operator.apply(json.dumps(sized_pool()), namespace)
        run = run_two_phases(
            operator,
            namespace,
            manager,
            pods,
            submit=submit_profiles,
            declared_shape=DECLARED_SHAPE,
            # A deleted pod's worker stays connected until its container stops (or, its goodbye
            # lost, until the keepalive drops it): a phase-2 task sent to it would be lost.
            before_phase2=lambda: wait_for(
                lambda: manager.stats()["workers_connected"] == 0,
                timeout=60,
                what="the phase-1 workers disconnected",
            ),
        )

    all_pods = list(run.final.objects.values())
    assert {p["spec"].get("nodeName") for p in all_pods} == {NODE_NAME}, [
        (p["metadata"]["name"], p["spec"].get("nodeName")) for p in all_pods
    ]
    images = {c["image"] for p in all_pods for c in p["spec"]["containers"]}
    assert images == {registry_image("worker")}, images
    # Every task ran in a pod on the node's pod network (not on this machine's loopback).
    hosts = {t.host.rsplit(":", 1)[0] for t in run.phase1 + run.phase2}
    assert all(h.startswith(POD_NETWORK_PREFIX) for h in hosts), hosts
    assert NODE_IP not in hosts, hosts
    report(run)
