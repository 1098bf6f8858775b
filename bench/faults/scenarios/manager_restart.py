"""manager-restart: an InCluster manager's pod deleted mid-run, on the shared cluster's real node
(in a namespace of its own; the cluster and the node are never stopped). The operator runs in a
pod there too (its Helm chart, namespaced), since only a pod resolves the manager's Service
name. The manager is an application with no state outside its pod: its Deployment's new pod
runs it again, and it submits its whole workflow again.

Every figure comes from the manager's own records (each life's output: every task it got back,
with the worker pod that ran it; its ``worker_status``, polled at the pod's address) and from
the apiserver (the worker pods, the WorkQueueManager's conditions and Events). Expect: the pool
deletes no worker while the manager is away, the workers connect to the new manager, the new
life finishes every task, and the status and Events say the manager was unreachable and is
back."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cctools.manager import free_port
from tests.e2e.realnode import (
    NODE_NAME,
    REAL_NODE_PLACEMENT,
    node_operator_chart_flags,
    registry_image,
)
from tests.harness import REPO, Cluster, json_lines
from tests.unit.test_helm_chart import helm_binary

from faults.bed import MANAGER, POOL, Bed, bed, log
from faults.context import RunContext
from faults.outcome import Row, begin, deleted_by_others, end, not_owned
from faults.podlog import PodLog
from faults.roster import WorkerRoster
from workqueue_operator.api.common import Framework

NAME = "manager-restart"
PORT = 9123
MANAGER_SELECTOR = f"workqueue.dev/manager={MANAGER}"

# The application: the ndcctools API of the framework and the port the operator gives it in
# its environment; one JSON line a returned task (its key and the worker pod that ran it). It
# keeps nothing outside its pod, exits on SIGTERM (as PID 1 it would otherwise ignore it for the
# pod's grace period) and takes ``start_s`` seconds before it listens.
PROGRAM = """
import json, os, signal, socket, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
tasks, seconds, start_s = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
life = socket.gethostname()
time.sleep(start_s)
port = int(os.environ["WORKQUEUE_PORT"])
if os.environ["WORKQUEUE_FRAMEWORK"] == "TaskVine":
    import ndcctools.taskvine as api
    m = api.Manager(port=port, run_info_path=os.environ["WORKQUEUE_RUN_INFO_PATH"])
    set_cores, good = "set_cores", lambda t: bool(t.successful())
else:
    import ndcctools.work_queue as api
    m = api.WorkQueue(port=port)
    set_cores, good = "specify_cores", lambda t: t.result == 0 and t.return_status == 0
print(json.dumps({"event": "listening", "life": life}), flush=True)
for i in range(tasks):
    t = api.Task(f"sleep {seconds}; echo task-{i} $(hostname)")
    getattr(t, set_cores)(1)
    m.submit(t)
ok = 0
while not m.empty():
    t = m.wait(5)
    if t:
        ok += int(good(t))
        out = (t.output or "").split()
        print(json.dumps({"event": "done", "life": life, "ok": good(t), "out": out}), flush=True)
print(json.dumps({"event": "all_done", "life": life, "ok": ok}), flush=True)
while True:
    m.wait(5)
"""


@dataclass(frozen=True)
class Size:
    tasks: int = 30
    pool: int = 2
    """Worker pods of one core: the real node has 2 cores, shared with other tests."""
    task_s: float = 4.0
    start_s: float = 20.0
    """The application's start before it listens (loading its inputs, say): while the new
    pod starts, the manager is unreachable this long at least."""
    kill_after: int = 10
    """The manager's pod is deleted once its first life has got this many tasks back."""
    timeout_s: float = 900.0


QUICK = Size(tasks=6, pool=1, task_s=3.0, start_s=10.0, kill_after=2, timeout_s=240.0)
"""Its task waits time out well inside the test's own limit (tests/e2e/test_chaos_quick.py), so
that a stuck run fails with the scenario's account of where it stands."""


def manifests(framework: Framework, size: Size) -> str:
    manager = {
        "apiVersion": "workqueue.dev/v1alpha1",
        "kind": "WorkQueueManager",
        "metadata": {"name": MANAGER},
        "spec": {
            "mode": "InCluster",
            "framework": str(framework),
            "image": registry_image("manager"),
            "command": ["python3", "-c", PROGRAM],
            "args": [str(size.tasks), f"{size.task_s:g}", f"{size.start_s:g}"],
            "port": PORT,
            "pollIntervalSeconds": 1,
            "resources": {"cpu": "100m", "memory": "256Mi"},
            "template": REAL_NODE_PLACEMENT,
        },
    }
    pool = {
        "apiVersion": "workqueue.dev/v1alpha1",
        "kind": "WorkerPool",
        "metadata": {"name": POOL},
        "spec": {
            "managerRef": {"name": MANAGER},
            "image": registry_image("worker"),
            "minWorkers": 0,
            "maxWorkers": size.pool,
            "worker": {"cores": 1, "memory": "256Mi", "disk": "1Gi"},
            "autoscale": {"pollIntervalSeconds": 1, "idleDelaySeconds": 5, "cooldownSeconds": 2},
            "template": REAL_NODE_PLACEMENT,
        },
    }
    return json.dumps(manager) + "\n---\n" + json.dumps(pool)


def done_records(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of returned tasks."""
    return [line for line in lines if line.get("event") == "done"]


class ManagerLives:
    """Each manager pod's output, followed (``kubectl logs -f``) from when it runs until it
    ends: a deleted pod's log is gone from the apiserver, so it is kept here."""

    def __init__(self, cluster: Cluster, namespace: str, directory: Path) -> None:
        self.cluster, self.namespace, self.directory = cluster, namespace, directory
        self.pods = PodLog(cluster.kubeconfig, namespace, MANAGER_SELECTOR)
        self.order: list[str] = []
        self.ips: dict[str, str] = {}
        self._followers: dict[str, subprocess.Popen[bytes]] = {}

    def follow_new(self) -> None:
        for name, pod in self.pods.counts().objects.items():
            status = pod.get("status") or {}
            if name in self.ips or status.get("phase") != "Running" or not status.get("podIP"):
                continue
            self.ips[name] = str(status["podIP"])
            self.order.append(name)
            with (self.directory / f"manager-{name}.log").open("wb") as out:
                self._followers[name] = subprocess.Popen(
                    [
                        *(str(self.cluster.bin_dir / "kubectl"), "logs", "-f", name),
                        *("-c", "manager", "-n", self.namespace),
                    ],
                    env=self.cluster.env,
                    stdout=out,
                    stderr=subprocess.DEVNULL,
                )

    def lines(self, name: str) -> list[dict[str, Any]]:
        path = self.directory / f"manager-{name}.log"
        return json_lines(path.read_text(errors="replace") if path.exists() else "")

    def returned(self, name: str) -> list[dict[str, Any]]:
        return done_records(self.lines(name))

    def done(self, name: str) -> bool:
        return any(line.get("event") == "all_done" for line in self.lines(name))

    def explain(self, name: str) -> str:
        """Where a life stands, for a wait that timed out: what its follower saw against what
        the pod's log holds now (a follower that stopped early shows as fewer tasks)."""
        follower = self._followers.get(name)
        code = None if follower is None else follower.poll()
        state = "none" if follower is None else "running" if code is None else f"exited {code}"
        now = self.cluster.kubectl(
            "logs", name, "-c", "manager", namespace=self.namespace, check=False
        )
        return (
            f"life {name}: {len(self.returned(name))} tasks back as followed (follower: {state}), "
            f"{len(done_records(json_lines(now.stdout)))} in the pod's log now"
        )

    def stop(self) -> None:
        for process in self._followers.values():
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)


def install_operator(b: Bed, helm: Path, directory: Path) -> None:
    """The operator's Helm chart in the scenario's namespace (namespaced, on the node's
    network), its image as the node's registry holds it. Its release is named after the
    namespace: the chart's namespaced mode makes a ClusterRole named after the release, and
    other checkouts' tests install theirs as "wq"."""
    release = "chaos-" + b.namespace.rsplit("-", 1)[-1]
    env = b.cluster.env | {
        f"HELM_{part}_HOME": str(directory / f"helm-{part.lower()}")
        for part in ("CACHE", "CONFIG", "DATA")
    }

    def helm_run(*words: str, check: bool = True) -> None:
        done = subprocess.run(
            [str(helm), *words], env=env, capture_output=True, text=True, timeout=300, check=False
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"helm {words[0]}: {done.stdout[-1500:]}{done.stderr[-1500:]}")

    # First, so that an install that fails half-way is taken away too.
    b.stack.callback(helm_run, "uninstall", release, "-n", b.namespace, check=False)
    helm_run(
        "install",
        release,
        str(REPO / "helm" / "workqueue-operator"),
        "-n",
        b.namespace,
        "--wait",
        "--timeout=4m",
        "--skip-crds",
        *node_operator_chart_flags(
            registry_image("operator"), metrics_port=free_port(), health_port=free_port()
        ),
    )


def reachable(b: Bed) -> dict[str, Any]:
    manager = b.cluster.get("wqm", MANAGER, b.namespace) or {}
    found = [c for c in manager.get("status", {}).get("conditions", []) if c["type"] == "Reachable"]
    return found[0] if found else {}


def node_ready(cluster: Cluster) -> bool:
    node = cluster.get("node", NODE_NAME, "") or {}
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in node.get("status", {}).get("conditions", [])
    )


def run(context: RunContext, framework: Framework, size: Size) -> Row:
    row, started = begin(NAME, str(framework))
    cluster = context.shared_cluster()
    helm = helm_binary()
    if helm is None:
        raise RuntimeError("no helm: run `bash e2e/cluster/build.sh` (builds it into the cache)")
    if not node_ready(cluster):
        raise RuntimeError(f"the real node {NODE_NAME} is not Ready (e2e/node/up.sh)")
    with bed(cluster, "mgrrestart", framework, context.workdir, keep=context.keep) as b:
        install_operator(b, helm, b.workdir)
        workers = b.start_pod_log()
        lives = ManagerLives(cluster, b.namespace, b.workdir)
        b.stack.enter_context(lives.pods)
        b.stack.callback(lives.stop)
        rosters: list[WorkerRoster] = []

        def stop_rosters() -> None:
            for roster in rosters:
                roster.stop()

        b.stack.callback(stop_rosters)
        b.apply(manifests(framework, size))
        log(f"{NAME} {framework}: {size.tasks} tasks, pool {size.pool}, on {NODE_NAME}")

        def life(index: int) -> str | None:
            lives.follow_new()
            return lives.order[index] if len(lives.order) > index else None

        pool_said: list[str] = []
        """The pool's desiredReason, as it changed between the deletion and the return."""

        def following(probe: Callable[[], Any]) -> Callable[[], Any]:
            def probed() -> Any:
                lives.follow_new()
                reason = str(b.pool_status().get("desiredReason", ""))
                if not pool_said or pool_said[-1] != reason:
                    pool_said.append(reason)
                return probe()

            return probed

        first = b.wait(lambda: life(0), 300, "the manager's pod running")
        rosters.append(WorkerRoster(f"{lives.ips[first]}:{PORT}", framework).start())
        b.wait(
            lambda: len(lives.returned(first)) >= size.kill_after,
            size.timeout_s,
            f"{size.kill_after} tasks back in the manager's first life",
        )
        held = {life.name for life in workers.snapshot() if life.deleted is None}
        log(f"{NAME} {framework}: deleting the manager's pod {first} ({len(held)} workers)")
        deleted_at = time.time()
        cluster.kubectl("delete", "pod", first, "--wait=false", namespace=b.namespace)
        unreachable = b.wait(
            following(lambda: (c := reachable(b)).get("status") == "False" and c),
            120,
            "the manager Unreachable in its status",
        )
        second = b.wait(following(lambda: life(1)), 300, "the manager's new pod running")
        rosters.append(WorkerRoster(f"{lives.ips[second]}:{PORT}", framework).start())
        back = b.wait(
            following(lambda: (c := reachable(b)).get("status") == "True" and c),
            120,
            "the manager Reachable again",
        )
        back_at = time.time()

        def old_worker_back() -> float | None:
            hosts = set(rosters[-1].hosts().values())
            return time.time() if hosts & held else None

        reconnected = b.wait(old_worker_back, 300, "a worker of the first life connected again")

        def where_the_new_life_stands() -> str:
            # The account lists every pod with its last log lines (the manager's included).
            status = b.pool_status()
            return (
                f"{lives.explain(second)}; the new manager's workers (hostname: busy): "
                f"{rosters[-1].latest()}; the pool: {status.get('desiredReplicas')} desired, "
                f"{status.get('desiredReason')!r}\n" + b.cluster.namespace_account(b.namespace)
            )

        b.wait(
            lambda: lives.done(second),
            size.timeout_s,
            "the new life's tasks all returned",
            explain=where_the_new_life_stands,
        )
        b.wait(lambda: workers.live_count() == 0, 300, "the pool back at 0 pods")
        pods = workers.snapshot()
        events = b.events(MANAGER)

        results1, results2 = lives.returned(first), lives.returned(second)
        keys1 = {r["out"][0] for r in results1 if r["ok"] and r["out"]}
        keys2 = {r["out"][0] for r in results2 if r["ok"] and r["out"]}
        row.faults = "manager pod deleted once"
        row.submitted = size.tasks
        row.finished = len(keys2)
        row.lost = size.tasks - len(keys2)
        twice = keys1 & keys2
        row.run_twice = len(twice)
        row.by_design = len(twice)  # the application's rerun: it keeps nothing across pods
        row.returned_twice = len(results2) - len({r["out"][0] for r in results2 if r["out"]})
        by_operator = deleted_by_others(pods, set())
        during = [p for p in by_operator if p.deleted is not None and p.deleted < back_at]
        busy = [
            p.name
            for p in by_operator
            for roster in rosters
            if p.deleted is not None
            and (seen := roster.last_busy(p.name)) is not None
            and seen >= p.deleted - 1.0
        ]
        row.busy_deleted = len(set(busy))
        peak = workers.peak()
        row.duplicate_pods = max(0, peak - size.pool)
        row.orphan_pods = len(not_owned(pods, b.pool_uid())) + workers.live_count()
        row.converge_s = round(reconnected - deleted_at, 1)
        reasons = [(e.get("type"), e.get("reason")) for e in events]
        connected_again = sorted(set(rosters[-1].hosts().values()) & held)
        row.notes += [
            f"first life {first}: {len(results1)} tasks back before its pod was deleted; new "
            f"life {second}: {len(results2)} back, {len(keys2)} distinct ok",
            f"Reachable False {unreachable.get('reason')}: {unreachable.get('message', '')[:120]}",
            "the pool while the manager was away: "
            + " | ".join(r for r in pool_said if "unreachable" in r.lower())[:300],
            f"Reachable True again {back_at - deleted_at:.1f} s after the deletion; "
            f"{len(connected_again)} of {len(held)} workers of the first life connected to the "
            f"new one (first {reconnected - deleted_at:.1f} s after); {len(during)} worker pods "
            f"deleted by the operator before the manager was back, {len(by_operator)} in all",
            f"manager Events: {reasons}",
        ]
        row.check("no task lost", row.lost == 0)
        row.check("the pool held its workers while unreachable", not during)
        row.check("the pool said it held", any("unreachable" in r.lower() for r in pool_said))
        row.check("workers connected to the new manager", bool(connected_again))
        row.check(
            "status said so",
            unreachable.get("reason") == "Unreachable" and back.get("status") == "True",
        )
        row.check(
            "Events said so",
            ("Warning", "Unreachable") in reasons and ("Normal", "StatusAnswered") in reasons,
        )
        row.check("no busy worker deleted", row.busy_deleted == 0)
        row.check("no duplicate or orphan pod", row.duplicate_pods == 0 and row.orphan_pods == 0)
    return end(row, started)
