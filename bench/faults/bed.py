"""One scenario's test bed: a namespace on a cluster, a real manager (ndcctools, in its own
process), its WorkQueueManager and WorkerPool, the operator as a process, the host runner for
worker pods on KWOK nodes, a pod log and a worker roster. Everything it starts it stops."""

from __future__ import annotations

import contextlib
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.hostrunner import HostRunner
from tests.cctools.manager import CategorySpec, FinishedTask, TestManager
from tests.e2e.operator_process import OperatorProcess, agent_argv
from tests.harness import REPO, Cluster, explained
from tests.manifests import manifest_of

from faults.ledger import Ledger, read_ledger
from faults.podlog import PodLog
from faults.roster import WorkerRoster
from workqueue_operator.api.common import Framework

POOL = "workers"
MANAGER = "mgr"
HOST_RUNNER_LABEL = "workqueue.dev/host-runner"
POOL_SELECTOR = f"workqueue.dev/pool={POOL}"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def external_manager(address: str, framework: Framework, *, telemetry: str | None = None) -> str:
    spec: dict[str, Any] = {
        "mode": "External",
        "framework": str(framework),
        "address": address,
        "pollIntervalSeconds": 1,
    }
    if telemetry:
        spec["telemetryUrl"] = telemetry
    return manifest_of("WorkQueueManager", MANAGER, spec)


def worker_pool(
    *,
    max_workers: int,
    step: int | None = None,
    idle_delay: int = 2,
    cooldown: int = 2,
    host_runner: bool = True,
    annotations: Mapping[str, str] | None = None,
    sizing: Mapping[str, Any] | None = None,
    placement: Mapping[str, Any] | None = None,
    image: str | None = None,
    memory: str = "512Mi",
) -> str:
    template: dict[str, Any] = dict(placement or {})
    if host_runner:
        template["labels"] = {HOST_RUNNER_LABEL: "true"}
    if annotations:
        template["annotations"] = dict(annotations)
    spec: dict[str, Any] = {
        "managerRef": {"name": MANAGER},
        "minWorkers": 0,
        "maxWorkers": max_workers,
        "worker": {"cores": 1, "memory": memory, "disk": "1Gi"},
        "autoscale": {
            "pollIntervalSeconds": 1,
            "scaleUpStep": step or max_workers,
            "idleDelaySeconds": idle_delay,
            "cooldownSeconds": cooldown,
        },
        "template": template,
    }
    if sizing:
        spec["sizing"] = dict(sizing)
    if image:
        spec["image"] = image
    return manifest_of("WorkerPool", POOL, spec)


@dataclass
class Bed:
    """What one scenario run has; ``close`` (the context's exit) stops it all."""

    cluster: Cluster
    namespace: str
    workdir: Path
    framework: Framework
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    manager: TestManager | None = None
    operator: OperatorProcess | None = None
    pods: PodLog | None = None
    roster: WorkerRoster | None = None
    runner: HostRunner | None = None
    returned: list[FinishedTask] = field(default_factory=list)
    submitted: int = 0

    # -- parts ---------------------------------------------------------------------------

    def start_manager(self, categories: Mapping[str, CategorySpec], **kwargs: Any) -> TestManager:
        workdir = self.workdir / "manager"
        if self.framework is Framework.WORK_QUEUE:
            kwargs.setdefault("transactions_log", workdir / "transactions.log")
        manager = TestManager(
            framework=self.framework, workdir=workdir, categories=categories, **kwargs
        )
        self.stack.callback(manager.shutdown)
        self.manager = manager
        self.roster = WorkerRoster(f"127.0.0.1:{manager.port}", self.framework).start()
        self.stack.callback(self.roster.stop)
        return manager

    def start_operator(self) -> OperatorProcess:
        operator = OperatorProcess(self.cluster, self.namespace, self.workdir)
        operator.start()
        self.stack.callback(operator.stop)
        self.operator = operator
        return operator

    def start_host_runner(self) -> HostRunner:
        runner = HostRunner(
            self.cluster.kubeconfig,
            label_selector=f"{HOST_RUNNER_LABEL}=true",
            namespace=self.namespace,
            base_dir=self.workdir / "pods",
        )
        runner.start()
        self.stack.callback(runner.stop)
        self.runner = runner
        return runner

    def start_pod_log(self) -> PodLog:
        pods = PodLog(self.cluster.kubeconfig, self.namespace, POOL_SELECTOR)
        self.stack.enter_context(pods)
        self.pods = pods
        return pods

    def start_agent(self, transactions_log: Path, port: int) -> subprocess.Popen[bytes]:
        """``workqueue-operator agent`` on the manager's transactions log, on ``port``."""
        with (self.workdir / f"agent-{port}.log").open("wb") as out:
            process = subprocess.Popen(
                agent_argv(transactions_log, port),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.stack.callback(_terminate, process)
        return process

    def apply(self, *manifests: str) -> None:
        for manifest in manifests:
            self.cluster.apply(manifest, self.namespace)

    # -- tasks ---------------------------------------------------------------------------

    def submit(self, command: str, category: str) -> None:
        assert self.manager is not None
        self.manager.submit(command, category=category)
        self.submitted += 1

    def collect(self, seconds: float) -> None:
        """Take the tasks the manager returns for ``seconds``."""
        assert self.manager is not None
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            task = self.manager.wait(min(left, 0.2))
            if task is not None:
                self.returned.append(task)

    def returned_ids(self) -> set[int]:
        return {task.task_id for task in self.returned}

    def all_returned(self) -> bool:
        return len(self.returned_ids()) >= self.submitted

    def ledger(self) -> Ledger:
        assert self.manager is not None and self.manager.transactions_log is not None
        return read_ledger(self.manager.transactions_log)

    def wait(
        self,
        probe: Callable[[], Any],
        timeout: float,
        what: str,
        *,
        explain: Callable[[], str] | None = None,
    ) -> Any:
        """Wait for ``probe``, taking returned tasks meanwhile; on a timeout, ``explain`` says
        where things stand."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            if self.manager is not None:
                self.collect(0.5)
            else:
                time.sleep(0.5)
        raise TimeoutError(
            explained(f"timed out after {timeout:.0f} s waiting for {what}", explain)
        )

    def pool_status(self) -> dict[str, Any]:
        pool = self.cluster.get("wqpool", POOL, self.namespace) or {}
        status: dict[str, Any] = pool.get("status") or {}
        return status

    def pool_uid(self) -> str:
        pool = self.cluster.get("wqpool", POOL, self.namespace) or {}
        return str(pool.get("metadata", {}).get("uid", ""))

    def events(self, name: str) -> list[dict[str, Any]]:
        return self.cluster.events_for(name, self.namespace)

    def close(self) -> None:
        self.stack.close()


@contextlib.contextmanager
def bed(
    cluster: Cluster, scenario: str, framework: Framework, workdir: Path, *, keep: bool = False
) -> Iterator[Bed]:
    """A fresh namespace and an empty bed; at the end every part is stopped, the project's
    objects deleted (pods go with their pool), then the namespace."""
    namespace = f"chaos-{scenario}-{str(framework).lower()}-{uuid.uuid4().hex[:5]}"
    cluster.create_namespace(namespace)
    directory = workdir / namespace
    directory.mkdir(parents=True, exist_ok=True)
    the_bed = Bed(cluster, namespace, directory, framework)
    try:
        yield the_bed
    finally:
        the_bed.close()
        if not keep:
            cluster.kubectl(
                "delete", "wqpool,wqm", "--all", "--timeout=60s", namespace=namespace, check=False
            )
            cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def apply_crds(cluster: Cluster) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/workqueuemanagers.workqueue.dev",
        "crd/workerpools.workqueue.dev",
        "crd/ponchoenvs.workqueue.dev",
    )


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
