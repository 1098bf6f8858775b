"""A pool's look at its manager when the WorkQueueManager was stored under an older, laxer CRD
and the operator's model now refuses its spec: the pool's pass says so instead of failing."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from tests.unit.kube_memory import InMemoryKube
from workqueue_operator.api.pool import WorkerPoolSpec
from workqueue_operator.controllers.kinds import MANAGERS
from workqueue_operator.controllers.loop import Context
from workqueue_operator.controllers.pool import ManagerLook, observe_manager
from workqueue_operator.k8s.client import KubeApi


def manager(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "mgr", "namespace": "ns", "resourceVersion": "1"}, "spec": spec}


def look_from(stored: dict[str, Any]) -> ManagerLook:
    kube = InMemoryKube()
    kube.custom[(MANAGERS[2], "ns", "mgr")] = stored
    context = Context(kube=cast(KubeApi, kube), namespace="ns")
    pool = WorkerPoolSpec.model_validate({"managerRef": {"name": "mgr"}})
    return asyncio.run(observe_manager(pool, context))


def test_a_manager_spec_the_model_refuses_leaves_the_pool_unlocated_saying_which_field() -> None:
    # A query in telemetryUrl: stored before the CRD refused it (validation ratcheting keeps it).
    stored = manager(
        {"mode": "External", "address": "login1:9123", "telemetryUrl": "http://a:9090/?x=1"}
    )
    look = look_from(stored)
    assert not look.observation.located and not look.observation.reachable
    assert "WorkQueueManager 'mgr'" in look.observation.why
    assert "telemetryUrl" in look.observation.why
    assert look.connection is None


def test_a_valid_manager_spec_is_located() -> None:
    # The same manager without the query: located (unreachable here: nothing listens).
    stored = manager(
        {"mode": "External", "address": "127.0.0.1:9", "telemetryUrl": "http://a:9090"}
    )
    look = look_from(stored)
    assert look.observation.located
    assert look.telemetry_url == "http://a:9090"
