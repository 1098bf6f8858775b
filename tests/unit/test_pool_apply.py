"""The pool applier against an in-memory KubeApi: it creates the plan's pods (shape, labels,
worker program, password) and deletes the named ones, and stops creating after a refusal."""

from __future__ import annotations

import asyncio

from tests.unit.kube_memory import InMemoryKube
from tests.unit.test_pool_plan import NOW, observe
from workqueue_operator.api.common import Framework, SecretKeyReference
from workqueue_operator.api.pool import WorkerPoolSpec
from workqueue_operator.controllers.pool_apply import (
    API_CALLS_IN_FLIGHT,
    PoolTarget,
    apply_pool_plan,
)
from workqueue_operator.k8s.connection import ManagerConnection
from workqueue_operator.k8s.labels import SHAPE_LABEL, pool_selector
from workqueue_operator.k8s.pods import ManagerEndpoint
from workqueue_operator.scaling.inputs import PodPhase, PodView
from workqueue_operator.scaling.plan import PoolMemory, PoolPlan, plan_pool
from workqueue_operator.wq.status_models import CategoryStatus

NS = "science"
SPEC = WorkerPoolSpec.model_validate(
    {"managerRef": {"name": "mgr"}, "maxWorkers": 30, "autoscale": {"scaleUpStep": 30}}
)


def target(framework: Framework = Framework.WORK_QUEUE, password: bool = False) -> PoolTarget:
    connection = ManagerConnection(
        workers=ManagerEndpoint("mgr.science.svc", 9123),
        status_address="mgr.science.svc:9123",
        password=SecretKeyReference(name="pw", key="pw") if password else None,
        framework=framework,
    )
    return PoolTarget("pool", NS, "uid-1", 4, SPEC, connection, None)


def plan_for(waiting: int, pods: tuple[PodView, ...] = ()) -> PoolPlan:
    row = CategoryStatus.model_validate(
        {"category": "a", "tasks_waiting": waiting, "max_cores": "1"}
    )
    return plan_pool(observe(SPEC, categories=(row,), pods=pods), PoolMemory())


def test_the_plans_pods_are_created_with_their_shape_labels_and_program() -> None:
    kube = InMemoryKube()
    outcome = asyncio.run(apply_pool_plan(plan_for(3), target(Framework.TASKVINE, True), kube))
    assert (outcome.attempted, outcome.created, outcome.refused) == (3, 3, 0)
    pods = kube.list_pods(NS, pool_selector("pool"))
    assert len(pods) == 3 and len({p["metadata"]["name"] for p in pods}) == 3
    for pod in pods:
        assert pod["metadata"]["labels"][SHAPE_LABEL] == "c1m1024d2048"
        command = pod["spec"]["containers"][0]["command"]
        assert command[0] == "vine_worker" and command[-2:] == ["mgr.science.svc", "9123"]
        assert "--password" in command
        assert pod["metadata"]["ownerReferences"][0]["uid"] == "uid-1"


def test_scale_down_deletes_only_the_named_pods() -> None:
    kube = InMemoryKube()
    for name in ("keep", "go"):
        pod = {"metadata": {"name": name, "labels": {"workqueue.dev/pool": "pool"}}}
        kube.pods[(NS, name)] = pod
    plan = plan_for(0, pods=(PodView("go", PodPhase.PENDING, "c1m1024d2048", NOW - 1),))
    assert [d.name for d in plan.deletes] == ["go"]
    asyncio.run(apply_pool_plan(plan, target(), kube))
    assert set(kube.pods) == {(NS, "keep")}


def test_creation_stops_at_the_first_refusal_and_reports_the_apiservers_message() -> None:
    kube = InMemoryKube(pod_quota=2)
    outcome = asyncio.run(apply_pool_plan(plan_for(30), target(), kube))
    assert (outcome.attempted, outcome.created) == (30, 2)
    assert outcome.refusal is not None and "exceeded quota" in outcome.refusal
    # The third creation is refused; at most the others already in flight then reach the
    # apiserver (API_CALLS_IN_FLIGHT at once); none is sent after the refusal.
    sent = [c for c in kube.calls if c.startswith("create")]
    assert 3 <= len(sent) <= 2 + API_CALLS_IN_FLIGHT, len(sent)
    assert outcome.refused == len(sent) - 2
