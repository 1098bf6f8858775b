"""Issue 5: a WorkerPool with ``sizing.mode: Buckets`` turns measured task peaks into worker pod
shapes.

A real manager (monitoring on, transactions log) runs one category, ``work``, of two memory
profiles: Python holding ~200 MiB or ~1.5 GiB for 7 s (longer than resource_monitor's 5 s
interval, so that the peaks are complete, not lower bounds). A real telemetry agent
(``workqueue-operator agent``) follows the manager's transactions log; the WorkQueueManager
names it in ``telemetryUrl``. The pool's pods carry the host-runner label: they run as real
local ``work_queue_worker`` processes.

* Phase 1: 4 + 4 tasks on declared-size workers (2 cores, 4Gi; ``minSamples`` 8 keeps every
  phase-1 pod at that size). Then ``status.recommendations`` must hold two memory buckets,
  each at most ``marginPercent`` above the measured peak of its profile, and the idle pods go.
* Phase 2: 4 + 4 more tasks. The pool must create pods of the two bucket shapes only (memory
  request = limit = the worker's ``--memory`` = the bucket), and every task must finish.

Resource declarations, a deliberate choice (see the limitation in docs/workerpool.md): Work
Queue puts a task on any worker it fits, and a task that declares nothing takes the whole
worker, so a 1.5 GiB task that lands on a ~235 MB worker would be killed by the monitor.
Declaring the *category's* resources cannot help here: one figure for the whole category is
either too big for the small shape (then no task fits it and the scaler sends the whole backlog
to one shape) or too small for the big tasks. So phase-1 tasks declare nothing (each takes a
whole 4Gi worker) and phase-2 tasks declare their memory per task: exactly the recommended
bucket of their profile, as an application that sizes its tasks from the recommendations
would. Cores are not declared (a task takes the worker's single core); the category stays in
mode FIXED, so the manager reports its measured maximum only as ``~N`` and the scaler counts
one task per worker.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.cctools.manager import FinishedTask, ManagerFactory, TestManager, free_port
from tests.e2e.operator_process import agent_argv
from tests.e2e.podwatch import PodCounts, PodTracker
from tests.harness import Cluster, wait_for
from tests.manifests import external_manager, worker_pool
from workqueue_operator.values.quantities import quantity_to_mb

pytestmark = pytest.mark.e2e

POOL = "workers"
CATEGORY = "work"
MARGIN_PERCENT = 10
PROFILES_MIB = {"small": 200, "big": 1536}
"""Memory each profile's task allocates and holds (MiB); resource_monitor reads ~13 MB more."""
HOLD_SECONDS = 7
TASKS_PER_PROFILE = 4
DECLARED_SHAPE = "c2m4096d4096"


class StartAgent(Protocol):
    """``start_agent``: an agent on a transactions log (and, with ``manager``, polling that
    manager's status port); returns its URL."""

    def __call__(self, transactions_log: Path, manager: str | None = None) -> str: ...


def allocate_and_hold(mib: int) -> str:
    """A task that touches ``mib`` MiB (so it is resident) and holds it for a while."""
    program = f"import time; b = b'x' * ({mib} << 20); time.sleep({HOLD_SECONDS})"
    return f'python3 -c "{program}"'


def sized_pool() -> str:
    return worker_pool(
        POOL,
        f"""
        minWorkers: 0
        maxWorkers: 4
        worker:
          cores: 2
          memory: 4Gi
          disk: 4Gi
        sizing:
          mode: Buckets
          updateMode: Initial
          strategy: greedy
          minSamples: {2 * TASKS_PER_PROFILE}
          marginPercent: {MARGIN_PERCENT}
        autoscale:
          enabled: true
          pollIntervalSeconds: 1
          scaleUpStep: 4
          idleDelaySeconds: 2
          cooldownSeconds: 2
        template:
          labels:
            workqueue.dev/host-runner: "true"
        """,
    )


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[StartAgent]:
    """Start ``workqueue-operator agent`` on a transactions log; returns its URL. Stopped at
    teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start(transactions_log: Path, manager: str | None = None) -> str:
        port = free_port()
        log = (tmp_path / f"agent-{len(started)}.log").open("wb")
        process = subprocess.Popen(
            agent_argv(transactions_log, port, manager),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        started.append(process)
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            assert process.poll() is None, f"the agent exited ({process.returncode})"
            try:
                with urllib.request.urlopen(f"{url}/v1/categories", timeout=2) as response:
                    return bool(response.status == 200)
            except (urllib.error.URLError, OSError):
                return False

        wait_for(answers, timeout=60, what=f"the telemetry agent on {url}")
        return url

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def submit_profiles(manager: TestManager, memory_mb: dict[str, int] | None = None) -> int:
    """TASKS_PER_PROFILE tasks of each profile, interleaved, tagged with the profile; with
    ``memory_mb``, each declares that memory (its bucket's)."""
    for _ in range(TASKS_PER_PROFILE):
        for profile, mib in PROFILES_MIB.items():
            manager.submit(
                allocate_and_hold(mib),
                category=CATEGORY,
                tag=profile,
                memory_mb=None if memory_mb is None else memory_mb[profile],
            )
    return TASKS_PER_PROFILE * len(PROFILES_MIB)


def finish(manager: TestManager, count: int, timeout: float) -> list[FinishedTask]:
    done = manager.wait_for(count, timeout=timeout)
    failed = [(t.tag, t.result_str, t.exit_code, t.output[-300:]) for t in done if not t.ok]
    assert not failed, failed
    return done


def measured_memory(task: FinishedTask) -> int:
    value = task.measured.get("memory")
    assert value is not None, task.measured
    return int(value)


def pool_status(cluster: Cluster, namespace: str) -> dict[str, Any]:
    pool = cluster.get("wqpool", POOL, namespace)
    status: dict[str, Any] = (pool or {}).get("status") or {}
    return status


def worker_memory(pod: dict[str, Any]) -> tuple[int, int, int]:
    """The pod's memory request and limit, in MB, and its worker's ``--memory``."""
    container = pod["spec"]["containers"][0]
    resources = container["resources"]
    flags = [a for a in container["command"] if a.startswith("--memory=")]
    assert len(flags) == 1, container["command"]
    return (
        quantity_to_mb(resources["requests"]["memory"]),
        quantity_to_mb(resources["limits"]["memory"]),
        int(flags[0].removeprefix("--memory=")),
    )


def recommended_buckets(
    operator: Cluster, namespace: str, phase1: list[FinishedTask]
) -> tuple[dict[str, int], list[dict[str, Any]], dict[str, int]]:
    """After phase 1: the measured peak of each profile, the pool's recommended buckets for the
    category, and the bucket (MB) of each profile, checked: two buckets, each above its
    profile's peak by at most the margin, half of the tasks each."""
    peaks = {
        profile: max(measured_memory(t) for t in phase1 if t.tag == profile)
        for profile in PROFILES_MIB
    }
    # The profiles are far apart: no sizing would put them in one bucket.
    assert peaks["small"] < PROFILES_MIB["small"] + 100 < peaks["big"], peaks

    def recommended() -> list[dict[str, Any]] | None:
        for row in pool_status(operator, namespace).get("recommendations") or []:
            if row["category"] == CATEGORY and row.get("buckets"):
                buckets: list[dict[str, Any]] = row["buckets"]
                return buckets
        return None

    buckets = wait_for(recommended, timeout=60, what="bucket recommendations")
    memories = sorted({math.ceil(b["memoryMb"]) for b in buckets})
    assert len(memories) == 2, buckets
    bucket_mb = dict(zip(("small", "big"), memories, strict=True))
    for profile, peak in peaks.items():
        most = math.ceil(peak * (1 + MARGIN_PERCENT / 100))
        assert peak < bucket_mb[profile] <= most, (profile, peak, buckets)
    shares = {
        profile: sum(b["share"] for b in buckets if math.ceil(b["memoryMb"]) == mb)
        for profile, mb in bucket_mb.items()
    }
    assert shares == pytest.approx({"small": 0.5, "big": 0.5}, abs=0.01), buckets
    return peaks, buckets, bucket_mb


SubmitProfiles = Callable[[TestManager, dict[str, int] | None], int]


@dataclass(frozen=True)
class TwoPhases:
    """What a two-phase sizing run measured and made."""

    phase1: list[FinishedTask]
    phase2: list[FinishedTask]
    phase1_s: float
    phase2_s: float
    peaks: dict[str, int]
    buckets: list[dict[str, Any]]
    final: PodCounts
    memory: dict[str, tuple[int, int, int]]
    """Each phase-2 pod's memory request, limit and worker ``--memory`` (MB)."""


def run_two_phases(
    operator: Cluster,
    namespace: str,
    manager: TestManager,
    pods: PodTracker,
    *,
    submit: SubmitProfiles,
    declared_shape: str,
    before_phase2: Callable[[], object] = lambda: None,
) -> TwoPhases:
    """Phase 1 on declared-size workers (checked: one shape, ``declared_shape``), the buckets
    recommended from it (:func:`recommended_buckets`), then, once the phase-1 pods are gone and
    ``before_phase2`` has returned, phase 2 declaring the buckets; checked: new pods were
    created, each with memory request = limit = worker ``--memory``, and their sizes are the
    buckets."""
    # Phase 1: declared-size workers measure both profiles.
    started = time.monotonic()
    phase1 = finish(manager, submit(manager, None), timeout=240)
    phase1_s = time.monotonic() - started
    peaks, buckets, bucket_mb = recommended_buckets(operator, namespace, phase1)

    shapes1 = {
        p["metadata"]["labels"]["workqueue.dev/shape"] for p in pods.counts().objects.values()
    }
    assert shapes1 == {declared_shape}, shapes1

    # The idle declared-size workers go (no backlog), so phase 2 starts from no pods.
    pods.wait_until(lambda c: not c.live, timeout=120, what="the phase-1 pods gone")
    before_phase2()
    before = len(pods.counts().created)

    # Phase 2: the backlog goes to pods of the bucket shapes.
    started = time.monotonic()
    phase2 = finish(manager, submit(manager, bucket_mb), timeout=240)
    phase2_s = time.monotonic() - started
    final: PodCounts = pods.counts()

    new_pods = [final.objects[name] for name in final.created[before:]]
    assert new_pods, "no pod was created in phase 2"
    memory = {pod["metadata"]["name"]: worker_memory(pod) for pod in new_pods}
    for name, (request, limit, flag) in memory.items():
        assert request == limit == flag, (name, request, limit, flag)
    created_mb = {request for request, _, _ in memory.values()}
    assert created_mb == set(bucket_mb.values()), (created_mb, bucket_mb)
    return TwoPhases(phase1, phase2, phase1_s, phase2_s, peaks, buckets, final, memory)


def report(run: TwoPhases) -> None:
    """Shown with -s: what the run measured and made (to the real stdout: the session
    operator's KopfRunner swaps sys.stdout while it runs)."""
    phase2_peaks = {
        profile: max(measured_memory(t) for t in run.phase2 if t.tag == profile)
        for profile in PROFILES_MIB
    }
    print(
        json.dumps(
            {
                "peaks_phase1": run.peaks,
                "peaks_phase2": phase2_peaks,
                "buckets": run.buckets,
                "phase2_pods_mb": sorted(r for r, _, _ in run.memory.values()),
                "phase1_s": round(run.phase1_s),
                "phase2_s": round(run.phase2_s),
            }
        ),
        file=sys.__stdout__,
    )


@pytest.mark.usefixtures("host_runner")
def test_buckets_from_measured_peaks_become_worker_shapes(
    operator: Cluster,
    namespace: str,
    manager_factory: ManagerFactory,
    start_agent: StartAgent,
    tmp_path: Path,
) -> None:
    transactions = tmp_path / "transactions.log"
    manager = manager_factory(monitoring=True, transactions_log=transactions)
    telemetry = start_agent(transactions)
    operator.apply(external_manager(manager.port, extra=f"telemetryUrl: {telemetry}"), namespace)

    with PodTracker(operator.kubeconfig, namespace, f"workqueue.dev/pool={POOL}") as pods:
        operator.apply(sized_pool(), namespace)
        run = run_two_phases(
            operator,
            namespace,
            manager,
            pods,
            submit=submit_profiles,
            declared_shape=DECLARED_SHAPE,
        )
    report(run)
