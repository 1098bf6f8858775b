"""WorkerPools on the real node: worker pods from this project's worker image, pulled from the
local registry and run by containerd under a real kubelet (e2e/node/), serving a real manager.

The manager is the test's own (a Work Queue manager in this process, like a Parsl script on a
login node): pods reach it at the node's InternalIP, the host end of their bridge."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cctools.manager import CategorySpec, FinishedTask, ManagerFactory, TestManager
from tests.e2e.realnode import (
    POD_NETWORK_PREFIX,
    REAL_NODE_PLACEMENT,
    external_manager,
    free_cpu_millicores,
    held_up_down_locks,
    memory_cgroup_oom_kills,
    registry_image,
)
from tests.e2e.test_autoscale import tasks_lost_to_vanished_workers
from tests.harness import Cluster, wait_for

pytestmark = pytest.mark.e2e


def real_node_pool(
    *, max_workers: int, memory: str, idle_delay: int = 2, min_workers: int = 0
) -> dict[str, Any]:
    return {
        "apiVersion": "workqueue.dev/v1alpha1",
        "kind": "WorkerPool",
        "metadata": {"name": "workers"},
        "spec": {
            "managerRef": {"name": "mgr"},
            "minWorkers": min_workers,
            "maxWorkers": max_workers,
            "image": registry_image("worker"),
            "worker": {"cores": 1, "memory": memory, "disk": "1Gi"},
            "autoscale": {
                "pollIntervalSeconds": 1,
                "scaleUpStep": max_workers,
                "idleDelaySeconds": idle_delay,
                "cooldownSeconds": 2,
            },
            "template": REAL_NODE_PLACEMENT,
        },
    }


def worker_pods(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    out = cluster.kubectl(
        "get", "pods", "-l", "workqueue.dev/pool=workers", "-o", "json", namespace=namespace
    ).stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


class PodWatch:
    """Polls the pool's pods in the background: when each pod IP was last seen alive (not being
    deleted), and the most pods alive at once."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster, self.namespace = cluster, namespace
        self.alive_until: dict[str, float] = {}
        self.nodes: set[str] = set()
        self.images: set[str] = set()
        self.programs: set[str] = set()
        """The first word of each container's command (the worker program)."""
        self.commands: set[tuple[str, ...]] = set()
        """Each container's whole command."""
        self.started_containers = 0
        self.most_alive = 0
        self.alive_now = 0
        self.timeline: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PodWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            now = time.monotonic()
            alive = 0
            for pod in worker_pods(self.cluster, self.namespace):
                spec, status = pod["spec"], pod.get("status", {})
                if spec.get("nodeName"):
                    self.nodes.add(spec["nodeName"])
                self.images.update(c["image"] for c in spec["containers"])
                self.programs.update(
                    c["command"][0] for c in spec["containers"] if c.get("command")
                )
                self.commands.update(
                    tuple(c["command"]) for c in spec["containers"] if c.get("command")
                )
                ip = status.get("podIP")
                if pod["metadata"].get("deletionTimestamp") or not ip:
                    continue
                alive += 1
                self.alive_until[ip] = now
            self.alive_now = alive
            if not self.timeline or self.timeline[-1][1] != alive:
                self.timeline.append((now, alive))
            self.most_alive = max(self.most_alive, alive)


def collect(manager: TestManager, count: int, timeout: float) -> list[tuple[float, FinishedTask]]:
    done: list[tuple[float, FinishedTask]] = []
    deadline = time.monotonic() + timeout
    while len(done) < count and time.monotonic() < deadline:
        task = manager.wait(0.5)
        if task is not None:
            done.append((time.monotonic(), task))
    assert len(done) == count, f"{len(done)} of {count} tasks finished in {timeout:.0f} s"
    return done


def test_node_up_leaves_no_process_holding_the_up_down_locks(real_node: str) -> None:
    """Daemons started by up.sh (the node's components, the dockerd that builds its images)
    must not keep its lock: the next up.sh or down.sh would wait for ever."""
    assert held_up_down_locks() == {}


def test_fifty_tasks_run_in_worker_image_pods_and_scale_down_spares_the_busy_worker(
    operator: Cluster,
    namespace: str,
    real_node: str,
    manager_factory: ManagerFactory,
    tmp_path: Path,
) -> None:
    # Two 1-core workers need the node's two CPUs: wait for pods of earlier tests to go.
    wait_for(
        lambda: free_cpu_millicores(operator) >= 2000, timeout=300, what="2 free CPUs on the node"
    )
    log = tmp_path / "transactions.log"
    manager = manager_factory(transactions_log=log)
    manager.declare_category("short", CategorySpec(cores=1, memory_mb=100, disk_mb=100))
    for i in range(50):
        manager.submit(f"sleep 0.5; echo task-{i} on $(hostname)", category="short")
    # Submitted last, it still runs when every short task is done: the pool must then scale
    # down to the one worker that runs it, and keep that one.
    manager.submit("sleep 30; echo long done", category="short", tag="long")
    operator.apply(external_manager(manager.port), namespace)

    with PodWatch(operator, namespace) as watch:
        operator.apply(json.dumps(real_node_pool(max_workers=2, memory="256Mi")), namespace)
        finished = collect(manager, 51, timeout=300)
        short = [t for _, t in finished if t.tag != "long"]
        ((long_at, long_task),) = [(at, t) for at, t in finished if t.tag == "long"]
        wait_for(lambda: watch.alive_now == 0, timeout=120, what="the pool back at 0 pods")

    assert all(t.ok for t in short), [t for t in short if not t.ok][:3]
    assert sorted(t.output.split()[0] for t in short) == sorted(f"task-{i}" for i in range(50))
    assert long_task.ok and long_task.output.strip() == "long done", long_task
    # Every task ran in a pod on the real node's pod network, from the worker image.
    hosts = {t.host.rsplit(":", 1)[0] for _, t in finished}
    assert all(h.startswith(POD_NETWORK_PREFIX) for h in hosts), hosts
    assert watch.nodes == {real_node}, watch.nodes
    assert watch.images == {registry_image("worker")}, watch.images
    assert watch.most_alive == 2, f"the pool never reached maxWorkers: {watch.most_alive}"
    # Scale-down: the idle worker went while the long task still ran; the busy one stayed until
    # its task was done, and no task went back to the queue because its worker vanished.
    long_ip = long_task.host.rsplit(":", 1)[0]
    short_done_at = max(at for at, t in finished if t.tag != "long")
    story = f"long task done at {long_at:.1f}, short ones at {short_done_at:.1f}; {watch.timeline}"
    assert watch.alive_until[long_ip] >= long_at - 1.0, f"the busy worker's pod went: {story}"
    assert any(
        ip != long_ip and short_done_at <= seen < long_at - 1.0
        for ip, seen in watch.alive_until.items()
    ), f"the idle worker was not removed while the long task ran: {story}"
    assert tasks_lost_to_vanished_workers(log) == []


def test_task_over_its_pods_memory_limit_is_oom_killed_by_the_kernel_and_reruns_on_a_larger_worker(
    operator: Cluster,
    namespace: str,
    real_node: str,
    manager_factory: ManagerFactory,
) -> None:
    manager = manager_factory(monitoring=True)
    # Declared 200 MB (fits a 256 MiB worker); it really takes ~400 MB.
    manager.declare_category("hog", CategorySpec(cores=1, memory_mb=200, disk_mb=100))
    hog = "dd if=/dev/zero of=/dev/null bs=400M count=1 status=none && echo fits"
    manager.submit(hog, category="hog")
    operator.apply(external_manager(manager.port), namespace)
    pool = real_node_pool(max_workers=1, memory="256Mi", idle_delay=10)
    operator.apply(json.dumps(pool), namespace)

    ((_, first),) = collect(manager, 1, timeout=180)
    (pod,) = [p for p in worker_pods(operator, namespace) if p["status"].get("podIP")]
    # The kernel killed the task (SIGKILL: exit 137) in the pod's memory cgroup; the worker,
    # a smaller process in the same cgroup, survived and reported it.
    assert first.exit_code == 137, first
    assert memory_cgroup_oom_kills(pod["metadata"]["uid"]) >= 1
    assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"] == "256Mi"

    # Rerun with a larger allocation: declared 600 MB, more than a 256 MiB worker has. The
    # pool's owner resizes its workers after the OOM; the idle small worker goes first.
    wait_for(
        lambda: not worker_pods(operator, namespace), timeout=120, what="the idle worker removed"
    )
    pool["spec"]["worker"]["memory"] = "768Mi"
    operator.apply(json.dumps(pool), namespace)
    manager.declare_category("hog", CategorySpec(cores=1, memory_mb=600, disk_mb=100))
    manager.submit(hog, category="hog")
    ((_, second),) = collect(manager, 1, timeout=180)
    assert second.ok and second.exit_code == 0 and second.output.strip() == "fits", second
    (pod,) = worker_pods(operator, namespace)
    assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"] == "768Mi"
    assert memory_cgroup_oom_kills(pod["metadata"]["uid"]) == 0
