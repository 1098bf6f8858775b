"""Issue 4: killing the operator in the middle of a scale-out and starting it again gives
exactly the desired number of pods.

This test runs its own operator (``workqueue-operator run --namespace NS`` as a subprocess, so
that it can be SIGKILLed) in a namespace outside the session operator's pattern. The pool has
autoscale off, ``replicas`` 12 and ``scaleUpStep`` 3 with a 2 s poll: the scale-out takes four
decisions, about 6 s, and a kill lands inside it. The pods run no process (no host-runner
label): KWOK marks them Running, their workers never connect, which changes nothing here (the
scaler only deletes never-connected pods when they are surplus, after 300 s).

Kill 1 comes the moment the first pod appears, i.e. inside the first decision's batch of
creations; kill 2 right after the restarted operator has completed one batch of its own, i.e.
between two decisions. After the third start the pool must reach 12 pods and stay there,
with no pod ever created beyond the 12 and none deleted.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cctools.manager import ManagerFactory, free_port
from tests.e2e.operator_process import OperatorProcess, other_operator_processes
from tests.e2e.podwatch import PodCounts, PodTracker
from tests.harness import Cluster, wait_for
from tests.manifests import external_manager, worker_pool

pytestmark = pytest.mark.e2e

POOL = "workers"
POOL_SELECTOR = f"workqueue.dev/pool={POOL}"
REPLICAS = 12
STEP = 3
POLL_SECONDS = 2
HOLD_POLLS = 5
"""Poll intervals the converged count must hold for."""


def fixed_pool() -> str:
    return worker_pool(
        POOL,
        f"""
        minWorkers: 0
        maxWorkers: 20
        replicas: {REPLICAS}
        worker:
          cores: 1
          memory: 256Mi
          disk: 512Mi
        autoscale:
          enabled: false
          pollIntervalSeconds: {POLL_SECONDS}
          scaleUpStep: {STEP}
        """,
    )


@dataclass
class OwnOperator:
    """A namespace of this test's own and the operator that watches only it."""

    cluster: Cluster
    namespace: str
    operator: OperatorProcess


WITH_METRICS = "metrics"
"""``own_operator``'s parameter (``indirect``): its operator serves metrics on a free port."""


@pytest.fixture
def own_operator(
    crds: Cluster, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[OwnOperator]:
    """``rs-<random>`` (not the session's prefix, so the session operator leaves it alone) and
    an operator for it, not started (metrics off, or on a free port with the parameter
    ``WITH_METRICS``). At teardown the project's objects are deleted while an operator runs
    (it holds their finalizers), then the namespace."""
    namespace = f"rs-{uuid.uuid4().hex[:8]}"
    crds.create_namespace(namespace)
    metrics_port = free_port() if getattr(request, "param", None) == WITH_METRICS else 0
    operator = OperatorProcess(crds, namespace, tmp_path, metrics_port=metrics_port)
    try:
        yield OwnOperator(crds, namespace, operator)
    finally:
        try:
            if not operator.running:
                operator.start()
            deleted = crds.kubectl(
                "delete", "wqpool,wqm", "--all", "--timeout=60s", namespace=namespace, check=False
            )
            if deleted.returncode != 0:  # no operator to release them: do not leave them stuck
                for kind in ("wqpool", "wqm"):
                    names = crds.kubectl(
                        "get", kind, "-o", "name", namespace=namespace, check=False
                    ).stdout.split()
                    for name in names:
                        crds.kubectl(
                            "patch",
                            name,
                            "--type=merge",
                            "-p",
                            '{"metadata":{"finalizers":null}}',
                            namespace=namespace,
                            check=False,
                        )
        finally:
            operator.stop()
            crds.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def reconciled_by_someone_else(cluster: Cluster, namespace: str) -> str | None:
    """What shows that an operator other than this test's acts in ``namespace`` (a cluster-wide
    one, e.g. ``workqueue-operator run -A`` of a demo): the WorkQueueManager gets a status or a
    finalizer while this test's operator is not running. None when nothing does, in 5 s."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        manager = cluster.get("wqm", "mgr", namespace) or {}
        status, meta = manager.get("status") or {}, manager.get("metadata") or {}
        if status or meta.get("finalizers"):
            return (
                f"WorkQueueManager mgr got phase {status.get('phase')!r}, "
                f"finalizers {meta.get('finalizers')}"
            )
        time.sleep(0.5)
    return None


def after_kill(tracker: PodTracker) -> PodCounts:
    """The pods once the killed operator's last requests have surely been seen."""
    time.sleep(1.5)
    return tracker.counts()


def test_operator_killed_during_scale_out_restarts_to_exactly_the_desired_pods(
    own_operator: OwnOperator, manager_factory: ManagerFactory
) -> None:
    cluster, namespace, op = own_operator.cluster, own_operator.namespace, own_operator.operator
    manager = manager_factory()
    cluster.apply(external_manager(manager.port), namespace)
    foreign = reconciled_by_someone_else(cluster, namespace)
    if foreign is not None:
        pytest.skip(
            f"another operator reconciles {namespace} ({foreign}; operator processes here: "
            f"{other_operator_processes()}): pod counts would not be this test's operator's"
        )

    with PodTracker(cluster.kubeconfig, namespace, POOL_SELECTOR) as tracker:
        op.start()
        cluster.apply(fixed_pool(), namespace)

        # Kill 1: the moment the first pod exists, inside the first batch of creations.
        tracker.wait_until(lambda c: len(c.created) >= 1, timeout=120, what="the first worker pod")
        op.kill()
        first = after_kill(tracker)
        assert 1 <= len(first.live) < REPLICAS, (len(first.live), op.output())

        # Kill 2: right after the restarted operator completed one batch (between decisions).
        op.start()
        tracker.wait_until(
            lambda c: len(c.live) >= len(first.live) + STEP,
            timeout=120,
            what=f"a batch of {STEP} pods from the restarted operator",
        )
        op.kill()
        second = after_kill(tracker)
        assert len(first.live) < len(second.live) < REPLICAS, (
            len(first.live),
            len(second.live),
            op.output(),
        )

        # Third start: the scale-out completes, to exactly the desired number.
        op.start()
        tracker.wait_until(
            lambda c: len(c.live) >= REPLICAS, timeout=120, what=f"{REPLICAS} worker pods"
        )
        hold_until = time.monotonic() + HOLD_POLLS * POLL_SECONDS
        while time.monotonic() < hold_until:
            now = tracker.counts()
            assert len(now.live) == REPLICAS, (
                sorted(now.live),
                op.output(),
                f"other operator processes: {other_operator_processes(op.pid)}",
            )
            time.sleep(0.2)
        final = tracker.counts()

    assert len(final.created) == REPLICAS, (
        f"{len(final.created)} pods were ever created for {REPLICAS} replicas "
        f"(kills at {len(first.live)} and {len(second.live)} pods): {list(final.created)}; "
        f"other operator processes: {other_operator_processes(op.pid)}"
    )
    assert not final.deleted, sorted(final.deleted)
    assert {p["metadata"]["labels"]["workqueue.dev/shape"] for p in final.objects.values()} == {
        "c1m256d512"
    }

    def status_settled() -> dict[str, object] | None:
        pool = cluster.get("wqpool", POOL, namespace)
        status: dict[str, object] = (pool or {}).get("status", {})
        wanted = (status.get("replicas"), status.get("desiredReplicas"))
        return status if wanted == (REPLICAS, REPLICAS) else None

    wait_for(status_settled, timeout=30, what=f"status.replicas = desiredReplicas = {REPLICAS}")
    print(  # shown with -s / on failure: where the kills landed
        f"kill 1 at {len(first.live)} pods, kill 2 at {len(second.live)} pods, "
        f"{op.starts} operator starts"
    )
