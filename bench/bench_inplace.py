"""How long a TaskVine worker is away while its pod is resized in place (pods/resize, the
worker restarted by the kubelet in the same pod), against a Recreate of the same pod (deleted,
and a pod of the new shape created at once), on the real node, in the same run.

One worker pod, built by the operator's own pod builder for an ``updateMode: InPlace`` pool
(``--cores/--memory/--disk`` from its own limits, resizePolicy RestartContainer, TaskVine's
``--keep-workspace``), serves a real TaskVine manager in this process (peer transfers off). A
``--file-mb`` MB file declared with cache level "forever" is put in the worker's cache by a
first task. Then, ``--rounds`` times each, alternating (each way first every other round), the
worker's memory is flipped between ``--memory-mb`` and half of it:

* **in place**: ``KubeClient.resize_pod`` (the request the operator sends);
* **recreate**: ``KubeClient.delete_pod``, then ``create_pod`` of the same pod in the new shape
  (what the operator's Recreate fallback sends in one pass; plain Recreate waits a pass more).

Figures, from the manager's transactions log (its clock, in microseconds) and this process's
clock (the same machine): **away** = the old worker's DISCONNECTION to the new worker's
CONNECTION; **request -> back** = the API request to that CONNECTION; **first task** = submit
to result of a task that reads the cached file; **file sent again** = whether the manager sent
the file to the new worker (TRANSFER INPUT), with its transfer time.

    .venv/bin/python bench/bench_inplace.py [--rounds 5] [--file-mb 256] [--memory-mb 1024]
        [--json out.json]

Needs the local control plane and the real node (``e2e/cluster/up.sh``, ``e2e/node/up.sh``)
and 2 free CPUs on the node (a Recreate holds the old pod's CPU while the new one starts).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "operator"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from tests.cctools.manager import TestManager  # noqa: E402
from tests.e2e.realnode import (  # noqa: E402
    NODE_IP,
    REAL_NODE_PLACEMENT,
    free_cpu_millicores,
    registry_image,
)
from tests.harness import Cluster, start_cluster, wait_for  # noqa: E402

from workqueue_operator.api.common import Framework  # noqa: E402
from workqueue_operator.api.pool import WorkerPoolSpec  # noqa: E402
from workqueue_operator.k8s.client import KubeClient, load_config  # noqa: E402
from workqueue_operator.k8s.pods import (  # noqa: E402
    ManagerEndpoint,
    build_worker_pod,
    resize_patch,
    worker_pod_name,
)
from workqueue_operator.values.shapes import WorkerShape  # noqa: E402

T = TypeVar("T")
POOL = "bench"
DISK_MB = 2048


def wait(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.05) -> T:
    """The test harness's ``wait_for``, polled often enough to time a worker's return."""
    return wait_for(probe, timeout=timeout, interval=interval, what=what)


@dataclass
class Round:
    how: str
    memory_mb: int
    away_s: float
    request_to_back_s: float
    first_task_s: float
    file_sent_again: bool
    file_transfer_s: float


class Log:
    """The manager's transactions log: worker connections and disconnections, file transfers."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> list[list[str]]:
        return [line.split() for line in self.path.read_text().splitlines() if " WORKER " in line]

    def connections(self) -> dict[str, float]:
        """Worker id -> when it connected (s)."""
        return {p[3]: int(p[0]) / 1e6 for p in self.lines() if p[4] == "CONNECTION"}

    def disconnection(self, worker: str) -> float | None:
        found = [
            int(p[0]) / 1e6 for p in self.lines() if p[3] == worker and p[4] == "DISCONNECTION"
        ]
        return found[0] if found else None

    def transfer(self, worker: str, file: str) -> float | None:
        """The wall time (s) of sending ``file`` to ``worker``, if it was sent."""
        for p in self.lines():
            if p[3] == worker and p[4:7] == ["TRANSFER", "INPUT", file]:
                return int(p[8]) / 1e6
        return None

    def cached_file(self, size: int) -> str:
        """The cache name of the file of ``size`` bytes in a worker's cache."""
        for p in self.lines():
            if p[4] == "CACHE_UPDATE" and p[6] == str(size):
                return p[5]
        raise AssertionError("the file is in no worker's cache")


class Bench:
    def __init__(self, args: argparse.Namespace, cluster: Cluster, workdir: Path) -> None:
        self.args = args
        self.cluster = cluster
        self.namespace = f"bench-inplace-{uuid.uuid4().hex[:6]}"
        self.kube = KubeClient()
        self.manager = TestManager(
            framework=Framework.TASKVINE, workdir=workdir / "manager", peer_transfers=False
        )
        assert self.manager.logs_dir is not None
        self.log = Log(self.manager.logs_dir / "transactions")
        self.spec = WorkerPoolSpec.model_validate(
            {
                "manager": {"address": f"{NODE_IP}:{self.manager.port}", "framework": "TaskVine"},
                "image": registry_image("worker"),
                "sizing": {"mode": "Buckets", "updateMode": "InPlace"},
                "template": REAL_NODE_PLACEMENT,
            }
        )
        data = workdir / "data.bin"
        with data.open("wb") as out:
            out.write(os.urandom(args.file_mb << 20))
        self.manager.declare_file("data", data, cache="forever")
        self.pod = ""
        self.worker = ""
        self.tasks = 0

    def pod_manifest(self, shape: WorkerShape) -> dict[str, Any]:
        name = worker_pod_name(POOL, shape.id, uuid.uuid4().hex[:6])
        pod = build_worker_pod(
            pool=POOL,
            namespace=self.namespace,
            pool_uid="none",
            pod_name=name,
            shape=shape,
            spec=self.spec,
            manager=ManagerEndpoint(NODE_IP, self.manager.port),
            generation=1,
            framework=Framework.TASKVINE,
        )
        pod["metadata"].pop("ownerReferences")  # no WorkerPool object: the namespace owns it
        return pod

    def new_worker(self, known: set[str]) -> tuple[str, float]:
        fresh = wait(
            lambda: {w: t for w, t in self.log.connections().items() if w not in known},
            timeout=300,
            what="a worker connected",
        )
        [(worker, at)] = fresh.items()
        return worker, at

    def first_task(self) -> float:
        self.tasks += 1
        started = time.time()
        self.manager.submit("wc -c < data", cores=1, inputs=(("data", "data"),))
        [task] = self.manager.wait_for(1, timeout=600)
        assert task.ok and int(task.output) == self.args.file_mb << 20, task
        return time.time() - started

    def start(self) -> None:
        self.cluster.create_namespace(self.namespace)
        wait(lambda: free_cpu_millicores(self.cluster) >= 2000, 600, "2 free CPUs on the node", 2)
        shape = WorkerShape.of(1, self.args.memory_mb, DISK_MB)
        pod = self.pod_manifest(shape)
        self.kube.create_pod(self.namespace, pod)
        self.pod = pod["metadata"]["name"]
        self.worker, _ = self.new_worker(set())
        self.first_task()  # the file into the worker's cache

    def round(self, how: str, memory_mb: int) -> Round:
        shape = WorkerShape.of(1, memory_mb, DISK_MB)
        known = set(self.log.connections())
        requested = time.time()
        if how == "in place":
            assert self.kube.resize_pod(self.namespace, self.pod, resize_patch(shape))
        else:
            self.kube.delete_pod(self.namespace, self.pod)
            pod = self.pod_manifest(shape)
            self.kube.create_pod(self.namespace, pod)
            self.pod = pod["metadata"]["name"]
        worker, back = self.new_worker(known)
        gone = wait(lambda: self.log.disconnection(self.worker), 60, "the old worker gone")
        self.worker = worker
        task_s = self.first_task()
        sent = self.log.transfer(worker, self.log.cached_file(self.args.file_mb << 20))
        return Round(
            how=how,
            memory_mb=memory_mb,
            away_s=back - gone,
            request_to_back_s=back - requested,
            first_task_s=task_s,
            file_sent_again=sent is not None,
            file_transfer_s=sent or 0.0,
        )

    def close(self) -> None:
        self.manager.shutdown()
        self.cluster.kubectl("delete", "namespace", self.namespace, "--wait=false", check=False)


def summary(rounds: list[Round], how: str) -> dict[str, Any]:
    mine = [r for r in rounds if r.how == how]

    def stats(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"

    return {
        "rounds": len(mine),
        "away": stats([r.away_s for r in mine]),
        "request -> back": stats([r.request_to_back_s for r in mine]),
        "first task": stats([r.first_task_s for r in mine]),
        "file sent again": f"{sum(r.file_sent_again for r in mine)} of {len(mine)}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--file-mb", type=int, default=256)
    parser.add_argument("--memory-mb", type=int, default=1024)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cluster = start_cluster()
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
    load_config()
    with tempfile.TemporaryDirectory(prefix="bench-inplace-") as tmp:
        bench = Bench(args, cluster, Path(tmp))
        rounds: list[Round] = []
        try:
            bench.start()
            memory = args.memory_mb
            for index in range(args.rounds):
                # Each way goes first every other round, so that both shrink and grow.
                order = ("in place", "recreate") if index % 2 == 0 else ("recreate", "in place")
                for how in order:
                    memory = args.memory_mb // 2 if memory == args.memory_mb else args.memory_mb
                    rounds.append(bench.round(how, memory))
                    print(json.dumps(asdict(rounds[-1])), flush=True)
        finally:
            bench.close()
    table = {how: summary(rounds, how) for how in ("in place", "recreate")}
    print(json.dumps(table, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"rounds": [asdict(r) for r in rounds], **table}))


if __name__ == "__main__":
    main()
