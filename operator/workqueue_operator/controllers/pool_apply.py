"""Carry out a pool plan's pod actions: create its pods (built by ``k8s.pods``), delete the
named ones, and resize pods in place (updateMode InPlace), a few requests at a time. The only
place pool pods are written."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from typing import Any

from workqueue_operator.api.pool import WorkerPoolSpec
from workqueue_operator.controllers.concurrency import run_bounded
from workqueue_operator.k8s.client import KubeApi, RefusedError
from workqueue_operator.k8s.connection import ManagerConnection
from workqueue_operator.k8s.env_mount import EnvMount
from workqueue_operator.k8s.labels import RESIZE_AT_ANNOTATION, RESIZE_FROM_ANNOTATION, SHAPE_LABEL
from workqueue_operator.k8s.pods import (
    PasswordSecret,
    build_worker_pod,
    resize_patch,
    worker_pod_name,
)
from workqueue_operator.scaling.creation import CreationOutcome
from workqueue_operator.scaling.inplace import ResizeOutcome, ResizePod
from workqueue_operator.scaling.plan import PoolPlan

API_CALLS_IN_FLIGHT = 8
"""Pod creations (and deletions) of one plan sent at once. One at a time, 1,000 pods take ~20 s
on the local cluster; 8 at a time ~10 s (bench/bench_scaling.py). Below the client's connection
pool (5 per CPU)."""


@dataclass(frozen=True)
class PoolTarget:
    """Which pool the pods are for, and what every new pod needs to know."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: WorkerPoolSpec
    connection: ManagerConnection
    environment: EnvMount | None


def new_pods(plan: PoolPlan, target: PoolTarget) -> list[dict[str, Any]]:
    """The manifests of the pods the plan creates (each with a fresh random name suffix)."""
    password = target.connection.password
    return [
        build_worker_pod(
            pool=target.name,
            namespace=target.namespace,
            pool_uid=target.uid,
            pod_name=worker_pod_name(target.name, create.shape.id, secrets.token_hex(3)),
            shape=create.shape,
            spec=target.spec,
            manager=target.connection.workers,
            generation=target.generation,
            framework=target.connection.framework,
            password_secret=PasswordSecret(password.name, password.key) if password else None,
            tls=target.connection.tls is not None,
            environment=target.environment,
        )
        for create in plan.creates
        for _ in range(create.count)
    ]


async def apply_pool_plan(plan: PoolPlan, target: PoolTarget, kube: KubeApi) -> CreationOutcome:
    """Create and delete the plan's pods. After the apiserver refuses a pod (quota, admission,
    invalid) no more are sent for this plan: the same cause would refuse them all."""
    pods = new_pods(plan, target)
    refusals: list[str] = []

    def create(pod: dict[str, Any]) -> bool:
        if refusals:
            return False
        try:
            return kube.create_pod(target.namespace, pod)
        except RefusedError as refusal:
            refusals.append(refusal.message)
            return False

    created = await run_bounded(
        [functools.partial(create, pod) for pod in pods], limit=API_CALLS_IN_FLIGHT
    )
    await run_bounded(
        [functools.partial(kube.delete_pod, target.namespace, d.name) for d in plan.deletes],
        limit=API_CALLS_IN_FLIGHT,
    )
    return CreationOutcome(
        attempted=len(pods),
        created=sum(created),
        refusal=refusals[0] if refusals else None,
        refused=len(refusals),
    )


def _resize(kube: KubeApi, namespace: str, resize: ResizePod, timestamp: str) -> bool:
    """One resize: a new one relabels the pod and writes its record first (so that the scaler
    counts the pod as its new shape and a restarted operator knows the resize), then asks for
    it; one taken back asks first, then relabels and drops the record. False: the pod is gone.
    """
    labels = {SHAPE_LABEL: resize.shape.id}
    if resize.from_shape is not None:
        record: dict[str, str | None] = {
            RESIZE_FROM_ANNOTATION: resize.from_shape,
            RESIZE_AT_ANNOTATION: timestamp,
        }
        return kube.patch_pod_metadata(namespace, resize.name, labels, record) and kube.resize_pod(
            namespace, resize.name, resize_patch(resize.shape)
        )
    forget: dict[str, str | None] = {RESIZE_FROM_ANNOTATION: None, RESIZE_AT_ANNOTATION: None}
    return kube.resize_pod(
        namespace, resize.name, resize_patch(resize.shape)
    ) and kube.patch_pod_metadata(namespace, resize.name, labels, forget)


async def apply_pool_resizes(
    plan: PoolPlan, namespace: str, kube: KubeApi, *, timestamp: str
) -> ResizeOutcome:
    """Resize the plan's pods in place (and drop the records of finished resizes). A refusal
    (the node's allocatable is too small, or pods/resize is not allowed) is kept with the
    apiserver's message for the plan's next pass; it stops nothing else."""
    taken: list[str] = []
    refused: dict[str, str] = {}

    def resize(one: ResizePod) -> bool:
        try:
            if _resize(kube, namespace, one, timestamp):
                taken.append(one.name)
                return True
        except RefusedError as refusal:
            refused[one.name] = refusal.message
        return False

    forget: dict[str, str | None] = {RESIZE_FROM_ANNOTATION: None, RESIZE_AT_ANNOTATION: None}
    await run_bounded(
        [
            *(functools.partial(resize, one) for one in plan.resizes),
            *(
                functools.partial(kube.patch_pod_metadata, namespace, name, {}, forget)
                for name in plan.in_place.finished
            ),
        ],
        limit=API_CALLS_IN_FLIGHT,
    )
    return ResizeOutcome(taken=tuple(sorted(taken)), refused=refused)
