"""The latency a user feels: a backlog appears in an idle manager -> its first task *running* on a
new worker pod, on the real node (``e2e/node/``: a kubelet + containerd, the worker image already
on the node), for Work Queue and TaskVine (CCTools 7.17.1), against ``work_queue_factory -T k8s``
in the same run.

Each round: a pool at 0 pods (``minWorkers: 0``, ``maxWorkers: 1``, the autoscaler's poll at its 1
s minimum unless ``--poll-interval`` says otherwise) for an External WorkQueueManager pointing at a
real manager in a process of the bench (``tests/cctools/manager.py``; pods reach it at the node's
address, as the real-node e2e tests do), the operator as its own process (``workqueue-operator run
--namespace NS --log-format json``). One task (``true``) is submitted at a random moment of the
operator's poll, and each milestone is taken from the most precise source there is:

* **submitted** (t0): the manager's transactions log, ``TASK id WAITING`` (Work Queue) or
  ``READY`` (TaskVine), microseconds;
* **seen**: the manager's answer to the status query of the poll that decided (the last query
  from the node's address before **decided**): Work Queue writes one ``WORKER (null) ADDR
  DISCONNECTION STATUS_WORKER`` transactions line per query (microseconds), TaskVine one ``rx
  from unknown (ADDR): QUERY`` debug line (hundredths of a second). t0 -> seen is the wait for
  the poll;
* **decided**: the operator's JSON log line ``scaled: ...`` (its timestamp, microseconds), written
  once the apiserver has answered the pod's POST (so it may follow the pod's ADDED event by a
  few ms); for the factory, its debug line ``worker job N submitted`` (hundredths of a second);
* **pod created**: arrival of the pod's ADDED event on a watch of the namespace;
* **scheduled**: arrival of the first event with ``spec.nodeName`` / ``PodScheduled=True``;
* **container running**: arrival of the first event whose container state is ``running``
  (the kubelet reports it after its PLEG relist, so it may come after the worker connected);
* **worker connected**: ``WORKER id ... CONNECTION`` in the transactions log;
* **task running**: ``TASK id RUNNING`` in the transactions log.

Between rounds the pool goes back to 0 by itself (``idleDelaySeconds: 2``); the bench waits for
the pod to be gone, the manager to count no worker, and a free CPU on the node (other tests
share it). A first, uncounted round pulls the worker image onto the node if it is missing and
warms the operator.

The factory rounds run ``work_queue_factory -T k8s`` (7.17.1) against a manager of its own with
``--k8s-image`` set to the same worker image, with the shim that ``bench/bench_scaling.py``
documents (its embedded script run by bash instead of dash, and the real node's nodeSelector and
toleration added to its pod JSON; nothing else). ``--factory-kubectl-shim`` adds rounds with one
more shim: a ``kubectl`` first on the factory's PATH that drops ``--show-all`` and runs the real
kubectl (the flag was defaulted to true and deprecated in kubectl 1.10, inert since 1.11, and
removed in 1.14: kubernetes/kubernetes#60210; dropping it changes no output). ``vine_factory`` is
probed once: ``--k8s-image`` and the other ways it declares.

    .venv/bin/python bench/bench_first_task.py [--rounds 10] [--frameworks WorkQueue,TaskVine]
        [--poll-interval 1] [--skip-factory] [--skip-operator] [--factory-rounds N]
        [--factory-kubectl-shim N] [--json out.json] [--keep]

Needs the local control plane and the real node up (``make node-up``; nothing is started or
stopped here) and the CCTools 7.17.1 build. Namespaces, processes and pods it made are removed at
the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the test harness's helpers (tests.*) are reused here

from bench.bench_scaling import (  # noqa: E402
    FACTORY_CYCLE_GUESS_S,
    POOL,
    Bench,
    FactoryProcess,
    Kube,
    PodWatch,
    create_namespace,
    delete_pods,
    distinct_lines,
    drain,
    factory_kubeconfig,
    finish_run,
    kube_clients,
    later,
    load_average,
    log,
    machine_note,
    percentile,
    prepare_run,
    probe_image_options,
    remove_namespace,
    submit_backlog,
    wait_until,
)
from tests.cctools.catalog import CatalogServer, running_catalog  # noqa: E402
from tests.cctools.manager import TestManager  # noqa: E402
from tests.e2e.operator_process import OperatorProcess  # noqa: E402
from tests.e2e.realnode import (  # noqa: E402
    NODE_IP,
    NODE_NAME,
    REAL_NODE_PLACEMENT,
    external_manager,
    free_cpu_millicores,
    registry_image,
)
from tests.e2e.test_real_node import real_node_pool  # noqa: E402
from tests.harness import running_cluster  # noqa: E402

from workqueue_operator.api.common import Framework  # noqa: E402

MILESTONES = (
    "seen",
    "decided",
    "pod created",
    "scheduled",
    "sandbox asked",
    "sandbox ready",
    "container started",
    "worker connected",
    "task running",
)
"""After t0 (the task submitted), in the order they happen; each stage is the time since the
one before."""
REPORTED = ("status running",)
"""Also after t0, outside the chain: when the watch showed the container running, as the
kubelet reports it (after its PLEG relist), possibly after the worker connected."""
CONTAINERD_LINE = re.compile(
    r'^time="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z" level=\w+ msg="(.*)$'
)
SLUGS = {Framework.WORK_QUEUE: "wq", Framework.TASKVINE: "vine"}
WORKER_CPU_MILLICORES = 1000
ROUND_TIMEOUT_S = 180.0
SCALED = re.compile(r"^scaled: ")
KUBECTL_SHIM = """#!/bin/bash
# Written by bench/bench_first_task.py: drop kubectl's removed --show-all flag, run kubectl.
args=()
for a in "$@"; do [ "$a" = --show-all ] || args+=("$a"); done
exec {kubectl} "${{args[@]}}"
"""


# --- what one round saw -----------------------------------------------------------------------


@dataclass
class PodTimes:
    """Wall-clock arrival times of one pod's watch events (seconds since the epoch)."""

    name: str
    added: float
    scheduled: float | None = None
    running: float | None = None
    started_at: str | None = None
    image: str = ""
    waiting: str = ""
    """The container's last waiting reason and message (e.g. an image that cannot be pulled)."""


@dataclass
class RoundResult:
    t0: float | None = None
    pod: str = ""
    offsets: dict[str, float | None] = field(default_factory=dict)
    """Each milestone's time after t0 (s); None: not reached."""
    notes: list[str] = field(default_factory=list)


@dataclass
class SystemRuns:
    name: str
    planned: int
    framework: Framework = Framework.WORK_QUEUE
    rounds: list[RoundResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class StageWatch(PodWatch):
    """``PodWatch`` (bench_scaling) that also keeps, per pod created since ``reset``, the
    arrival time of its ADDED event, of the first event showing it scheduled and of the first
    showing its container running."""

    def __init__(self, core: Any, namespace: str) -> None:
        super().__init__(core, namespace)
        self.pods: dict[str, PodTimes] = {}

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.pods.clear()

    def _record(self, kind: str, obj: dict[str, Any], received: float) -> None:
        wall = time.time()
        super()._record(kind, obj, received)
        if kind == "DELETED":
            return
        name = obj["metadata"]["name"]
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        with self._lock:
            times = self.pods.get(name)
            if times is None:
                if kind != "ADDED":
                    return  # a pod from before the reset
                images = [c.get("image", "") for c in spec.get("containers") or []]
                times = self.pods[name] = PodTimes(name, wall, image=",".join(images))
            conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
            if times.scheduled is None and (
                spec.get("nodeName") or conditions.get("PodScheduled") == "True"
            ):
                times.scheduled = wall
            for container in status.get("containerStatuses") or []:
                state = container.get("state") or {}
                if state.get("running") and times.running is None:
                    times.running = wall
                    times.started_at = state["running"].get("startedAt")
                    times.waiting = ""
                if state.get("waiting"):
                    waiting = state["waiting"]
                    times.waiting = f"{waiting.get('reason')}: {waiting.get('message', '')}"

    def first_pod(self, timeout: float) -> PodTimes | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.pods:
                    return min(self.pods.values(), key=lambda p: p.added)
            time.sleep(0.02)
        return None

    def wait_pod(
        self, pod: PodTimes, reached: Callable[[PodTimes], object], timeout: float
    ) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if reached(pod):
                    return True
            time.sleep(0.02)
        return False


# --- sources of the milestones ----------------------------------------------------------------


def transactions_after(log_path: Path, since: float) -> list[tuple[float, list[str]]]:
    """(time in s, words after the pid) of the log's lines written at or after ``since``."""
    found = []
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("#"):
            continue
        words = line.split()
        if len(words) < 3 or not words[0].isdigit():
            continue
        at = int(words[0]) / 1e6
        if at >= since:
            found.append((at, words[2:]))
    return found


def manager_milestones(log_path: Path, since: float) -> dict[str, float | None]:
    """submitted (first task queued after ``since``), its worker's connection, its RUNNING."""
    lines = transactions_after(log_path, since)
    submitted = task_id = None
    for at, words in lines:
        if words[0] == "TASK" and words[2] in ("WAITING", "READY"):
            submitted, task_id = at, words[1]
            break
    connected = running = None
    if submitted is not None:
        for at, words in lines:
            if connected is None and words[0] == "WORKER" and "CONNECTION" in words[2:4]:
                connected = at
            if words[:3] == ["TASK", task_id, "RUNNING"]:
                running = at
                break
    return {"submitted": submitted, "worker connected": connected, "task running": running}


VINE_STATUS_QUERY = re.compile(
    r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) vine_manager\[\d+\]vine: "
    r"rx from unknown \(([\d.]+):\d+\): (\S+)"
)


def status_queries(manager: TestManager, since: float) -> list[float]:
    """When the manager answered a status query from the node's address (the operator's or
    the factory's poll; the bench's own queries come from 127.0.0.1) at or after ``since``.
    Work Queue: its transactions log (``WORKER (null) ADDR DISCONNECTION STATUS_WORKER``,
    microseconds, written when the query is answered); TaskVine: its debug log (``rx from
    unknown (ADDR): QUERY``, hundredths of a second)."""
    found = []
    if manager.framework is Framework.WORK_QUEUE:
        assert manager.transactions_log is not None
        for at, words in transactions_after(manager.transactions_log, since):
            ours = words[:2] == ["WORKER", "(null)"] and words[2].startswith(f"{NODE_IP}:")
            if ours and "STATUS_WORKER" in words:
                found.append(at)
        return found
    assert manager.logs_dir is not None
    for line in (manager.logs_dir / "debug").read_text(errors="replace").splitlines():
        match = VINE_STATUS_QUERY.match(line)
        if match and match.group(2) == NODE_IP:
            at = datetime.strptime(match.group(1), "%Y/%m/%d %H:%M:%S.%f").timestamp()
            if at >= since:
                found.append(at)
    return found


def seen_before(manager: TestManager, t0: float | None, decided: float | None) -> float | None:
    """The status query of the poll that decided: the last one from the node's address (see
    status_queries) between t0 and ``decided``. The manager object's own poll queries too, so
    the first query after t0 need not be the pool's. Factory debug times are cut to 10 ms, so
    a query up to 10 ms after ``decided`` counts too."""
    if t0 is None or decided is None:
        return None
    queries = [t for t in status_queries(manager, t0) if t <= decided + 0.01]
    return max(queries) if queries else None


def scaled_times(log_path: Path) -> list[float]:
    """Timestamps of the operator's ``scaled: ...`` lines (its JSON log)."""
    found = []
    for line in log_path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            record = json.loads(line)
            if SCALED.match(str(record.get("message", ""))):
                found.append(datetime.fromisoformat(record["timestamp"]).timestamp())
    return found


FACTORY_DEBUG_TIME = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) ")


def factory_decision(debug_log: Path, since: float) -> tuple[float | None, str]:
    """The first line of the factory's debug log after ``since`` that submits a job."""
    for line in debug_log.read_text(errors="replace").splitlines():
        match = FACTORY_DEBUG_TIME.match(line)
        if not match:
            continue
        at = datetime.strptime(match.group(1), "%Y/%m/%d %H:%M:%S.%f").timestamp()
        lowered = line.lower()
        if at >= since and ("submit" in lowered or "k8s" in lowered) and "job" in lowered:
            return at, line[match.end() :].strip()
    return None, ""


# --- one round --------------------------------------------------------------------------------


def wait_capacity(context: RunContext) -> None:
    """A free CPU on the real node for the worker pod (other tests share the node)."""
    wait_until(
        lambda: free_cpu_millicores(context.kube.cluster) >= WORKER_CPU_MILLICORES,
        timeout=600,
        interval=2,
        what=f"{WORKER_CPU_MILLICORES}m of free CPU on {NODE_NAME}",
    )


def wait_idle(context: RunContext, manager: TestManager, watch: StageWatch) -> None:
    """No pod in the namespace and no worker on the manager."""
    wait_until(lambda: watch.live() == 0, timeout=180, interval=0.1, what="no pod left")
    wait_until(
        lambda: manager.stats().get("workers_connected", 0) == 0,
        timeout=60,
        interval=0.5,
        what="the manager to count no worker",
    )


def offsets(milestones: dict[str, float | None]) -> dict[str, float | None]:
    t0 = milestones.get("submitted")
    return {
        name: None if t0 is None or milestones.get(name) is None else milestones[name] - t0  # type: ignore[operator]
        for name in (*MILESTONES, *REPORTED)
    }


def pod_milestones(pod: PodTimes | None) -> dict[str, float | None]:
    if pod is None:
        return {}
    return {"pod created": pod.added, "scheduled": pod.scheduled, "status running": pod.running}


def containerd_size(log_path: Path) -> int:
    try:
        return log_path.stat().st_size
    except OSError:
        return 0


def containerd_milestones(
    log_path: Path, offset: int, namespace: str, pod: str | None
) -> dict[str, float | None]:
    """From the node's containerd log (written after ``offset``): when the kubelet asked for the
    pod's sandbox (``RunPodSandbox for``), when it was ready (``... returns sandbox id``), and
    when its container had started (``StartContainer ... returns successfully``); nanoseconds,
    the host's clock."""
    found: dict[str, float | None] = {}
    if pod is None:
        return found
    try:
        with log_path.open("rb") as log_file:
            log_file.seek(offset)
            text = log_file.read().decode(errors="replace")
    except OSError:
        return found
    sandbox = container = None
    for line in text.splitlines():
        match = CONTAINERD_LINE.match(line)
        if not match:
            continue
        fraction = (match.group(2) or ".0")[:7]
        at = datetime.fromisoformat(f"{match.group(1)}{fraction}+00:00").timestamp()
        message = match.group(3)
        if f"Name:{pod}," in message and f"Namespace:{namespace}," in message:
            if "returns sandbox id" in message:
                found["sandbox ready"] = at
                sandbox = message.rsplit('\\"', 2)[-2]
            elif message.startswith("RunPodSandbox for"):
                found["sandbox asked"] = at
        elif (
            sandbox and f'sandbox \\"{sandbox}\\"' in message and "returns container id" in message
        ):
            container = message.rsplit('\\"', 2)[-2]
        elif container and f'StartContainer for \\"{container}\\" returns successfully' in message:
            found["container started"] = at
    return found


def describe(result: RoundResult) -> str:
    return ", ".join(
        f"{name} {'-' if value is None else f'{value:.2f}'}"
        for name, value in result.offsets.items()
    )


@dataclass
class RunContext:
    kube: Kube
    args: argparse.Namespace
    run_id: str
    work: Path
    rng: random.Random
    image: str
    containerd_log: Path


def operator_rounds(
    context: RunContext, framework: Framework, runs: SystemRuns, stack: contextlib.ExitStack
) -> None:
    kube, args, work = context.kube, context.args, context.work
    slug = SLUGS[framework]
    manager = TestManager(
        framework=framework,
        workdir=work / f"manager-op-{slug}",
        transactions_log=work / f"manager-op-{slug}.transactions"
        if framework is Framework.WORK_QUEUE
        else None,
    )
    later(stack, manager.shutdown)
    transactions = manager.transactions_log
    assert transactions is not None
    namespace = f"bench-first-{context.run_id}-op-{slug}"
    create_namespace(kube, namespace)
    later(stack, lambda: remove_namespace(kube, namespace, pool_objects=True))
    watch = StageWatch(kube.core, namespace)
    watch.start()
    later(stack, watch.stop)
    log_dir = work / f"operator-{slug}"
    log_dir.mkdir()
    operator = OperatorProcess(kube.cluster, namespace, log_dir, log_format="json")
    operator.start()
    later(stack, operator.stop)
    runs.notes.append(f"load average at the start: {load_average()}")
    later(stack, lambda: runs.notes.append(f"load average at the end: {load_average()}"))
    pool = real_node_pool(max_workers=1, memory="512Mi", idle_delay=2)
    pool["metadata"]["name"] = POOL
    pool["spec"]["managerRef"] = {"name": POOL}
    pool["spec"]["image"] = context.image
    pool["spec"]["autoscale"]["pollIntervalSeconds"] = args.poll_interval
    kube.cluster.apply(external_manager(manager.port, name=POOL, framework=framework), namespace)
    kube.cluster.apply(json.dumps(pool), namespace)
    log(f"operator ({framework}): manager on {NODE_IP}:{manager.port}, namespace {namespace}")
    for index in range(args.rounds + 1):
        warm_up = index == 0
        wait_idle(context, manager, watch)
        wait_capacity(context)
        watch.reset()
        since = time.time()
        log_offset = containerd_size(context.containerd_log)
        time.sleep(context.rng.uniform(0, args.poll_interval))  # a random moment of the poll
        submit_backlog(manager, 1)
        [finished] = manager.wait_for(1, timeout=ROUND_TIMEOUT_S)
        result = RoundResult()
        milestones = manager_milestones(transactions, since)
        pod = watch.first_pod(5)
        if pod is not None:  # the kubelet may report the container running after the task ran
            watch.wait_pod(pod, lambda p: p.running, 15)
        milestones |= pod_milestones(pod)
        milestones |= containerd_milestones(
            context.containerd_log, log_offset, namespace, pod.name if pod else None
        )
        t0 = milestones["submitted"]
        if t0 is not None:
            later_scaled = [t for t in scaled_times(operator.logs[-1]) if t >= t0]
            milestones["decided"] = min(later_scaled) if later_scaled else None
        milestones["seen"] = seen_before(manager, t0, milestones.get("decided"))
        result.t0, result.pod = t0, pod.name if pod else ""
        result.offsets = offsets(milestones)
        if not finished.ok:
            result.notes.append(f"task failed: {finished}")
        if not operator.running:
            raise RuntimeError(f"the operator exited:\n{operator.output()}")
        label = "warm-up" if warm_up else f"{index}/{args.rounds}"
        log(f"operator ({framework}) round {label}: {describe(result)}")
        if not warm_up:
            runs.rounds.append(result)


def factory_rounds(
    context: RunContext,
    runs: SystemRuns,
    stack: contextlib.ExitStack,
    *,
    rounds: int,
    kubectl_shim: bool,
) -> None:
    """``work_queue_factory -T k8s`` rounds, each with a factory started afresh (as
    bench_scaling does) and one task submitted at a random moment of its cycle."""
    kube, args, work = context.kube, context.args, context.work
    framework = Framework.WORK_QUEUE
    slug = SLUGS[framework] + ("-kubectl" if kubectl_shim else "")
    manager = TestManager(
        framework=framework,
        workdir=work / f"manager-f-{slug}",
        transactions_log=work / f"manager-f-{slug}.transactions",
    )
    later(stack, manager.shutdown)
    transactions = manager.transactions_log
    assert transactions is not None
    namespace = f"bench-first-{context.run_id}-f-{slug}"
    create_namespace(kube, namespace)
    later(stack, lambda: remove_namespace(kube, namespace))
    runs.notes.append(f"load average at the start: {load_average()}")
    later(stack, lambda: runs.notes.append(f"load average at the end: {load_average()}"))
    catalog = start_catalog(stack, work / f"catalog-{slug}")
    watch = StageWatch(kube.core, namespace)
    watch.start()
    later(stack, watch.stop)
    kubeconfig = factory_kubeconfig(kube.cluster, namespace, work)
    shim_dir: Path | None = None
    if kubectl_shim:
        shim_dir = work / f"kubectl-shim-{slug}"
        shim_dir.mkdir()
        real = shutil.which("kubectl", path=kube.cluster.env["PATH"])
        assert real is not None, "no kubectl on the cluster's PATH"
        (shim_dir / "kubectl").write_text(KUBECTL_SHIM.format(kubectl=real))
        (shim_dir / "kubectl").chmod(0o755)
    live: list[FactoryProcess] = []

    def kill_all() -> None:
        for factory in live:
            factory.kill()

    later(stack, kill_all)
    cycle = FACTORY_CYCLE_GUESS_S
    log(f"factory ({framework}{', kubectl shim' if kubectl_shim else ''}): {namespace}")
    for index in range(rounds):
        wait_capacity(context)
        watch.reset()
        factory = FactoryProcess(
            framework=framework,
            cluster=kube.cluster,
            kubeconfig=kubeconfig,
            manager_port=manager.port,
            catalog=catalog,
            work=work,
            max_workers=1,
            fixed=True,
            run_id=context.run_id,
            concurrency=4,
            manager_host=NODE_IP,
            extra_argv=[f"--k8s-image={context.image}"],
            pod_placement=REAL_NODE_PLACEMENT,
            path_prefix=shim_dir,
        )
        live.append(factory)
        start = factory.wait_cycles(1, 60)
        time.sleep(max(0.0, start + context.rng.uniform(0, cycle) - time.monotonic()))
        since = time.time()
        log_offset = containerd_size(context.containerd_log)
        submit_backlog(manager, 1)
        result = RoundResult()
        pod = watch.first_pod(2 * cycle + 30)
        if pod is not None:
            watch.wait_pod(pod, lambda p: p.running, 120)
            if pod.running is not None:
                grace = args.factory_connect_wait if index == 0 else args.factory_connect_wait_later
                deadline = time.monotonic() + grace
                while time.monotonic() < deadline:
                    if manager_milestones(transactions, since)["task running"] is not None:
                        break
                    time.sleep(0.2)
        milestones = manager_milestones(transactions, since) | pod_milestones(pod)
        milestones |= containerd_milestones(
            context.containerd_log, log_offset, namespace, pod.name if pod else None
        )
        decided, line = factory_decision(factory.debug_path, since)
        milestones["decided"] = decided
        milestones["seen"] = seen_before(manager, milestones["submitted"], decided)
        result.t0, result.pod = milestones["submitted"], pod.name if pod else ""
        result.offsets = offsets(milestones)
        if pod is not None:
            result.notes.append(f"pod image {pod.image}; startedAt {pod.started_at}")
            if pod.waiting:
                result.notes.append(f"container waiting: {pod.waiting}")
        if index == 0:
            runs.notes.append(f"decision line: {line!r}")
            runs.notes.append(f"argv: {' '.join(factory.argv)}")
        runs.notes.append(
            f"round {index + 1} stderr: " + " | ".join(distinct_lines(factory.stderr(20000), 6))
        )
        gaps = [b - a for a, b in zip(factory.cycles, factory.cycles[1:], strict=False)]
        if gaps:
            cycle = statistics.median(gaps)
        runs.rounds.append(result)
        log(f"{runs.name} round {index + 1}/{rounds}: {describe(result)}; {result.notes}")
        factory.kill()
        delete_pods(kube, namespace, watch)
        if milestones["task running"] is None:
            drain(manager, 1, work, workers=1)
        else:
            manager.wait_for(1, timeout=60)
    runs.notes.append(f"factory cycle: {cycle:.1f} s")


def start_catalog(stack: contextlib.ExitStack, workdir: Path, attempts: int = 3) -> CatalogServer:
    """``running_catalog``, tried again when its port was taken between the choice and the
    bind (``couldn't listen on TCP address``, seen once in a run)."""
    for attempt in range(1, attempts + 1):
        try:
            return stack.enter_context(running_catalog(workdir / str(attempt)))
        except RuntimeError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


def vine_factory_notes(context: RunContext, stack: contextlib.ExitStack) -> list[str]:
    """``vine_factory -T k8s`` given the worker image in each way it declares one."""
    work = context.work
    manager = TestManager(framework=Framework.TASKVINE, workdir=work / "manager-vine-probe")
    later(stack, manager.shutdown)
    namespace = f"bench-first-{context.run_id}-f-vine"
    create_namespace(context.kube, namespace)
    later(stack, lambda: remove_namespace(context.kube, namespace))
    catalog = start_catalog(stack, work / "catalog-vine-probe")
    kubeconfig = factory_kubeconfig(context.kube.cluster, namespace, work)
    bench = Bench(context.kube, manager, context.args, context.run_id, work, context.rng)
    return probe_image_options(bench, catalog, kubeconfig, context.image)


# --- report -----------------------------------------------------------------------------------


def spread(values: Sequence[float], prefix: str = "") -> dict[str, float]:
    if not values:
        return {}
    return {f"{prefix}median": statistics.median(values), f"{prefix}p90": percentile(values, 90)}


def summary(runs: SystemRuns) -> dict[str, dict[str, Any]]:
    """Per milestone (after t0) and per stage (since the previous milestone): n, median, p90."""
    table: dict[str, dict[str, Any]] = {}
    previous: str | None = None
    for name in (*MILESTONES, "total", *REPORTED):
        key = "task running" if name == "total" else name
        reached = [r.offsets for r in runs.rounds if r.offsets.get(key) is not None]
        values = [float(o[key] or 0.0) for o in reached]
        row: dict[str, Any] = {"n": len(values), **spread(values)}
        if name in MILESTONES:
            stage = [
                float(o[name] or 0.0) - float(o[previous] or 0.0 if previous else 0.0)
                for o in reached
                if previous is None or o.get(previous) is not None
            ]
            row |= spread(stage, "stage_")
            previous = name
        table[name] = row
    return table


def cell(row: dict[str, Any], median: str, p90: str) -> str:
    if median not in row:
        return f"- (n={row['n']})"
    return f"{row[median]:.2f} / {row[p90]:.2f}"


def print_report(all_runs: Sequence[SystemRuns]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for runs in all_runs:
        table = summary(runs)
        document[f"{runs.name} ({runs.framework})"] = {
            "summary": table,
            "rounds": [asdict(r) for r in runs.rounds],
            "notes": runs.notes,
        }
        print()
        print(f"{runs.name} ({runs.framework}), {len(runs.rounds)} of {runs.planned} rounds")
        header = ("milestone", "after t0: median / p90 (s)", "stage: median / p90 (s)", "n")
        rows = [
            (name, cell(row, "median", "p90"), cell(row, "stage_median", "stage_p90"), row["n"])
            for name, row in table.items()
        ]
        widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(4)]
        print("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
        print("  ".join("-" * w for w in widths))
        for row_cells in rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(row_cells, widths, strict=True)))
        for index, result in enumerate(runs.rounds, 1):
            extra = f"; {'; '.join(result.notes)}" if result.notes else ""
            print(f"  round {index}: {describe(result)}{extra}")
        for note in runs.notes:
            print(f"  note: {note}")
    return document


def versions(context: RunContext) -> dict[str, Any]:
    cluster = context.kube.cluster

    def first_line(command: list[str]) -> str:
        try:
            out = subprocess.run(
                command, capture_output=True, text=True, timeout=20, check=False, env=cluster.env
            )
        except OSError as error:
            return str(error)
        text = (out.stdout or out.stderr).strip()
        return text.splitlines()[0] if text else ""

    node = json.loads(cluster.kubectl("get", "node", NODE_NAME, "-o", "json").stdout)
    info = node["status"]["nodeInfo"]
    commit = first_line(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    return machine_note() | {
        "kubectl": first_line(["kubectl", "version", "--client"]),
        "kubelet": info.get("kubeletVersion"),
        "container_runtime": info.get("containerRuntimeVersion"),
        "worker_image": context.image,
        "operator_commit": commit,
    }


# --- main -------------------------------------------------------------------------------------


class RunInterruptedError(BaseException):
    """SIGTERM, SIGINT or the --deadline alarm. Not an Exception: bench_scaling's ``later``
    reports and swallows an Exception raised inside a cleanup step, and the run would go on."""


def interrupt(signum: int, _frame: FrameType | None) -> None:
    """Stop the run once: later signals are ignored so that the cleanup can finish."""
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
        signal.signal(number, signal.SIG_IGN)
    raise RunInterruptedError(f"signal {signum}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=10, help="counted rounds per system")
    parser.add_argument(
        "--frameworks",
        default="WorkQueue,TaskVine",
        help="comma-separated: WorkQueue, TaskVine (operator rounds)",
    )
    parser.add_argument(
        "--poll-interval",
        type=int,
        default=1,
        help="the pool's autoscale.pollIntervalSeconds (1, the CRD minimum, as the real-node "
        "tests use; the default of a pool that sets none is 5)",
    )
    parser.add_argument("--skip-factory", action="store_true", help="operator rounds only")
    parser.add_argument("--skip-operator", action="store_true", help="factory rounds only")
    parser.add_argument(
        "--factory-rounds", type=int, default=None, help="work_queue_factory rounds (--rounds)"
    )
    parser.add_argument(
        "--factory-kubectl-shim",
        type=int,
        default=0,
        metavar="N",
        help="also N rounds with kubectl's --show-all dropped (see the docstring)",
    )
    parser.add_argument(
        "--factory-connect-wait",
        type=float,
        default=90,
        help="first factory round: seconds after the pod runs to wait for its worker",
    )
    parser.add_argument(
        "--factory-connect-wait-later",
        type=float,
        default=15,
        help="later factory rounds: seconds after the pod runs to wait for its worker",
    )
    parser.add_argument("--seed", type=int, default=0, help="of the random submit moments")
    parser.add_argument("--deadline", type=float, default=5400, help="whole run, seconds")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs)")
    args = parser.parse_args(argv)
    if args.factory_rounds is None:
        args.factory_rounds = args.rounds
    args.frameworks = [Framework(name.strip()) for name in args.frameworks.split(",") if name]
    return args


def node_state() -> Path:
    """The real node's state directory (e2e/node/lib.sh's ``$wq_node_state``)."""
    out = subprocess.run(
        ["bash", "-c", 'source e2e/node/lib.sh && printf "%s" "$wq_node_state"'],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout)


def run_all(context: RunContext, all_runs: list[SystemRuns], machine: dict[str, Any]) -> None:
    """Every system's rounds, in turn; each one's namespace and processes are gone when it
    ends (or raises)."""
    args = context.args
    context.image = registry_image("worker")
    machine |= versions(context)
    log(f"run {context.run_id}, work dir {context.work}; {machine}")
    if not args.skip_operator:
        for framework in args.frameworks:
            name = f"workqueue-operator, poll {args.poll_interval} s"
            runs = SystemRuns(name, args.rounds, framework)
            all_runs.append(runs)
            with contextlib.ExitStack() as stack:
                operator_rounds(context, framework, runs, stack)
    if args.skip_factory:
        return
    plans = [(False, args.factory_rounds), (True, args.factory_kubectl_shim)]
    for shim, count in plans:
        if count <= 0:
            continue
        runs = SystemRuns("work_queue_factory -T k8s" + (" + kubectl shim" if shim else ""), count)
        all_runs.append(runs)
        with contextlib.ExitStack() as stack:
            factory_rounds(context, runs, stack, rounds=count, kubectl_shim=shim)
    with contextlib.ExitStack() as stack:
        for note in vine_factory_notes(context, stack):
            machine.setdefault("vine_factory_probe", []).append(note)
            log(note)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    prepare_run(args.deadline)
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGALRM):
        signal.signal(number, interrupt)
    run_id = uuid.uuid4().hex[:6]
    work = Path(tempfile.mkdtemp(prefix=f"bench-first-{run_id}-"))
    cluster = running_cluster()
    kube = kube_clients(cluster)
    context = RunContext(
        kube,
        args,
        run_id,
        work,
        random.Random(args.seed),
        "",
        node_state() / "logs" / "containerd.log",
    )
    all_runs: list[SystemRuns] = []
    machine: dict[str, Any] = {"load_average_start": os.getloadavg()}
    ok = False
    try:
        run_all(context, all_runs, machine)
        ok = True
    except (Exception, RunInterruptedError) as error:
        print(f"\nbench failed: {error!r}", file=sys.stderr)
    finally:
        signal.alarm(0)
    machine["load_average_end"] = os.getloadavg()
    document = print_report(all_runs)
    print(f"\nmachine: {machine}")
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": machine, **document}, indent=2, default=str))
    return finish_run(work, ok=ok, keep=args.keep)


if __name__ == "__main__":
    sys.exit(main())
