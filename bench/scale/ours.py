"""workqueue-operator at one size: N real managers (``ndcctools``, Work Queue 7.17.1, one
process each), N External WorkQueueManagers and N WorkerPools of ``--pods-per-pool`` pods in
one namespace, the operator as a process of its own under its own ServiceAccount.

Phases: idle (objects accepted, no backlog, no pod), ramp (``pods-per-pool`` tasks submitted to
every manager at once, until every pod exists and Runs), steady (every pool at its maximum, the
backlogs unchanged), then reaction rounds of one more pool while the others stay steady."""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bench_scaling import (
    Kube,
    create_namespace,
    drain,
    placement,
    submit_backlog,
    wait_until,
)
from bench.scale import profile
from bench.scale.common import (
    SizeResult,
    WorkerPodWatch,
    delete_namespace_pods,
    labelled,
    remove_namespace,
    wait_pods,
)
from bench.scale.infra import AuditLog, Phase, ProcessMeter
from tests.cctools.manager import TestManager
from tests.e2e.operator_process import OperatorProcess
from tests.harness import REPO
from tests.prometheus import free_port

OPERATOR = REPO / ".venv" / "bin" / "workqueue-operator"
AGENT = OPERATOR
GROUP_VERSION = "workqueue.dev/v1alpha1"
POOL_LABEL = "workqueue.dev/pool"
REACT = "react"
REACT_TASKS = 5


@dataclass
class Context:
    kube: Kube
    args: argparse.Namespace
    run_id: str
    work: Path
    kubeconfig: Path
    user: str
    audit: AuditLog
    on_phase: Callable[[str, Phase, dict[str, str]], None]
    """Called at each phase's end with the scrape targets (for PromQL figures)."""
    later: Callable[[Callable[[], object]], None]
    set_targets: Callable[[dict[str, str]], None]
    """Tells Prometheus what to scrape (name -> host:port)."""


class AgentProcess:
    """``workqueue-operator agent`` beside one manager (its transactions log, its status)."""

    def __init__(self, manager: TestManager, log_path: Path) -> None:
        self.port = free_port()
        assert manager.transactions_log is not None
        with log_path.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    str(AGENT),
                    "agent",
                    "--transactions-log",
                    str(manager.transactions_log),
                    "--manager",
                    f"127.0.0.1:{manager.port}",
                    "--listen",
                    f"127.0.0.1:{self.port}",
                    "--poll-interval",
                    "5",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def manifests(name: str, port: int, args: argparse.Namespace, run_id: str, pods: int) -> list[Any]:
    return [
        {
            "apiVersion": GROUP_VERSION,
            "kind": "WorkQueueManager",
            "metadata": {"name": name},
            "spec": {"mode": "External", "address": f"127.0.0.1:{port}"},
        },
        {
            "apiVersion": GROUP_VERSION,
            "kind": "WorkerPool",
            "metadata": {"name": name},
            "spec": {
                "managerRef": {"name": name},
                "minWorkers": 0,
                "maxWorkers": pods,
                "worker": {"cores": 1, "memory": "512Mi", "disk": "1Gi"},
                "autoscale": {
                    "pollIntervalSeconds": args.poll_interval,
                    "scaleUpStep": pods,
                },
                "template": placement(run_id),
            },
        },
    ]


def pool_statuses(kube: Kube, namespace: str) -> dict[str, dict[str, Any]]:
    found = kube.custom.list_namespaced_custom_object(
        "workqueue.dev", "v1alpha1", namespace, "workerpools"
    )
    return {o["metadata"]["name"]: o.get("status") or {} for o in found["items"]}


def accepted(status: dict[str, Any]) -> bool:
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    return conditions.get("Accepted") == "True" and status.get("desiredReplicas") == 0


def apply(kube: Kube, namespace: str, items: list[Any]) -> None:
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    kube.cluster.kubectl("apply", "-f", "-", namespace=namespace, input=body, timeout=300)


def run_size(ctx: Context, pools: int) -> SizeResult:
    result = SizeResult("workqueue-operator", pools, ctx.args.pods_per_pool)
    with contextlib.ExitStack() as stack:
        _run(ctx, pools, result, stack)
    return result


def _run(ctx: Context, pools: int, result: SizeResult, stack: contextlib.ExitStack) -> None:
    kube, args = ctx.kube, ctx.args
    per_pool = args.pods_per_pool
    namespace = f"scale-{ctx.run_id}-ours-{pools}"
    create_namespace(kube, namespace)
    stack.callback(remove_namespace, kube, namespace)
    stack.callback(delete_namespace_pods, kube, namespace)
    work = ctx.work / f"ours-{pools}"
    work.mkdir(parents=True, exist_ok=True)

    managers: list[TestManager] = []
    for index in range(pools + 1):
        transactions = work / f"m{index}" / "transactions.log" if index < args.agents else None
        manager = TestManager(workdir=work / f"m{index}", transactions_log=transactions)
        managers.append(manager)
        stack.callback(manager.shutdown)
    react_manager = managers.pop()
    agents = [
        AgentProcess(m, work / f"agent-{i}.log") for i, m in enumerate(managers[: args.agents])
    ]
    for agent in agents:
        stack.callback(agent.stop)

    watch = WorkerPodWatch(kube.core, namespace, labelled(POOL_LABEL))
    watch.start()
    stack.callback(watch.stop)
    metrics_port = free_port()
    # The operator under its own identity (the audit log counts its requests).
    identity = dataclasses.replace(kube.cluster, kubeconfig=ctx.kubeconfig)
    operator = OperatorProcess(identity, namespace, work, metrics_port=metrics_port)
    operator.start()
    stack.callback(operator.stop)
    assert operator.pid is not None
    meter = ProcessMeter(operator.pid)
    stack.callback(meter.stop)
    targets = {
        "operator": f"127.0.0.1:{metrics_port}",
        **{f"agent-{i}": f"127.0.0.1:{a.port}" for i, a in enumerate(agents)},
    }
    ctx.set_targets(targets)

    names = [f"p{index:03d}" for index in range(pools)]
    items = [
        item
        for name, manager in zip(names, managers, strict=True)
        for item in manifests(name, manager.port, args, ctx.run_id, per_pool)
    ]
    apply(kube, namespace, items)
    wait_until(
        lambda: (
            (s := pool_statuses(kube, namespace)) and all(accepted(s.get(n, {})) for n in names)
        ),
        timeout=300,
        interval=1,
        what=f"{pools} pools accepted",
    )
    result.notes.append(f"operator log: {operator.logs[-1]}")

    def measure(name: str, body: Callable[[Phase], None]) -> Phase:
        with meter.phase(name) as phase:
            body(phase)
        phase.requests = dict(ctx.audit.requests(ctx.user, phase.start, phase.end))
        ctx.on_phase(name, phase, targets)
        result.phases[name] = phase
        if not operator.running:
            raise RuntimeError(f"the operator exited; see {operator.logs[-1]}")
        return phase

    time.sleep(args.settle)
    measure("idle", lambda _p: time.sleep(args.window))

    def ramp(_phase: Phase) -> None:
        watch.reset()
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda m: submit_backlog(m, per_pool), managers))
        result.ramp = wait_pods(watch, pools * per_pool, t0, timeout=args.ramp_timeout)

    measure("ramp", ramp)
    time.sleep(args.settle)
    measure("steady", lambda _p: time.sleep(args.window))
    if args.profile:
        result.notes.append(profile_steady(meter, operator.pid, args.window, work))

    # Reaction: one more pool, idle, while the others stay steady.
    react_watch = WorkerPodWatch(kube.core, namespace, labelled(POOL_LABEL, REACT))
    react_watch.start()
    stack.callback(react_watch.stop)
    apply(kube, namespace, manifests(REACT, react_manager.port, args, ctx.run_id, REACT_TASKS))
    wait_until(
        lambda: accepted(pool_statuses(kube, namespace).get(REACT, {})),
        timeout=120,
        interval=0.5,
        what="the reaction pool accepted",
    )
    rng = random.Random(ctx.run_id)
    for _ in range(args.rounds):
        react_watch.reset()
        time.sleep(rng.uniform(0, float(args.poll_interval)))
        t0 = submit_backlog(react_manager, REACT_TASKS)
        first = react_watch.nth_added(1, 60)
        result.reaction_s.append(None if first is None else first - t0)
        drain(react_manager, REACT_TASKS, work, workers=1)
        settle_react(kube, namespace, react_watch)
    result.notes.append(f"load average after the reaction rounds: {phase_load()}")


def profile_steady(meter: ProcessMeter, pid: int, seconds: float, work: Path) -> str:
    """One more steady window under py-spy (apart from the measured one, which the sampling
    would cost a little): where the operator's CPU goes."""
    raw = work / "steady-profile.txt"
    with meter.phase("steady, profiled") as phase:
        sampler = profile.record(pid, seconds, raw)
        sampler.wait(timeout=seconds + 60)
    if sampler.returncode != 0 or not raw.exists():
        return f"py-spy exited {sampler.returncode}; no profile"
    summary = profile.summarize(raw.read_text())
    return f"steady profile ({raw}):\n" + profile.report(summary, phase.cpu_s, phase.seconds)


def phase_load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def settle_react(kube: Kube, namespace: str, watch: WorkerPodWatch) -> None:
    """The reaction pool back to 0 pods and wanting none."""
    wait_until(
        lambda: pool_statuses(kube, namespace).get(REACT, {}).get("desiredReplicas") == 0,
        timeout=120,
        interval=0.2,
        what="the reaction pool to want 0 pods",
    )
    for _ in range(10):
        kube.core.delete_collection_namespaced_pod(
            namespace, label_selector=f"{POOL_LABEL}={REACT}", grace_period_seconds=0
        )
        time.sleep(1.5)
        if watch.live() == 0:
            return
    raise RuntimeError("the reaction pool's pods do not go")
