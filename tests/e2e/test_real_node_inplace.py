"""Issue 18: ``sizing.updateMode: InPlace`` on the real node (kubelet 1.37.2, containerd 1.6.20,
runc 1.1.5, cgroup v1): the operator rewrites idle worker pods' CPU and memory through the
pods/resize subresource, the kubelet restarts the worker in the same pod, and the worker offers
its new size to a real TaskVine manager.

* ``test_idle_taskvine_workers_are_resized_in_place_and_keep_their_cache``: two 1-core workers
  declared at 2 GiB; a task of a category without buckets keeps one busy (it runs until the test
  opens a port: no timing); four tasks of ~100 MiB on the other give the telemetry agent the
  samples of a ~115 MB bucket. The idle pod is resized in place (same UID and node, restartCount
  + 1, its memory cgroup's limit the bucket's) while the busy one is left alone; its worker
  reconnects with the bucket's memory and still holds a file cached "forever" (the manager's
  transactions log: CACHE_UPDATE at connection, and no transfer of it again). Then the other pod
  is resized once its task ends. Peer transfers are off: in CCTools 7.17.1 (and the devel head)
  a copy a worker gets from another worker is cached at level "task" whatever the file's level
  (``vine_file_substitute_url`` passes 0), so it would not survive the worker's restart.
* ``test_a_resize_the_node_cannot_fit_is_refused_and_the_pod_recreated`` and
  ``test_a_resize_deferred_past_the_deadline_recreates_the_pod``: a recommendation larger than
  the node's free CPU. No task measured on this 2-CPU node can ask for 3 CPUs, so these tests
  write the recommendation into the pool's status and point the pool's telemetry at a port
  nobody answers (the operator then keeps the stored recommendations, as it does when its agent
  is down); the apiserver, the kubelet and the workers are real.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from tests.cctools.manager import ManagerFactory, TestManager, free_port
from tests.e2e.realnode import (
    NODE_IP,
    NODE_NAME,
    REAL_NODE_PLACEMENT,
    external_manager,
    free_cpu_millicores,
    registry_image,
)
from tests.e2e.test_real_node_sizing import TASKVINE_TUNE, hold_memory
from tests.e2e.test_sizing import StartAgent, start_agent
from tests.harness import REPO, Cluster, wait_for
from workqueue_operator.api.common import Framework
from workqueue_operator.api.pool import BucketShape
from workqueue_operator.sizing.recommend import bucket_shape

pytestmark = pytest.mark.e2e

__all__ = ["start_agent"]  # the fixture, imported so that pytest finds it

POOL = "workers"
DECLARED_SHAPE = "c1m2048d2048"
WORK_TASKS = 4
WORK_MIB = 100
KEEPALIVE_SECONDS = (5, 10)
NOBODY = "http://127.0.0.1:9"
"""A telemetry URL nothing answers: the pool keeps the recommendations in its status."""


def in_place_pool(
    *,
    min_workers: int,
    worker: dict[str, Any],
    min_samples: int = WORK_TASKS,
    deadline: int = 60,
    telemetry: str | None = None,
) -> str:
    sizing: dict[str, Any] = {
        "mode": "Buckets",
        "updateMode": "InPlace",
        "minSamples": min_samples,
        "marginPercent": 10,
        "resizeDeadlineSeconds": deadline,
    }
    if telemetry:
        sizing["telemetryUrl"] = telemetry
    return json.dumps(
        {
            "apiVersion": "workqueue.dev/v1alpha1",
            "kind": "WorkerPool",
            "metadata": {"name": POOL},
            "spec": {
                "managerRef": {"name": "mgr"},
                "minWorkers": min_workers,
                "maxWorkers": min_workers,
                "image": registry_image("worker"),
                "worker": worker,
                "sizing": sizing,
                "autoscale": {
                    "pollIntervalSeconds": 1,
                    "scaleUpStep": min_workers,
                    "idleDelaySeconds": 2,
                    "cooldownSeconds": 2,
                },
                "template": REAL_NODE_PLACEMENT,
            },
        }
    )


def apply_crds(cluster: Cluster) -> None:
    """This worktree's CRDs again (the cluster is shared: another checkout's CRDs may have
    replaced them since the session began, without updateMode InPlace)."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))


class Gate:
    """A port on this machine that a task in a pod waits for: ``command`` ends once the test
    calls ``open`` (the kernel accepts the connection; nothing needs to read it)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.sock: socket.socket | None = None

    @property
    def command(self) -> str:
        probe = f"(exec 3<>/dev/tcp/{NODE_IP}/{self.port}) 2>/dev/null"
        return f"bash -c 'until {probe}; do sleep 1; done; echo released'"

    def open(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", self.port))
        self.sock.listen(16)

    def __enter__(self) -> Gate:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.sock is not None:
            self.sock.close()


# --- what the cluster and the manager say ----------------------------------------------------
def pods(cluster: Cluster, namespace: str) -> dict[str, dict[str, Any]]:
    out = cluster.kubectl(
        "get", "pods", "-l", f"workqueue.dev/pool={POOL}", "-o", "json", namespace=namespace
    ).stdout
    return {p["metadata"]["name"]: p for p in json.loads(out)["items"]}


def restarts(pod: dict[str, Any]) -> int:
    return sum(c.get("restartCount", 0) for c in pod["status"].get("containerStatuses") or [])


def shape_label(pod: dict[str, Any]) -> str:
    return str(pod["metadata"]["labels"]["workqueue.dev/shape"])


def resized(pod: dict[str, Any] | None, shape_id: str) -> bool:
    """Whether the pod is labelled with the shape, runs with its memory, has restarted its
    worker, and carries no resize record any more."""
    if pod is None:
        return False
    annotations = pod["metadata"].get("annotations") or {}
    statuses = pod["status"].get("containerStatuses") or [{}]
    running = (statuses[0].get("resources") or {}).get("limits", {})
    memory = re.search(r"m(\d+)d", shape_id)
    return (
        shape_label(pod) == shape_id
        and memory is not None
        and running.get("memory") == f"{memory.group(1)}Mi"
        and restarts(pod) == 1
        and "workqueue.dev/resize-from" not in annotations
        and bool(statuses[0].get("ready"))
    )


def memory_limit_in_cgroup(pod: dict[str, Any]) -> int:
    """The worker container's memory.limit_in_bytes (cgroup v1, cgroupfs driver)."""
    container = pod["status"]["containerStatuses"][0]["containerID"].split("//")[-1]
    root = Path("/sys/fs/cgroup/memory/kubepods")
    [path] = list(root.glob(f"**/pod{pod['metadata']['uid']}/{container}/memory.limit_in_bytes"))
    return int(path.read_text())


def transactions(manager: TestManager) -> list[str]:
    assert manager.logs_dir is not None
    return (manager.logs_dir / "transactions").read_text().splitlines()


def connections(manager: TestManager, ip: str) -> list[str]:
    """Worker ids that connected from ``ip``, in order."""
    pattern = re.compile(rf"^\d+ \d+ WORKER (\S+) CONNECTION {re.escape(ip)}:\d+$")
    return [m.group(1) for line in transactions(manager) if (m := pattern.match(line))]


def worker_resources(manager: TestManager, worker_id: str) -> dict[str, Any] | None:
    for line in transactions(manager):
        parts = line.split(" ", 5)
        if len(parts) == 6 and parts[3] == worker_id and parts[4] == "RESOURCES":
            value: dict[str, Any] = json.loads(parts[5])
            return value
    return None


def logged(manager: TestManager, worker_id: str, what: str, file: str) -> bool:
    """Whether the log has ``WORKER <id> <what> ... <file>`` (CACHE_UPDATE, TRANSFER INPUT)."""
    return any(
        f" WORKER {worker_id} {what} {file} " in line or line.endswith(f"{what} {file}")
        for line in transactions(manager)
    )


def cached_buffer(manager: TestManager) -> str:
    """The cache name of the (one) buffer the workers received."""
    for line in transactions(manager):
        match = re.search(r" CACHE_UPDATE (buffer-\S+) ", line)
        if match:
            return match.group(1)
    raise AssertionError("no buffer in the workers' caches")


def pool_events(cluster: Cluster, namespace: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for event in cluster.events_for(POOL, namespace):
        found.setdefault(event["reason"], []).append(event["message"])
    return found


def pool_status(cluster: Cluster, namespace: str) -> dict[str, Any]:
    pool = cluster.get("workerpool", POOL, namespace)
    assert pool is not None
    status: dict[str, Any] = pool.get("status") or {}
    return status


def settled_status(cluster: Cluster, namespace: str) -> dict[str, Any]:
    """The pool's status with this worktree's fields: the CRDs again first (another checkout's
    CRDs prune them), then the operator's next pass writes them back."""
    apply_crds(cluster)
    return wait_for(
        lambda: (status := pool_status(cluster, namespace)).get("podShapes") and status,
        timeout=60,
        what="status.podShapes",
    )


def resize_counts(namespace: str) -> dict[str, int]:
    """``workqueue_operator_pod_resizes_total`` of the pool, by result, from the operator that
    runs in this process (exact even when the shared cluster's CRDs pruned the status)."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    from workqueue_operator.controllers import metrics  # noqa: PLC0415

    counts = {}
    for family in text_string_to_metric_families(metrics.METRICS.render().decode()):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "workqueue_operator_pod_resizes_total"
                and labels.get("namespace") == namespace
                and labels.get("pool") == POOL
            ):
                counts[labels["result"]] = int(sample.value)
    return counts


def work_bucket(cluster: Cluster, namespace: str) -> str | None:
    """The shape id of the "work" category's (one) bucket, once recommended."""
    for rec in pool_status(cluster, namespace).get("recommendations") or []:
        if rec["category"] == "work" and rec.get("buckets"):
            [bucket] = rec["buckets"]
            return bucket_shape(BucketShape.model_validate(bucket)).id
    return None


def print_report(figures: dict[str, Any]) -> None:
    import sys  # noqa: PLC0415

    print(json.dumps(figures), file=sys.__stdout__)


# --- the scenarios ---------------------------------------------------------------------------
@pytest.mark.usefixtures("real_node")
def test_idle_taskvine_workers_are_resized_in_place_and_keep_their_cache(
    operator: Cluster,
    namespace: str,
    manager_factory: ManagerFactory,
    start_agent: StartAgent,
) -> None:
    wait_for(lambda: free_cpu_millicores(operator) >= 2000, timeout=300, what="2 free CPUs")
    apply_crds(operator)
    manager = manager_factory(
        framework=Framework.TASKVINE,
        monitoring=True,
        keepalive=KEEPALIVE_SECONDS,
        tune=TASKVINE_TUNE,
        peer_transfers=False,
    )
    assert manager.transactions_log is not None
    telemetry = start_agent(manager.transactions_log)
    operator.apply(
        external_manager(
            manager.port, extra=f"telemetryUrl: {telemetry}", framework=Framework.TASKVINE
        ),
        namespace,
    )
    declared = {"cores": 1, "memory": "2Gi", "disk": "2Gi"}
    operator.apply(in_place_pool(min_workers=2, worker=declared), namespace)
    wait_for(lambda: manager.stats()["workers_connected"] == 2, timeout=180, what="2 workers")
    before = pods(operator, namespace)
    assert {shape_label(p) for p in before.values()} == {DECLARED_SHAPE}
    assert all(p["spec"]["restartPolicy"] == "OnFailure" for p in before.values())

    manager.declare_buffer("blob", "cached forever\n" * 64, cache="forever")
    with Gate() as gate:
        manager.submit(gate.command, category="gate", cores=1, inputs=(("blob", "blob"),))
        wait_for(lambda: manager.stats()["tasks_running"] == 1, timeout=60, what="the gate task")
        for _ in range(WORK_TASKS):
            manager.submit(
                hold_memory(WORK_MIB), category="work", cores=1, inputs=(("blob", "blob"),)
            )
        work = manager.wait_for(WORK_TASKS, timeout=300)
        assert all(t.ok for t in work), work
        [idle_name] = {t.hostname for t in work}  # the other worker runs the gate task
        [busy_name] = set(before) - {idle_name}
        bucket = wait_for(
            lambda: work_bucket(operator, namespace), timeout=60, what="the work bucket"
        )
        bucket_mb = int(re.search(r"m(\d+)d", bucket).group(1))  # type: ignore[union-attr]
        assert bucket_mb < 2048 * 0.2, bucket  # far smaller than the declared 2 GiB

        # The idle pod is resized in place; the busy one is not touched.
        wait_for(
            lambda: resized(pods(operator, namespace).get(idle_name), bucket),
            timeout=120,
            what=f"{idle_name} resized in place to {bucket}",
        )
        now = pods(operator, namespace)
        idle, busy = now[idle_name], now[busy_name]
        assert idle["metadata"]["uid"] == before[idle_name]["metadata"]["uid"]
        assert idle["spec"]["nodeName"] == NODE_NAME
        assert memory_limit_in_cgroup(idle) == bucket_mb << 20
        assert idle["spec"]["containers"][0]["resources"]["limits"]["ephemeral-storage"] == "2Gi"
        assert (restarts(busy), shape_label(busy)) == (0, DECLARED_SHAPE)
        assert busy["metadata"]["uid"] == before[busy_name]["metadata"]["uid"]
        assert manager.stats()["tasks_running"] == 1  # the gate task still runs

        # The restarted worker offers the new size and still has the cached file.
        ip = idle["status"]["podIP"]
        blob = cached_buffer(manager)
        new_worker = wait_for(
            lambda: len(connections(manager, ip)) == 2 and connections(manager, ip)[-1],
            timeout=60,
            what="the resized worker reconnected",
        )
        assert worker_resources(manager, new_worker) == {
            "memory": [bucket_mb, "MB"],
            "disk": [2048, "MB"],
            "cores": [1, "cores"],
        }
        assert logged(manager, new_worker, "CACHE_UPDATE", blob)
        listing = operator.kubectl(
            "exec", idle_name, "--", "ls", "/workspace/cache", namespace=namespace
        ).stdout.split()
        assert blob in listing, listing

        gate.open()
        [released] = manager.wait_for(1, timeout=120)
    assert released.ok and released.output.strip() == "released", released
    assert released.hostname == busy_name
    wait_for(
        lambda: resized(pods(operator, namespace).get(busy_name), bucket),
        timeout=120,
        what=f"{busy_name} resized once idle",
    )

    # A task on the resized workers needs the cached file: nobody sends it again.
    manager.submit("wc -c < blob", category="work", cores=1, inputs=(("blob", "blob"),))
    [after] = manager.wait_for(1, timeout=120)
    assert after.ok, after
    resized_workers = [
        w
        for p in pods(operator, namespace).values()
        for w in connections(manager, p["status"]["podIP"])[1:]
    ]
    assert len(resized_workers) == 2
    assert not any(logged(manager, w, "TRANSFER INPUT", blob) for w in resized_workers)

    final = pods(operator, namespace)
    assert {n: p["metadata"]["uid"] for n, p in final.items()} == {
        n: p["metadata"]["uid"] for n, p in before.items()
    }
    status = settled_status(operator, namespace)
    assert status["podShapes"] == [{"shape": bucket, "pods": 2}]
    assert status["resizes"]["inProgress"] == 0
    assert resize_counts(namespace) == {"requested": 2, "done": 2}
    events = pool_events(operator, namespace)
    assert "Resize" in events and "Resized" in events
    print_report({"bucket": bucket, "events": {k: len(v) for k, v in events.items()}})


@pytest.mark.usefixtures("real_node")
def test_a_resize_the_node_cannot_fit_is_refused_and_the_pod_recreated(
    operator: Cluster, namespace: str, manager_factory: ManagerFactory
) -> None:
    wait_for(lambda: free_cpu_millicores(operator) >= 1000, timeout=300, what="1 free CPU")
    apply_crds(operator)
    one_small_worker(operator, namespace, manager_factory, deadline=60)
    [old] = pods(operator, namespace)
    recommend(operator, namespace, cores=3)

    refusal = wait_for(
        lambda: pool_events(operator, namespace).get("ResizeInfeasible"),
        timeout=120,
        what="ResizeInfeasible",
    )
    assert (
        "node didn't have enough allocatable resources: cpu, requested: 3000, allocatable: 2000"
        in refusal[0]
    ), refusal
    [new] = wait_for(
        lambda: replaced(old, pods(operator, namespace)), timeout=120, what="the pod recreated"
    )
    pod = pods(operator, namespace)[new]
    assert shape_label(pod) == "c3m256d1024"
    assert pod["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "3"
    scheduled = wait_for(
        lambda: next(
            (
                c
                for c in pods(operator, namespace)[new]["status"].get("conditions") or []
                if c["type"] == "PodScheduled"
            ),
            None,
        ),
        timeout=60,
        what="the scheduler's word on the replacement",
    )
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert resize_counts(namespace) == {"infeasible": 1}
    print_report({"refusal": refusal[0], "scheduler": scheduled.get("message")})


@pytest.mark.usefixtures("real_node")
def test_a_resize_deferred_past_the_deadline_recreates_the_pod(
    operator: Cluster, namespace: str, manager_factory: ManagerFactory
) -> None:
    wait_for(lambda: free_cpu_millicores(operator) >= 2000, timeout=300, what="2 free CPUs")
    apply_crds(operator)
    hog = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "hog"},
        "spec": {
            **REAL_NODE_PLACEMENT,
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000},
            "containers": [
                {
                    "name": "hog",
                    "image": registry_image("worker"),
                    "command": ["sleep", "3600"],
                    "resources": {
                        "requests": {"cpu": "1", "memory": "32Mi"},
                        "limits": {"cpu": "1", "memory": "32Mi"},
                    },
                }
            ],
        },
    }
    operator.apply(json.dumps(hog), namespace)
    manager = one_small_worker(operator, namespace, manager_factory, deadline=15)
    [old] = pods(operator, namespace)
    recommend(operator, namespace, cores=2)

    deferred = wait_for(
        lambda: pool_events(operator, namespace).get("ResizeDeferred"),
        timeout=120,
        what="ResizeDeferred",
    )
    assert "Node didn't have enough resource: cpu, requested: 2000" in deferred[0], deferred
    timed_out = wait_for(
        lambda: pool_events(operator, namespace).get("ResizeTimedOut"),
        timeout=120,
        what="ResizeTimedOut",
    )
    assert "was not done within 15s (Deferred" in timed_out[0], timed_out
    [new] = wait_for(
        lambda: replaced(old, pods(operator, namespace)), timeout=60, what="the pod recreated"
    )
    assert shape_label(pods(operator, namespace)[new]) == "c2m256d1024"
    operator.kubectl("delete", "pod", "hog", "--wait=false", namespace=namespace)
    wait_for(
        lambda: (
            manager.stats()["workers_connected"] == 1
            and pods(operator, namespace)[new]["status"].get("phase") == "Running"
        ),
        timeout=180,
        what="the 2-core replacement running with its worker connected",
    )
    assert resize_counts(namespace) == {"requested": 1, "deferred": 1, "timed_out": 1}
    assert restarts(pods(operator, namespace)[new]) == 0
    print_report({"deferred": deferred[0], "timed_out": timed_out[0]})


def one_small_worker(
    cluster: Cluster, namespace: str, manager_factory: ManagerFactory, *, deadline: int
) -> TestManager:
    """A TaskVine manager and an InPlace pool of one 1-core, 256 MiB worker, connected; the
    pool's telemetry answers nothing (its recommendations are the ones written by the test)."""
    manager = manager_factory(framework=Framework.TASKVINE)
    cluster.apply(external_manager(manager.port, framework=Framework.TASKVINE), namespace)
    small = {"cores": 1, "memory": "256Mi", "disk": "1Gi"}
    pool = in_place_pool(min_workers=1, worker=small, telemetry=NOBODY, deadline=deadline)
    cluster.apply(pool, namespace)
    wait_for(lambda: manager.stats()["workers_connected"] == 1, timeout=180, what="a worker")
    return manager


def replaced(old: str, found: dict[str, dict[str, Any]]) -> list[str]:
    """The pods other than ``old`` once ``old`` is gone or being deleted (else none)."""
    live = {n for n, p in found.items() if not p["metadata"].get("deletionTimestamp")}
    return [] if old in live else sorted(live)


def recommend(cluster: Cluster, namespace: str, *, cores: int) -> None:
    """Write a recommendation of ``cores`` cores, 256 MB into the pool's status (its telemetry
    answers nothing, so the operator keeps it)."""
    bucket = {"cores": cores, "memoryMb": 256, "diskMb": 1024, "share": 1.0}
    recommendation = {"category": "big", "buckets": [bucket], "samples": 50}
    patch = json.dumps({"status": {"recommendations": [recommendation]}})
    cluster.kubectl(
        "patch",
        "workerpool",
        POOL,
        "--subresource",
        "status",
        "--type",
        "merge",
        "-p",
        patch,
        namespace=namespace,
    )
