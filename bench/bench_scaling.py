"""Scale-up speed of a WorkerPool against CCTools' own factories, ``work_queue_factory -T k8s``
and ``vine_factory -T k8s`` (CCTools 7.17.1, built from source by ``scripts/cctools.sh``), on the
local KWOK cluster, in the same run.

Two figures, for each system and framework (Work Queue, then TaskVine):

* **reaction**: time from a backlog appearing in an idle manager (``--tasks`` tasks submitted
  at once, at a random moment of the scaler's cycle) to the first worker pod existing;
  ``--rounds`` rounds, median and p90;
* **0 -> N**: ``--pods`` tasks submitted at once, time until N worker pods exist, and until
  all N are Running (KWOK marks a bound pod Running at once; no host runner, so no worker
  process ever starts and no task ever runs on those pods).

For each framework, the operator (``framework: TaskVine`` on its WorkQueueManager for TaskVine)
and the factory serve the same real manager (``tests/cctools/manager.py``: a Work Queue or
TaskVine manager written with ``ndcctools``, in a process of its own) and create pods in the
same cluster, on nodes this script adds for the run (tainted so that nobody else's pods land
there, and removed at the end). "Exists" and "Running" are the local times at which a watch on
the namespace delivered the pod's ADDED event and its first Running phase; the same watch code
measures every system. The backlog exists when the manager program has answered a status
round trip sent after the last submission (``submit_backlog`` says why it also sends a status
query of its own).

Both 7.17.1 factories create no pod as shipped: their k8s batch module runs its embedded bash
script with ``/bin/sh`` (``execlp("/bin/sh", "sh", "_temp_k8s_script.sh", "create", ...)`` in
``batch_job/src/batch_queue_k8s.c``), here dash, whose ``[`` rejects ``==`` (``[: create:
unexpected operator``), so every "create" falls through to "copy the worker into the pod and
exec it" against a pod that does not exist (``Error from server (NotFound): pods ... not
found``). The script checks that once per factory (``--skip-as-shipped`` skips it) and prints
the factory's own messages, then runs the factory with the one fix its script asks for, the
script run by bash (see ``factory_shim``). The shim also bounds the factory's concurrent
``kubectl`` processes (``--factory-kubectl-concurrency``), since it forks one per worker at
once, ~48 MB each, and adds the run's node selector and toleration to the pods it creates.

Neither factory can start a worker in the pods it creates: it learns which pods run from
``kubectl get pods --show-all``, a flag today's kubectl (v1.37.2 here) does not know (``error:
unknown flag: --show-all``), so it never copies the worker in and runs it; the figures are pod
creation only.
``vine_factory`` has no way to name the pods' image: it declares ``--k8s-image`` and
``--k8s-worker-image`` but handles neither (it prints its usage and exits 1; so does
``ndcctools.taskvine.Factory`` given ``k8s_image``), its configuration file has no such key,
and the k8s module then uses ``centos``. The script records both refusals and the images of
the pods each system created.

    .venv/bin/python bench/bench_scaling.py [--pods 1000] [--rounds 10] [--tasks 5]
        [--poll-interval 1] [--skip-factory] [--skip-operator] [--skip-workqueue]
        [--skip-taskvine] [--json out.json] [--keep]

Needs the local control plane (started with ``e2e/cluster/up.sh``, idempotent; its default
nodes are left as they are) and the CCTools 7.17.1 build (``scripts/cctools.sh``; its programs
and ``ndcctools`` are used through ``tests.cctools.install.use_cctools_build``). Every wait is
bounded; processes, pods, namespaces and nodes are removed at the end, also on failure or
Ctrl-C. Takes about 30 minutes with both factories, mostly the factories' 40 s cycle.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import kubernetes
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the test harness's helpers (tests.*) are reused here

from tests.cctools.catalog import CatalogServer, running_catalog  # noqa: E402
from tests.cctools.install import cctools_bin, missing_cctools, use_cctools_build  # noqa: E402
from tests.cctools.manager import TestManager  # noqa: E402
from tests.cctools.workers import WorkerProcess, launch, worker_argv  # noqa: E402
from tests.cctools.workers import stop as stop_worker  # noqa: E402
from tests.harness import Cluster, owner_labels, start_cluster  # noqa: E402

from workqueue_operator.api.common import Framework  # noqa: E402
from workqueue_operator.api.pool import DEFAULT_WORKER_IMAGE  # noqa: E402

T = TypeVar("T")

OPERATOR = REPO / ".venv" / "bin" / "workqueue-operator"
CRDS = REPO / "crds"
FACTORIES = {Framework.WORK_QUEUE: "work_queue_factory", Framework.TASKVINE: "vine_factory"}
DEBUG_FLAGS = {Framework.WORK_QUEUE: "wq", Framework.TASKVINE: "vine"}
"""``-d`` of each factory: its cycle's debug lines (``evaluating manager list...``), which the
script times the cycles by (``vine_factory`` prints its status line once a minute only)."""
CYCLE_MARK = "evaluating manager list..."
DEBUG_LINE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+ \S+\[\d+\]")
SLUGS = {Framework.WORK_QUEUE: "wq", Framework.TASKVINE: "vine"}
GROUP_VERSION = "workqueue.dev/v1alpha1"
NODE_LABEL = "workqueue.dev/bench-node"
NODE_TAINT = "workqueue.dev/bench"
PODS_PER_NODE = 250
NODE_CPU = "1000"
NODE_MEMORY = "1Ti"
NODE_DISK = "1Ti"
POOL = "bench"
POOL_SELECTOR = f"workqueue.dev/pool={POOL}"
TASK_COMMAND = "true"
FACTORY_CYCLE_GUESS_S = 40.0
"""30 s sleep + the k8s batch wait (one 10 s sleep), when the as-shipped run did not measure
the cycle."""
OPTION_PROBE_S = 15.0
FACTORY_SCRIPT = "_temp_k8s_script.sh"
EMBEDDED_SCRIPT_START = b"#!/bin/bash\n\naction=$1"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_until(
    probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.05
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --- pods as a watch sees them ----------------------------------------------------------------


class PodWatch:
    """Local (monotonic) receive time of each pod's ADDED event and of its first Running phase,
    from one watch on a namespace. ``reset`` starts a new measurement; pods that existed before
    it are never counted again."""

    def __init__(self, core: Any, namespace: str) -> None:
        self._core = core
        self.namespace = namespace
        self._lock = threading.Lock()
        self._added: dict[str, float] = {}
        self._running: dict[str, float] = {}
        self._live: set[str] = set()
        self.added_total = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._response: Any = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{namespace}", daemon=True)

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30):
            raise TimeoutError(f"could not list pods in {self.namespace}: {self.errors[-3:]}")

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(Exception):
            if self._response is not None:
                self._response.close()
        self._thread.join(timeout=5)

    def reset(self) -> None:
        with self._lock:
            self._added.clear()
            self._running.clear()

    def _run(self) -> None:
        version: str | None = None
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._list()
                version = self._follow(version)
            except Exception as error:
                if self._stop.is_set():
                    return
                self.errors.append(repr(error))
                time.sleep(0.5)

    def _list(self) -> str:
        raw = self._core.list_namespaced_pod(self.namespace, _preload_content=False)
        listing = json.loads(raw.data)
        with self._lock:
            self._live = {item["metadata"]["name"] for item in listing["items"]}
        self._ready.set()
        version: str = listing["metadata"]["resourceVersion"]
        return version

    def _follow(self, version: str) -> str | None:
        """Follow the watch from ``version``; the last version seen, or None to list again."""
        self._response = response = self._core.list_namespaced_pod(
            self.namespace,
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=50,
            _preload_content=False,
            _request_timeout=(5, 70),
        )
        try:
            for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                received = time.monotonic()
                if not line:
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    self.errors.append(f"watch error: {obj.get('message')}")
                    return None  # 410 Gone and friends: list again
                version = obj.get("metadata", {}).get("resourceVersion", version)
                if kind == "BOOKMARK":
                    continue
                self._record(kind, obj, received)
                if self._stop.is_set():
                    break
        finally:
            response.release_conn()
        return version

    def _record(self, kind: str, obj: dict[str, Any], received: float) -> None:
        name = obj["metadata"]["name"]
        phase = (obj.get("status") or {}).get("phase")
        with self._lock:
            if kind == "DELETED":
                self._live.discard(name)
                return
            if kind == "ADDED":
                self._live.add(name)
                self.added_total += 1
                self._added.setdefault(name, received)
            if phase == "Running" and name in self._added:
                self._running.setdefault(name, received)

    # -- reading ------------------------------------------------------------------------------

    def live(self) -> int:
        with self._lock:
            return len(self._live)

    def added_times(self) -> list[float]:
        with self._lock:
            return sorted(self._added.values())

    def running_times(self) -> list[float]:
        with self._lock:
            return sorted(self._running.values())

    def nth_added(self, count: int, timeout: float) -> float | None:
        """When the ``count``-th pod since ``reset`` was first seen; None after ``timeout``."""
        return self._nth(self.added_times, count, timeout)

    def nth_running(self, count: int, timeout: float) -> float | None:
        return self._nth(self.running_times, count, timeout)

    @staticmethod
    def _nth(times: Callable[[], list[float]], count: int, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while True:
            seen = times()
            if len(seen) >= count:
                return seen[count - 1]
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)


# --- cluster objects --------------------------------------------------------------------------


@dataclass
class Kube:
    cluster: Cluster
    core: Any
    custom: Any


def kube_clients(cluster: Cluster) -> Kube:
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(cluster.kubeconfig), client_configuration=config
    )
    config.connection_pool_maxsize = 8
    api = kubernetes.client.ApiClient(config)
    return Kube(cluster, kubernetes.client.CoreV1Api(api), kubernetes.client.CustomObjectsApi(api))


def create_nodes(kube: Kube, run_id: str, count: int) -> list[str]:
    """KWOK nodes for this run only: tainted (nobody else's pods land there), big enough for
    1-core worker pods, Ready and free of the node controller's not-ready taints."""
    names = []
    for index in range(1, count + 1):
        name = f"wq-bench-{run_id}-{index}"
        cidr = f"10.250.{index}.0/24"
        resources = {
            "cpu": NODE_CPU,
            "memory": NODE_MEMORY,
            "pods": str(PODS_PER_NODE),
            "ephemeral-storage": NODE_DISK,
        }
        kube.core.create_node(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {
                        "kwok.x-k8s.io/node": "fake",
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                    "labels": {
                        "type": "kwok-bench",
                        NODE_LABEL: run_id,
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                    },
                },
                "spec": {
                    "podCIDR": cidr,
                    "podCIDRs": [cidr],
                    "taints": [{"key": NODE_TAINT, "value": run_id, "effect": "NoSchedule"}],
                },
                "status": {"capacity": resources, "allocatable": resources},
            }
        )
        names.append(name)

    def ready() -> bool:
        for name in names:
            node = kube.core.read_node(name)
            conditions = {c.type: c.status for c in node.status.conditions or []}
            taints = {t.key for t in node.spec.taints or []}
            if conditions.get("Ready") != "True" or taints != {NODE_TAINT}:
                return False
        return True

    wait_until(ready, timeout=120, interval=0.25, what="the bench nodes to be Ready")
    return names


def delete_nodes(kube: Kube, run_id: str) -> None:
    """This run's nodes (after its pods: a pod left on a deleted node is garbage-collected)."""
    nodes = kube.core.list_node(label_selector=f"{NODE_LABEL}={run_id}").items
    for node in nodes:
        with contextlib.suppress(ApiException):
            kube.core.delete_node(node.metadata.name)


def placement(run_id: str) -> dict[str, Any]:
    """Node selector and toleration that put a pod on this run's nodes."""
    return {
        "nodeSelector": {NODE_LABEL: run_id},
        "tolerations": [
            {"key": NODE_TAINT, "operator": "Equal", "value": run_id, "effect": "NoSchedule"}
        ],
    }


def create_namespace(kube: Kube, name: str) -> None:
    kube.core.create_namespace(
        {"metadata": {"name": name, "labels": {"workqueue.dev/bench": "scaling", **owner_labels()}}}
    )


def delete_pods(kube: Kube, namespace: str, watch: PodWatch, timeout: float = 180) -> None:
    """Delete every pod of the namespace until none is left for 2 s in a row."""
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while True:
        if watch.live() == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 2:
                return
        else:
            quiet_since = None
            with contextlib.suppress(ApiException):
                kube.core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{watch.live()} pods still in {namespace} after {timeout:.0f} s")
        time.sleep(0.5)


def cluster_wide_operators() -> list[str]:
    """``workqueue-operator run`` processes that watch every namespace (they would also scale
    this run's pool)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            words = [
                w.decode(errors="replace")
                for w in (proc / "cmdline").read_bytes().split(b"\0")
                if w
            ]
        except OSError:
            continue
        is_operator = any(w.endswith("workqueue-operator") for w in words) and "run" in words
        scoped = any(w in ("-n", "--namespace") or w.startswith("--namespace=") for w in words)
        if is_operator and not scoped:
            found.append(f"{proc.name}: {' '.join(words)}")
    return found


# --- the manager ------------------------------------------------------------------------------


STATUS_QUERIES = {Framework.WORK_QUEUE: b"queue_status\n", Framework.TASKVINE: b"manager_status\n"}


def submit_backlog(manager: TestManager, count: int) -> float:
    """Queue ``count`` tasks at once (the manager program stays out of ``wait()`` meanwhile, so
    that they appear together); the monotonic time at which the backlog exists: when the
    program has answered a status round trip sent after the last submission.

    The program reads commands only between calls of ``wait(1)``, and a status query ends a
    ``wait`` early; left alone, the backlog would appear 1 s after the operator's previous
    query, locked to its poll. A status query of this script's own, sent with the commands,
    ends the ``wait`` at once, so the backlog appears when this script chose."""
    manager.stop_serving()
    wake: socket.socket | None = None
    try:
        for _ in range(count):
            manager.submit(TASK_COMMAND)
        wake = socket.create_connection(("127.0.0.1", manager.port), timeout=5)
        wake.sendall(STATUS_QUERIES[manager.framework])
        waiting = manager.stats()["tasks_waiting"]
        t0 = time.monotonic()
        if waiting < count:
            raise RuntimeError(f"{waiting} tasks waiting in the manager after {count} submitted")
        return t0
    finally:
        manager.start_serving()
        if wake is not None:
            with contextlib.suppress(OSError), wake:
                while wake.recv(1 << 16):  # answered once the program serves again
                    pass


def drain(manager: TestManager, count: int, work: Path, workers: int) -> None:
    """Run the ``count`` queued tasks on local workers (not pods) so that the manager is idle."""
    if count <= 0:
        return
    started: list[WorkerProcess] = []
    try:
        for index in range(workers):
            directory = work / f"drain-{uuid.uuid4().hex[:6]}-{index}"
            argv = worker_argv(
                "127.0.0.1",
                manager.port,
                framework=manager.framework,
                workdir=directory,
                timeout=120,
            )
            started.append(launch(argv, directory, work / "drain-workers.log"))
        manager.wait_for(count, timeout=120 + count * 0.5)
    finally:
        for worker in started:
            stop_worker(worker)
        for worker in started:
            shutil.rmtree(worker.workdir, ignore_errors=True)


# --- measurements -----------------------------------------------------------------------------


@dataclass
class Round:
    first_pod_s: float | None
    all_pods_s: float | None
    offset_s: float
    """Seconds between the scaler's cycle start we know of and the submission."""


@dataclass
class Ramp:
    pods: int
    first_pod_s: float | None = None
    all_exist_s: float | None = None
    all_running_s: float | None = None
    offset_s: float = 0.0
    on_bench_nodes: int = 0
    """Pods that ended up on this run's nodes (all of them, when the placement worked)."""
    images: dict[str, int] = field(default_factory=dict)
    """Container images of the pods, and how many pods had each."""
    exist_at: dict[str, int] = field(default_factory=dict)
    """Pods existing so many seconds after the backlog appeared."""


@dataclass
class SystemResult:
    name: str
    rounds: list[Round] = field(default_factory=list)
    ramp: Ramp | None = None
    notes: list[str] = field(default_factory=list)


TIMELINE_S = (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300)


def measure_ramp(watch: PodWatch, t0: float, pods: int, timeout: float) -> Ramp:
    ramp = Ramp(pods=pods)
    first = watch.nth_added(1, timeout)
    if first is not None:
        ramp.first_pod_s = first - t0
        last = watch.nth_added(pods, max(1.0, t0 + timeout - time.monotonic()))
        ramp.all_exist_s = None if last is None else last - t0
        running = watch.nth_running(pods, max(1.0, t0 + timeout - time.monotonic()))
        ramp.all_running_s = None if running is None else running - t0
    times = watch.added_times()
    for seconds in TIMELINE_S:
        ramp.exist_at[str(seconds)] = sum(1 for t in times if t - t0 <= seconds)
    return ramp


def pods_on_nodes(kube: Kube, namespace: str, run_id: str) -> int:
    pods = kube.core.list_namespaced_pod(namespace).items
    return sum(1 for pod in pods if (pod.spec.node_name or "").startswith(f"wq-bench-{run_id}-"))


def pod_images(kube: Kube, namespace: str) -> dict[str, int]:
    """How many of the namespace's pods run each container image."""
    images: dict[str, int] = {}
    for pod in kube.core.list_namespaced_pod(namespace).items:
        for container in pod.spec.containers:
            images[container.image] = images.get(container.image, 0) + 1
    return images


def pod_nodes(kube: Kube, namespace: str) -> dict[str, int]:
    """How many of the namespace's pods each node holds ("" = not scheduled)."""
    nodes: dict[str, int] = {}
    for pod in kube.core.list_namespaced_pod(namespace).items:
        nodes[pod.spec.node_name or ""] = nodes.get(pod.spec.node_name or "", 0) + 1
    return nodes


def load_average() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def measure_round(watch: PodWatch, t0: float, tasks: int, timeout: float, offset: float) -> Round:
    first = watch.nth_added(1, timeout)
    if first is None:
        return Round(None, None, offset)
    last = watch.nth_added(tasks, 30)
    return Round(first - t0, None if last is None else last - t0, offset)


@dataclass
class Bench:
    """What every phase uses."""

    kube: Kube
    manager: TestManager
    args: argparse.Namespace
    run_id: str
    work: Path
    rng: random.Random

    @property
    def framework(self) -> Framework:
        return self.manager.framework

    @property
    def slug(self) -> str:
        return SLUGS[self.framework]


def ramp_from_zero(bench: Bench, watch: PodWatch, namespace: str, offset: float) -> Ramp:
    """Submit ``--pods`` tasks at once and time the ramp from no pod to that many (``offset``:
    the submission's random delay), with where the pods ran and their images."""
    args = bench.args
    t0 = submit_backlog(bench.manager, args.pods)
    ramp = measure_ramp(watch, t0, args.pods, timeout=args.ramp_timeout)
    ramp.offset_s = offset
    ramp.on_bench_nodes = pods_on_nodes(bench.kube, namespace, bench.run_id)
    ramp.images = pod_images(bench.kube, namespace)
    return ramp


# --- the operator -----------------------------------------------------------------------------


class OperatorProcess:
    def __init__(
        self, cluster: Cluster, namespace: str, log_path: Path, pythonpath: Path | None
    ) -> None:
        self.log_path = log_path
        env = cluster.env | {"WORKQUEUE_OPERATOR_METRICS_PORT": "0", "PYTHONUNBUFFERED": "1"}
        if pythonpath is not None:
            # A patched copy of the package, found before the installed (editable) one.
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(pythonpath), env.get("PYTHONPATH")])
            )
        with log_path.open("wb") as out:
            self.process = subprocess.Popen(
                [str(OPERATOR), "run", "--namespace", namespace, "--log-format", "plain"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=REPO,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def operator_manifests(
    port: int, framework: Framework, args: argparse.Namespace, run_id: str
) -> str:
    manager = {
        "apiVersion": GROUP_VERSION,
        "kind": "WorkQueueManager",
        "metadata": {"name": POOL},
        "spec": {
            "mode": "External",
            "framework": str(framework),
            "address": f"127.0.0.1:{port}",
            "pollIntervalSeconds": 5,
        },
    }
    pool = {
        "apiVersion": GROUP_VERSION,
        "kind": "WorkerPool",
        "metadata": {"name": POOL},
        "spec": {
            "managerRef": {"name": POOL},
            "minWorkers": 0,
            "maxWorkers": args.pods,
            "worker": {"cores": 1, "memory": "512Mi", "disk": "1Gi"},
            "autoscale": {
                "pollIntervalSeconds": args.poll_interval,
                "scaleUpStep": min(args.pods, 10000),
            },
            "template": placement(run_id),
        },
    }
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [manager, pool]})


def pool_status(kube: Kube, namespace: str) -> dict[str, Any]:
    obj = kube.custom.get_namespaced_custom_object(
        "workqueue.dev", "v1alpha1", namespace, "workerpools", POOL
    )
    status: dict[str, Any] = obj.get("status") or {}
    return status


def settle_operator(kube: Kube, namespace: str, watch: PodWatch, poll: float) -> None:
    """Wait until the pool's last decision wants no pod (the manager is idle), then remove the
    pods it made and make sure no decision made before the drain adds any."""
    wait_until(
        lambda: pool_status(kube, namespace).get("desiredReplicas") == 0,
        timeout=60,
        interval=0.2,
        what="the pool to want 0 pods",
    )
    time.sleep(poll + 0.3)
    for _ in range(5):
        delete_pods(kube, namespace, watch)
        before = watch.added_total
        time.sleep(2 * poll + 0.5)
        if watch.added_total == before and watch.live() == 0:
            return
    raise RuntimeError("the pool keeps creating pods although the manager is idle")


def run_operator(bench: Bench, result: SystemResult) -> None:
    """Reaction rounds and the 0 -> N ramp through the operator; its pods, pool, namespace and
    process are gone when this returns (or raises)."""
    with contextlib.ExitStack() as stack:
        operator_phase(bench, result, stack)


def operator_phase(bench: Bench, result: SystemResult, stack: contextlib.ExitStack) -> None:
    kube, manager, args, work = bench.kube, bench.manager, bench.args, bench.work
    run_id, rng = bench.run_id, bench.rng
    namespace = f"bench-scaling-{run_id}-op-{bench.slug}"
    create_namespace(kube, namespace)
    later(stack, lambda: remove_namespace(kube, namespace, pool_objects=True))
    watch = PodWatch(kube.core, namespace)
    watch.start()
    later(stack, watch.stop)
    later(stack, lambda: result.notes.extend(f"watch: {e}" for e in watch.errors))
    result.notes.append(f"load average at the start: {load_average()}")
    later(stack, lambda: result.notes.append(f"load average at the end: {load_average()}"))
    operator = OperatorProcess(
        kube.cluster, namespace, work / f"operator-{bench.slug}.log", args.operator_pythonpath
    )
    later(stack, operator.stop)
    kube.cluster.apply(operator_manifests(manager.port, bench.framework, args, run_id), namespace)

    def accepted() -> bool:
        status = pool_status(kube, namespace)
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        return conditions.get("Accepted") == "True" and status.get("desiredReplicas") == 0

    wait_until(accepted, timeout=180, interval=0.25, what="the operator to accept the pool")
    log(f"operator ready (log {operator.log_path})")
    poll = float(args.poll_interval)
    for index in range(args.rounds):
        settle_operator(kube, namespace, watch, poll)
        watch.reset()
        offset = rng.uniform(0, poll)
        time.sleep(offset)
        t0 = submit_backlog(manager, args.tasks)
        measured = measure_round(watch, t0, args.tasks, timeout=60, offset=offset)
        result.rounds.append(measured)
        log(
            f"operator ({bench.framework}) round {index + 1}/{args.rounds}: first pod "
            f"{fmt(measured.first_pod_s)}, {args.tasks} pods {fmt(measured.all_pods_s)}"
        )
        drain(manager, args.tasks, work, workers=1)
        if not operator.alive():
            raise RuntimeError(f"the operator exited; see {operator.log_path}")
    if not args.skip_ramp:
        settle_operator(kube, namespace, watch, poll)
        watch.reset()
        offset = rng.uniform(0, poll)
        time.sleep(offset)
        result.ramp = ramp_from_zero(bench, watch, namespace, offset)
        log(f"operator ({bench.framework}) 0 -> {args.pods}: {asdict(result.ramp)}")
        drain(manager, args.pods, work, workers=4)


def remove_namespace(kube: Kube, namespace: str, *, pool_objects: bool = False) -> None:
    """The pool objects (without the finalizers a stopped operator can no longer remove), the
    pods (waiting up to 3 minutes for them to go), then the namespace, without waiting."""
    if pool_objects:
        for kind in ("wqpool", "wqm"):
            kube.cluster.kubectl(
                "patch",
                kind,
                POOL,
                "--type=merge",
                "-p",
                '{"metadata":{"finalizers":null}}',
                namespace=namespace,
                check=False,
            )
        kube.cluster.kubectl(
            "delete", "wqpool,wqm", "--all", "--wait=false", namespace=namespace, check=False
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        with contextlib.suppress(ApiException):
            kube.core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
        if not kube.core.list_namespaced_pod(namespace, limit=1).items:
            break
        time.sleep(1)
    with contextlib.suppress(ApiException):
        kube.core.delete_namespace(namespace)


# --- the factory ------------------------------------------------------------------------------


def factory_binary(framework: Framework) -> Path:
    """The CCTools build's factory program for ``framework``."""
    binary = cctools_bin() / FACTORIES[framework]
    if not binary.exists():
        raise FileNotFoundError(f"{binary} (scripts/cctools.sh builds CCTools)")
    return binary


def embedded_k8s_script(binary: Path) -> str:
    """The k8s batch script compiled into the factory (written out as _temp_k8s_script.sh)."""
    data = binary.read_bytes()
    start = data.find(EMBEDDED_SCRIPT_START)
    if start < 0:
        raise RuntimeError(f"no embedded k8s script found in {binary}")
    return data[start : data.index(b"\0", start)].decode()


def factory_shim(
    scratch: Path,
    binary: Path,
    run_id: str,
    concurrency: int,
    pod_placement: dict[str, Any] | None = None,
) -> None:
    """Pre-place the factory's ``_temp_k8s_script.sh`` (it writes its own only when none
    exists): a POSIX sh script that adds this run's placement (``pod_placement``, by default
    the run's KWOK nodes) to the pod JSON, waits for one of ``concurrency`` slots and runs the
    factory's own embedded script with bash."""
    (scratch / "k8s_script.bash").write_text(embedded_k8s_script(binary))
    locks = scratch / "slots"
    locks.mkdir(exist_ok=True)
    chosen = placement(run_id) if pod_placement is None else pod_placement
    extra = json.dumps(chosen)[1:-1]  # "nodeSelector": ..., "tolerations": [...]
    if "|" in extra or "&" in extra or "\\" in extra or "'" in extra:
        raise ValueError(f"cannot put {extra!r} in a sed expression")
    shim = f"""#!/bin/sh
# Written by bench/bench_scaling.py (see its docstring). $1 is create|exec, $2 the pod id.
if [ "$1" = create ]; then
  sed -i 's|"restartPolicy": "Never"|"restartPolicy": "Never", {extra}|' "$2.json"
fi
exec 9>"{locks}/slot.$(( $$ % {concurrency} ))"
flock 9
exec /bin/bash "{scratch}/k8s_script.bash" "$@"
"""
    path = scratch / FACTORY_SCRIPT
    path.write_text(shim)
    path.chmod(0o755)


class FactoryProcess:
    """``work_queue_factory -T k8s`` or ``vine_factory -T k8s`` for the manager, in a fresh
    scratch dir; records when each of its cycles began (its ``evaluating manager list...``
    debug line, which it writes to ``factory.debug``). Its standard error (the k8s script's
    and kubectl's messages among them) goes to ``factory.stderr``."""

    count = 0

    def __init__(
        self,
        *,
        framework: Framework,
        cluster: Cluster,
        kubeconfig: Path,
        manager_port: int,
        catalog: CatalogServer,
        work: Path,
        max_workers: int,
        fixed: bool,
        run_id: str,
        concurrency: int,
        manager_host: str = "127.0.0.1",
        extra_argv: Sequence[str] = (),
        pod_placement: dict[str, Any] | None = None,
        path_prefix: Path | None = None,
    ) -> None:
        """``manager_host``: the manager's address as the factory and its workers reach it;
        ``extra_argv``: more factory options (before the manager's address);
        ``pod_placement``: the shim's placement (default: the run's KWOK nodes);
        ``path_prefix``: a directory put first on the factory's PATH."""
        FactoryProcess.count += 1
        binary = factory_binary(framework)
        self.scratch = work / f"factory-{FactoryProcess.count}-{SLUGS[framework]}"
        self.scratch.mkdir()
        if fixed:
            factory_shim(self.scratch, binary, run_id, concurrency, pod_placement)
        self.stderr_path = self.scratch / "factory.stderr"
        self.debug_path = self.scratch / "factory.debug"
        self.cycles: list[float] = []
        self.stdout_tail: list[str] = []
        argv = [
            str(binary),
            "-T",
            "k8s",
            "--min-workers",
            "0",
            "--max-workers",
            str(max_workers),
            "--workers-per-cycle",
            "0",
            "--cores",
            "1",
            "--memory",
            "512",
            "--disk",
            "1024",
            "--catalog",
            catalog.address,
            "-S",
            str(self.scratch),
            "-d",
            DEBUG_FLAGS[framework],
            "-o",
            str(self.debug_path),
            "--parent-death",
            *extra_argv,
            manager_host,
            str(manager_port),
        ]
        self.argv = argv
        env = cluster.env | {"KUBECONFIG": str(kubeconfig)}
        if path_prefix is not None:
            env["PATH"] = os.pathsep.join([str(path_prefix), env.get("PATH", "")])
        self.debug_path.touch()
        with self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.scratch,
                text=True,
                errors="replace",
                start_new_session=True,
            )
        self._stopped = threading.Event()
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._follow_debug, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout_tail = [*self.stdout_tail[-50:], line.rstrip()]

    def _follow_debug(self) -> None:
        """Follow the debug file (every 20 ms) for the cycle's first line."""
        with self.debug_path.open("r", errors="replace") as debug:
            partial = ""
            while not self._stopped.is_set():
                chunk = debug.readline()
                if not chunk:
                    time.sleep(0.02)
                    continue
                partial += chunk
                if not partial.endswith("\n"):
                    continue
                if CYCLE_MARK in partial and DEBUG_LINE.match(partial):
                    self.cycles.append(time.monotonic())
                partial = ""

    def wait_cycles(self, count: int, timeout: float) -> float:
        """Monotonic time of the ``count``-th cycle's start."""
        wait_until(
            lambda: len(self.cycles) >= count or self.process.poll() is not None,
            timeout=timeout,
            interval=0.05,
            what=f"{count} factory cycle(s)",
        )
        if len(self.cycles) < count:
            raise RuntimeError(f"the factory exited ({self.process.returncode}): {self.stderr()}")
        return self.cycles[count - 1]

    def stderr(self, limit: int = 4000) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL its process group: no slow one-by-one ``kubectl delete`` of its workers
        (the bench deletes the namespace's pods itself), and no queued ``kubectl create``."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._stopped.set()
        for reader in self._readers:
            reader.join(timeout=5)


def factory_kubeconfig(cluster: Cluster, namespace: str, work: Path) -> Path:
    """A copy of the cluster's kubeconfig whose context defaults to ``namespace`` (the
    factory's kubectl calls name no namespace)."""
    path = work / f"{namespace}.kubeconfig"
    shutil.copy(cluster.kubeconfig, path)
    path.chmod(0o600)
    cluster.kubectl(
        "config", "set-context", "--current", f"--namespace={namespace}", f"--kubeconfig={path}"
    )
    return path


def distinct_lines(text: str, limit: int = 8) -> list[str]:
    """The first ``limit`` distinct lines, with pod ids and numbers masked."""
    seen: list[str] = []
    for line in text.splitlines():
        masked = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27,}", "<pod>", line.strip())
        if masked and masked not in seen:
            seen.append(masked)
        if len(seen) >= limit:
            break
    return seen


PYTHON_FACTORY_PROBE = """
import sys
import ndcctools.taskvine as vine

address, log_file, image, scratch, catalog = sys.argv[1:]
factory = vine.Factory("k8s", manager_host_port=address, log_file=log_file)
factory.k8s_image = image
factory.min_workers = 0
factory.scratch_dir = scratch
factory.catalog = catalog
try:
    with factory:
        print("started")
except Exception as error:
    print(f"{type(error).__name__}: {error}")
"""


def probe_image_options(
    bench: Bench, catalog: CatalogServer, kubeconfig: Path, image: str
) -> list[str]:
    """Give ``vine_factory -T k8s`` an image for its pods in each way its source declares one
    (``--k8s-image``, ``--k8s-worker-image``, ``ndcctools.taskvine.Factory.k8s_image``); what
    each did, in its own words. A factory that starts is stopped after OPTION_PROBE_S."""
    binary = factory_binary(bench.framework)
    env = bench.kube.cluster.env | {"KUBECONFIG": str(kubeconfig)}
    address = f"127.0.0.1:{bench.manager.port}"
    notes = []
    for option in ("--k8s-image", "--k8s-worker-image"):
        scratch = bench.work / f"probe{option}"
        scratch.mkdir()
        argv = [str(binary), "-T", "k8s", f"{option}={image}", "--min-workers", "0"]
        argv += ["--catalog", catalog.address, "-S", str(scratch), "--parent-death", address]
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=scratch,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=OPTION_PROBE_S)
            outcome = f"exit {process.returncode}"
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate(timeout=10)
            outcome = f"accepted: still running after {OPTION_PROBE_S:g} s"
        lines = [line for line in output.splitlines() if line.strip()]
        usage = "usage" if any(line.startswith("Use: ") for line in lines) else "no usage"
        listed = "lists" if any(option in line for line in lines) else "does not list"
        notes.append(
            f"{binary.name} -T k8s {option}=IMAGE: {outcome}, {len(lines)} lines of output "
            f"({usage}, which {listed} {option}); first line: {lines[0] if lines else ''!r}"
        )
    scratch = bench.work / "probe-python-factory"
    scratch.mkdir()
    log_file = scratch / "factory.log"
    argv = [sys.executable, "-c", PYTHON_FACTORY_PROBE, address, str(log_file), image]
    argv += [str(scratch), catalog.address]
    try:
        run = subprocess.run(
            argv, capture_output=True, text=True, env=env, cwd=scratch, timeout=60, check=False
        )
        said = (run.stdout.strip() or run.stderr.strip()).splitlines()
        logged = [line for line in log_file.read_text(errors="replace").splitlines() if line]
        notes.append(
            f"ndcctools.taskvine.Factory('k8s', ...) with k8s_image=IMAGE: "
            f"{said[-1] if said else '(no output)'!r}; its factory's first line: "
            f"{logged[0] if logged else ''!r}"
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        notes.append(f"ndcctools.taskvine.Factory probe failed: {error!r}")
    return notes


def run_factory(bench: Bench, result: SystemResult) -> None:
    """The as-shipped check, reaction rounds and the 0 -> N ramp through the factory; its
    processes, pods and namespace are gone when this returns (or raises)."""
    with contextlib.ExitStack() as stack:
        factory_phase(bench, result, stack)


def factory_phase(bench: Bench, result: SystemResult, stack: contextlib.ExitStack) -> None:
    kube, manager, args, work = bench.kube, bench.manager, bench.args, bench.work
    run_id, rng = bench.run_id, bench.rng
    name = FACTORIES[bench.framework]
    namespace = f"bench-scaling-{run_id}-f-{bench.slug}"
    create_namespace(kube, namespace)
    later(stack, lambda: remove_namespace(kube, namespace))
    result.notes.append(f"load average at the start: {load_average()}")
    later(stack, lambda: result.notes.append(f"load average at the end: {load_average()}"))
    catalog = stack.enter_context(running_catalog(work / f"catalog-{bench.slug}"))
    watch = PodWatch(kube.core, namespace)
    watch.start()
    later(stack, watch.stop)
    later(stack, lambda: result.notes.extend(f"watch: {e}" for e in watch.errors))
    kubeconfig = factory_kubeconfig(kube.cluster, namespace, work)
    live: list[FactoryProcess] = []

    def kill_all() -> None:
        for factory in live:
            factory.kill()

    later(stack, kill_all)

    if bench.framework == Framework.TASKVINE:
        for note in probe_image_options(bench, catalog, kubeconfig, DEFAULT_WORKER_IMAGE):
            result.notes.append(f"image: {note}")
            log(note)
        if watch.live():
            result.notes.append(f"image probes left {watch.live()} pods")
            delete_pods(kube, namespace, watch)

    def start(fixed: bool) -> FactoryProcess:
        factory = FactoryProcess(
            framework=bench.framework,
            cluster=kube.cluster,
            kubeconfig=kubeconfig,
            manager_port=manager.port,
            catalog=catalog,
            work=work,
            max_workers=args.pods,
            fixed=fixed,
            run_id=run_id,
            concurrency=args.factory_kubectl_concurrency,
        )
        live.append(factory)
        return factory

    def finish(factory: FactoryProcess, tasks: int) -> None:
        factory.kill()
        delete_pods(kube, namespace, watch)
        drain(manager, tasks, work, workers=4 if tasks > 50 else 1)

    cycle = FACTORY_CYCLE_GUESS_S
    if not args.skip_as_shipped:
        # As CCTools builds it: measure its idle cycle, then give it a backlog and count pods.
        watch.reset()
        factory = start(fixed=False)
        first = factory.wait_cycles(1, 60)
        second = factory.wait_cycles(2, 120)
        cycle = second - first
        t0 = submit_backlog(manager, args.tasks)
        waited = 1.5 * cycle + 10
        first_pod = watch.nth_added(1, waited)
        errors = distinct_lines(factory.stderr(20000))
        first_s = None if first_pod is None else first_pod - t0
        created = len(watch.added_times())
        placed = f"; nodes {pod_nodes(kube, namespace)}" if created else ""
        result.notes.append(
            f"as shipped: {created} pods in {time.monotonic() - t0:.0f} s after "
            f"{args.tasks} tasks were queued (first pod: {fmt(first_s)}){placed}; idle cycle "
            f"{cycle:.1f} s; its stderr: " + " | ".join(errors)
        )
        log(result.notes[-1])
        if created >= args.tasks:
            result.notes.append(
                "as shipped it created every pod: the bash part of the shim is not needed"
            )
        finish(factory, args.tasks)
    gaps: list[float] = []
    for index in range(args.factory_rounds):
        watch.reset()
        factory = start(fixed=True)
        cycle_start = factory.wait_cycles(1, 60)
        offset = rng.uniform(0, cycle)
        time.sleep(max(0.0, cycle_start + offset - time.monotonic()))
        t0 = submit_backlog(manager, args.tasks)
        measured = measure_round(watch, t0, args.tasks, timeout=2 * cycle + 30, offset=offset)
        result.rounds.append(measured)
        log(
            f"{name} round {index + 1}/{args.factory_rounds}: first pod "
            f"{fmt(measured.first_pod_s)}, {args.tasks} pods {fmt(measured.all_pods_s)}"
        )
        if index == 0:
            result.notes.append(
                f"first round: pod images {pod_images(kube, namespace)}; its stderr: "
                + " | ".join(distinct_lines(factory.stderr(20000)))
            )
        gaps.extend(b - a for a, b in itertools.pairwise(factory.cycles))
        finish(factory, args.tasks)
    if not args.skip_ramp:
        watch.reset()
        factory = start(fixed=True)
        cycle_start = factory.wait_cycles(1, 60)
        offset = rng.uniform(0, cycle)
        time.sleep(max(0.0, cycle_start + offset - time.monotonic()))
        result.ramp = ramp_from_zero(bench, watch, namespace, offset)
        log(f"{name} 0 -> {args.pods}: {asdict(result.ramp)}")
        errors = distinct_lines(factory.stderr(20000))
        result.notes.append("0 -> N run, factory stderr: " + " | ".join(errors))
        finish(factory, args.pods)
    result.notes.append(
        f"factory cycle used for the random submit offsets: {cycle:.1f} s; cycles seen in the "
        f"reaction rounds: {', '.join(f'{g:.1f}' for g in gaps) or 'none'} s"
    )


# --- report -----------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f} s"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def reaction_summary(result: SystemResult) -> dict[str, Any]:
    firsts = [r.first_pod_s for r in result.rounds if r.first_pod_s is not None]
    missed = len(result.rounds) - len(firsts)
    if not firsts:
        return {"n": 0, "missed": missed}
    return {
        "n": len(firsts),
        "missed": missed,
        "median": statistics.median(firsts),
        "p90": percentile(firsts, 90),
        "min": min(firsts),
        "max": max(firsts),
        "mean": statistics.fmean(firsts),
    }


def ratio(baseline: float | None, ours: float | None) -> str:
    if baseline is None or ours is None or ours <= 0:
        return "-"
    return f"{baseline / ours:.1f}x"


def print_report(
    framework: Framework,
    ours: SystemResult | None,
    theirs: SystemResult | None,
    args: argparse.Namespace,
) -> dict[str, Any]:
    rows: list[tuple[str, str, str, str]] = []
    a = reaction_summary(ours) if ours else {}
    b = reaction_summary(theirs) if theirs else {}
    for key in ("median", "p90", "min", "max"):
        rows.append(
            (
                f"reaction, backlog -> first pod, {key}",
                fmt(a.get(key)),
                fmt(b.get(key)),
                ratio(b.get(key), a.get(key)),
            )
        )
    rows.append(
        (
            "reaction rounds (measured / missed)",
            f"{a.get('n', 0)} / {a.get('missed', 0)}",
            f"{b.get('n', 0)} / {b.get('missed', 0)}",
            "",
        )
    )
    ra = ours.ramp if ours else None
    rb = theirs.ramp if theirs else None
    n = args.pods
    for label, attr in (
        (f"0 -> {n}: first pod", "first_pod_s"),
        (f"0 -> {n}: {n} pods exist", "all_exist_s"),
        (f"0 -> {n}: {n} pods Running", "all_running_s"),
    ):
        va = getattr(ra, attr) if ra else None
        vb = getattr(rb, attr) if rb else None
        rows.append((label, fmt(va, 1), fmt(vb, 1), ratio(vb, va)))
    rows.append(
        (
            f"0 -> {n}: pods placed on the run's nodes",
            str(ra.on_bench_nodes) if ra else "-",
            str(rb.on_bench_nodes) if rb else "-",
            "",
        )
    )
    if ra and rb and ra.first_pod_s is not None and rb.first_pod_s is not None:
        sa = None if ra.all_exist_s is None else ra.all_exist_s - ra.first_pod_s
        sb = None if rb.all_exist_s is None else rb.all_exist_s - rb.first_pod_s
        rows.append((f"0 -> {n}: first pod -> {n} exist", fmt(sa, 1), fmt(sb, 1), ratio(sb, sa)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    header = (
        f"{framework} manager",
        "workqueue-operator",
        f"{FACTORIES[framework]} -T k8s",
        "factory/operator",
    )
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    line = "  ".join("-" * w for w in widths)
    print()
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print()
    for result in (ours, theirs):
        if result and result.ramp:
            timeline = ", ".join(f"{k}s:{v}" for k, v in result.ramp.exist_at.items())
            print(f"{result.name} pods existing after: {timeline}")
            print(f"{result.name} pod images: {result.ramp.images}")
    targets: dict[str, bool | None] = {}
    if a.get("median") is not None:
        targets["median reaction <= 1 s"] = a["median"] <= 1.0
    if ra and ra.all_exist_s is not None:
        targets[f"0 -> {n} pods <= 30 s"] = ra.all_exist_s <= 30.0
        if rb and rb.all_exist_s is not None:
            targets[f"0 -> {n} >= 10x faster than the factory"] = (
                rb.all_exist_s >= 10 * ra.all_exist_s
            )
        else:
            targets[f"0 -> {n} >= 10x faster than the factory"] = None
    print()
    for target, met in targets.items():
        verdict = "met" if met else "NOT met" if met is not None else "no baseline"
        print(f"target ({framework}) {target}: {verdict}")
    for result in (ours, theirs):
        for note in result.notes if result else []:
            print(f"note ({result.name if result else ''}): {note}")
    return {"reaction": {"operator": a, "factory": b}, "targets": targets}


def machine_note() -> dict[str, Any]:
    def version(command: list[str]) -> str:
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)
        except OSError as error:
            return str(error)
        return (
            (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else ""
        )

    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        **{name: version([str(cctools_bin() / name), "--version"]) for name in FACTORIES.values()},
    }


# --- main -------------------------------------------------------------------------------------


class StopRequestedError(Exception):
    """SIGTERM or the --deadline alarm."""


def on_signal(signum: int, _frame: FrameType | None) -> None:
    raise StopRequestedError(f"signal {signum}")


def later(stack: contextlib.ExitStack, action: Callable[[], object]) -> None:
    """Run ``action`` when ``stack`` closes (last registered first); a failing one is
    reported and does not stop the others."""

    def run() -> None:
        signal.alarm(0)  # the cleanup itself is not cut short by the deadline
        try:
            action()
        except Exception as error:
            print(f"cleanup step failed: {error!r}", file=sys.stderr)

    stack.callback(run)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--pods", type=int, default=1000, help="N of the 0 -> N ramp")
    parser.add_argument("--rounds", type=int, default=10, help="reaction rounds (operator)")
    parser.add_argument(
        "--factory-rounds",
        type=int,
        default=None,
        help="reaction rounds of each factory (default: --rounds)",
    )
    parser.add_argument("--tasks", type=int, default=5, help="tasks per reaction round")
    parser.add_argument(
        "--poll-interval",
        type=int,
        default=1,
        help="the pool's autoscale.pollIntervalSeconds (1 is the CRD minimum)",
    )
    parser.add_argument("--ramp-timeout", type=float, default=900, help="seconds per 0 -> N run")
    parser.add_argument("--factory-kubectl-concurrency", type=int, default=16)
    parser.add_argument(
        "--operator-pythonpath",
        type=Path,
        default=None,
        help="run the operator from a directory holding a (patched) workqueue_operator package",
    )
    parser.add_argument("--skip-factory", action="store_true", help="operator figures only")
    parser.add_argument("--skip-operator", action="store_true", help="factory figures only")
    parser.add_argument("--skip-workqueue", action="store_true", help="TaskVine only")
    parser.add_argument("--skip-taskvine", action="store_true", help="Work Queue only")
    parser.add_argument(
        "--skip-as-shipped",
        action="store_true",
        help="do not check the factories as CCTools builds them",
    )
    parser.add_argument("--skip-ramp", action="store_true", help="reaction rounds only")
    parser.add_argument("--seed", type=int, default=0, help="of the random submit offsets")
    parser.add_argument("--deadline", type=float, default=5400, help="whole run, seconds")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = parser.parse_args(argv)
    if args.factory_rounds is None:
        args.factory_rounds = args.rounds
    return args


@dataclass
class FrameworkRun:
    """One framework's systems and what the report made of them."""

    framework: Framework
    operator: SystemResult | None
    factory: SystemResult | None
    summary: dict[str, Any] = field(default_factory=dict)


def run_framework(
    kube: Kube,
    run: FrameworkRun,
    *,
    args: argparse.Namespace,
    run_id: str,
    work: Path,
    rng: random.Random,
) -> None:
    """The operator, then the factory, against one manager of ``run.framework``."""
    with contextlib.ExitStack() as stack:
        manager = TestManager(
            framework=run.framework, workdir=work / f"manager-{SLUGS[run.framework]}"
        )
        later(stack, manager.shutdown)
        log(f"{run.framework} manager on 127.0.0.1:{manager.port}")
        bench = Bench(kube, manager, args, run_id, work, rng)
        if run.operator is not None:
            run_operator(bench, run.operator)
        if run.factory is not None:
            run_factory(bench, run.factory)


def prepare_run(deadline: float) -> None:
    """Before a bench starts anything: the CCTools build first on PATH, SIGTERM and the
    ``deadline`` alarm raising StopRequestedError; exit when CCTools is missing or an operator
    watching every namespace runs (it would scale the run's pools too)."""
    problem = missing_cctools()
    if problem is not None:
        sys.exit(problem)
    use_cctools_build()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.alarm(int(deadline))
    others = cluster_wide_operators()
    if others:
        sys.exit(
            "an operator watching every namespace runs; it would scale this run's pool "
            "too:\n" + "\n".join(others)
        )


def finish_run(work: Path, *, ok: bool, keep: bool) -> int:
    """Remove the work dir of a run that succeeded (unless ``keep``), else say where its logs
    are; the exit status."""
    if ok and not keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"logs kept in {work}")
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    prepare_run(args.deadline)
    run_id = uuid.uuid4().hex[:6]
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix=f"bench-scaling-{run_id}-"))
    ok = False
    frameworks = [
        framework
        for framework, skipped in (
            (Framework.WORK_QUEUE, args.skip_workqueue),
            (Framework.TASKVINE, args.skip_taskvine),
        )
        if not skipped
    ]
    runs = [
        FrameworkRun(
            framework,
            None if args.skip_operator else SystemResult("workqueue-operator"),
            None if args.skip_factory else SystemResult(f"{FACTORIES[framework]} -T k8s"),
        )
        for framework in frameworks
    ]
    machine = machine_note()
    log(f"run {run_id}, work dir {work}; {machine}")
    try:
        with contextlib.ExitStack() as stack:
            log("cluster: e2e/cluster/up.sh")
            cluster = start_cluster()
            kube = kube_clients(cluster)
            cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
            count = max(1, math.ceil(args.pods * 1.2 / PODS_PER_NODE))
            later(stack, lambda: delete_nodes(kube, run_id))
            nodes = create_nodes(kube, run_id, count)
            log(f"nodes {', '.join(nodes)} Ready")
            for run in runs:
                run_framework(kube, run, args=args, run_id=run_id, work=work, rng=rng)
        ok = True
    except (Exception, KeyboardInterrupt, StopRequestedError) as error:
        print(f"\nbench failed: {error!r}", file=sys.stderr)
    finally:
        signal.alarm(0)
    machine["load_average_end"] = os.getloadavg()
    for run in runs:
        run.summary = print_report(run.framework, run.operator, run.factory, args)
    print(f"\nmachine: {machine}")
    if args.json is not None:
        document: dict[str, Any] = {
            "machine": machine,
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        }
        for run in runs:
            document[str(run.framework)] = {
                "operator": asdict(run.operator) if run.operator else None,
                "factory": asdict(run.factory) if run.factory else None,
                "summary": run.summary,
            }
        args.json.write_text(json.dumps(document, indent=2, default=str))
    return finish_run(work, ok=ok, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
