"""WorkerPool: one daemon per object that checks it, reads the manager's backlog and workers,
decides, creates and deletes worker pods, and writes what it did. Glue only: the decision is
``scaling.decide_scaling``; pods come from ``k8s.pods.build_worker_pod``."""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any

import kopf

from workqueue_operator.api.acceptance import Verdict, judge_pool
from workqueue_operator.api.common import now
from workqueue_operator.api.env import PonchoEnvSpec, PonchoEnvStatus
from workqueue_operator.api.manager import WorkQueueManagerSpec
from workqueue_operator.api.pool import CategoryRecommendation, SizingMode, WorkerPoolSpec
from workqueue_operator.controllers import metrics
from workqueue_operator.controllers.concurrency import run_bounded
from workqueue_operator.controllers.conditions import (
    accept_spec,
    post_verdict,
    verdict_condition,
)
from workqueue_operator.controllers.kinds import ENVS, MANAGERS, POOLS
from workqueue_operator.controllers.manager import status_client
from workqueue_operator.k8s.client import KubeApi, RefusedError
from workqueue_operator.k8s.connection import (
    ManagerConnection,
    manager_connection,
    pool_connection,
    telemetry_url,
)
from workqueue_operator.k8s.env_mount import EnvMount, env_mount
from workqueue_operator.k8s.labels import pool_selector
from workqueue_operator.k8s.observe import pod_views
from workqueue_operator.k8s.pods import PasswordSecret, build_worker_pod, worker_pod_name
from workqueue_operator.managers.status import ManagerPoll
from workqueue_operator.scaling import (
    PodPhase,
    PodView,
    PoolPolicy,
    ScalingDecision,
    ScalingInputs,
    WorkerView,
    decide_scaling,
    track_idle_since,
    worker_host_key,
)
from workqueue_operator.scaling.creation import (
    PODS_CREATED,
    CreationOutcome,
    creation_verdict,
    worth_an_event,
)
from workqueue_operator.scaling.observe import category_demands, estimate_waste, worker_views
from workqueue_operator.scaling.pool_shapes import recreate_victims, shapes_and_demands
from workqueue_operator.sizing.recommend import recommend
from workqueue_operator.sizing.resources import DEFAULT_MACHINE
from workqueue_operator.telemetry.client import AgentUnavailableError, fetch_samples
from workqueue_operator.values.quantities import MB_BYTES
from workqueue_operator.wq.status import StatusError
from workqueue_operator.wq.status_models import CategoryStatus, WorkerStatus

PLURAL = POOLS[2]
ENVIRONMENT_READY = "EnvironmentReady"
INVALID_RECHECK_S = 10.0
API_CALLS_IN_FLIGHT = 8
"""Pod creations (and deletions) of one scaling decision sent at once. One at a time, 1,000 pods
take ~20 s on the local cluster; 8 at a time ~10 s (bench/bench_scaling.py). Below the client's
connection pool (5 per CPU)."""
COUNTED_PHASES = frozenset({PodPhase.PENDING, PodPhase.RUNNING, PodPhase.UNKNOWN})


def _names(index: kopf.Index[str, str] | None, namespace: str) -> set[str]:
    """Names an index holds for one namespace (none before the index is filled)."""
    return set(index.get(namespace, [])) if index is not None else set()


@dataclass
class PoolMemory:
    """What a pool's daemon carries from one decision to the next (lost on restart, which
    only makes the scaler more patient: idle clocks start again)."""

    idle_since: dict[str, float]
    last_scale_up: float | None


@dataclass(frozen=True)
class ManagerView:
    """The manager as one poll saw it: reachable or not, its backlog and workers."""

    connection: ManagerConnection | None
    reachable: bool
    why: str
    categories: list[CategoryStatus]
    workers: list[WorkerStatus]
    telemetry_url: str | None = None


async def observe_manager(spec: WorkerPoolSpec, namespace: str, kube: KubeApi) -> ManagerView:
    """The pool's manager: its connection, backlog per category and connected workers."""
    manager_conn: ManagerConnection | None = None
    telemetry = spec.sizing.telemetry_url
    if spec.manager_ref is not None:
        obj = await asyncio.to_thread(
            kube.get_custom, MANAGERS[2], namespace, spec.manager_ref.name
        )
        if obj is not None:
            manager_spec = WorkQueueManagerSpec.model_validate(obj.get("spec", {}))
            manager_conn = manager_connection(spec.manager_ref.name, namespace, manager_spec)
            telemetry = telemetry or telemetry_url(spec.manager_ref.name, namespace, manager_spec)
    connection = pool_connection(spec, manager_conn)
    if connection is None:
        return ManagerView(None, False, "the WorkQueueManager is gone", [], [])
    client = await status_client(connection, namespace, kube)
    if isinstance(client, ManagerPoll):
        return ManagerView(connection, False, client.describe(), [], [], telemetry)
    try:
        categories = await client.wable_status()
        workers = await client.worker_status()
    except StatusError as error:
        return ManagerView(connection, False, f"{client.address}: {error}", [], [], telemetry)
    return ManagerView(connection, True, "", categories, workers, telemetry)


async def recommendations(
    spec: WorkerPoolSpec,
    telemetry: str | None,
    previous: list[CategoryRecommendation],
    logger: kopf.Logger,
) -> list[CategoryRecommendation]:
    """Bucket recommendations from the telemetry agent's samples (the previous ones when the
    agent cannot be read: sizes never change on missing data)."""
    if spec.sizing.mode is not SizingMode.BUCKETS:
        return []
    if telemetry is None:
        logger.warning("sizing mode Buckets but no telemetry agent is known for this pool")
        return previous
    try:
        samples = await fetch_samples(telemetry)
    except AgentUnavailableError as error:
        logger.warning("telemetry agent unavailable", extra={"error": str(error)})
        return previous
    return await asyncio.to_thread(recommend, samples, spec.sizing, DEFAULT_MACHINE, previous)


def _password(connection: ManagerConnection | None) -> PasswordSecret | None:
    if connection is None or connection.password is None:
        return None
    return PasswordSecret(connection.password.name, connection.password.key)


def _pool_workers(workers: list[WorkerView], pod_names: set[str]) -> list[WorkerView]:
    return [w for w in workers if worker_host_key(w.hostname) in pod_names]


async def apply_decision(
    decision: ScalingDecision,
    *,
    name: str,
    namespace: str,
    uid: str,
    generation: int,
    spec: WorkerPoolSpec,
    policy: PoolPolicy,
    connection: ManagerConnection,
    kube: KubeApi,
    environment: EnvMount | None,
    may_create: bool,
) -> CreationOutcome:
    """Create and delete the decided pods. Nothing is created when ``may_create`` is false
    (the pool's environment is not ready); after the apiserver refuses a pod (quota,
    admission, invalid) no more are sent for this decision."""
    pods: list[dict[str, Any]] = []
    for shape_id, count in decision.create.items() if may_create else ():
        shape = policy.shape(shape_id)
        if shape is None:
            continue
        pods += [
            build_worker_pod(
                pool=name,
                namespace=namespace,
                pool_uid=uid,
                pod_name=worker_pod_name(name, shape_id, secrets.token_hex(3)),
                shape=shape,
                spec=spec,
                manager=connection.workers,
                generation=generation,
                framework=connection.framework,
                password_secret=_password(connection),
                environment=environment,
            )
            for _ in range(count)
        ]
    refusals: list[str] = []

    def create(pod: dict[str, Any]) -> bool:
        if refusals:
            return False
        try:
            return kube.create_pod(namespace, pod)
        except RefusedError as refusal:
            refusals.append(refusal.message)
            return False

    created = await run_bounded(
        [functools.partial(create, pod) for pod in pods], limit=API_CALLS_IN_FLIGHT
    )
    await run_bounded(
        [
            functools.partial(kube.delete_pod, namespace, pod_name)
            for pod_name in (*decision.delete, *decision.delete_finished)
        ],
        limit=API_CALLS_IN_FLIGHT,
    )
    return CreationOutcome(
        attempted=len(pods),
        created=sum(created),
        refusal=refusals[0] if refusals else None,
        refused=len(refusals),
    )


def pool_status_fields(
    *,
    name: str,
    generation: int,
    decision: ScalingDecision,
    live_pods: int,
    created: int,
    workers: list[WorkerView],
    last_scale_time: str | None,
) -> dict[str, Any]:
    """The status a decision leaves: counts after the actions it took."""
    busy = sum(1 for w in workers if w.busy)
    return {
        "observedGeneration": generation,
        "selector": pool_selector(name),
        "replicas": max(0, live_pods + created - len(decision.delete)),
        "workersConnected": len(workers),
        "workersBusy": busy,
        "workersIdle": len(workers) - busy,
        "desiredReplicas": decision.desired_replicas,
        "desiredReason": decision.reason,
        "lastScaleTime": last_scale_time,
    }


async def environment_of(
    spec: WorkerPoolSpec, namespace: str, kube: KubeApi
) -> tuple[EnvMount | None, Verdict]:
    """The pool's PonchoEnv as pod parts, and the EnvironmentReady verdict."""
    if spec.env_ref is None:
        return None, Verdict(True, "NoEnvironment", "the pool names no PonchoEnv")
    obj = await asyncio.to_thread(kube.get_custom, ENVS[2], namespace, spec.env_ref.name)
    if obj is None:
        return None, Verdict(
            False, "EnvironmentNotFound", f"PonchoEnv {spec.env_ref.name!r} does not exist"
        )
    env_spec = PonchoEnvSpec.model_validate(obj.get("spec", {}))
    env_status = PonchoEnvStatus.model_validate(obj.get("status") or {})
    try:
        mount = env_mount(env_spec, env_status)
    except ValueError as error:
        return None, Verdict(False, "EnvironmentUnusable", str(error))
    if mount is None:
        phase = env_status.phase or "Pending"
        return None, Verdict(
            False,
            "EnvironmentNotReady",
            f"PonchoEnv {spec.env_ref.name!r} is {phase}: no worker pods until it is Ready",
        )
    return mount, Verdict(True, "EnvironmentReady", f"tasks run in {env_status.artifact}")


def shape_phase_counts(pods: list[PodView]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for pod in pods:
        key = (pod.shape_id, str(pod.phase))
        counts[key] = counts.get(key, 0) + 1
    return counts


async def reconcile_pool(
    *,
    name: str,
    ns: str,
    body: kopf.Body,
    state: PoolMemory,
    kube: KubeApi,
    logger: kopf.Logger,
    managers: set[str],
    environments: set[str],
) -> float:
    """One pass over a WorkerPool; returns the seconds until the next one."""
    generation = int(body.metadata.get("generation") or 0)
    status = dict(body.status)
    acceptance = await accept_spec(
        WorkerPoolSpec,
        body.spec,
        lambda spec: judge_pool(spec, managers=managers, environments=environments),
        body=body,
        status=status,
        generation=generation,
        accepted_phase="Running",
    )
    fields, spec = acceptance.fields, acceptance.spec
    if spec is None:
        fields["selector"] = pool_selector(name)
        await asyncio.to_thread(kube.patch_custom_status, PLURAL, ns, name, fields)
        return INVALID_RECHECK_S

    manager = await observe_manager(spec, ns, kube)
    environment, env_verdict = await environment_of(spec, ns, kube)
    conditions, env_changed = verdict_condition(
        status | fields, type_=ENVIRONMENT_READY, verdict=env_verdict, generation=generation
    )
    fields["conditions"] = conditions
    if env_changed and spec.env_ref is not None:
        post_verdict(body, env_verdict)
    previous = [
        CategoryRecommendation.model_validate(r) for r in status.get("recommendations") or []
    ]
    recs = await recommendations(spec, manager.telemetry_url, previous, logger)
    shapes, demands = shapes_and_demands(spec, category_demands(manager.categories), recs)
    policy = PoolPolicy.from_spec(spec, shapes=shapes)
    pods = pod_views(await asyncio.to_thread(kube.list_pods, ns, pool_selector(name)))
    pod_names = {p.name for p in pods}
    workers = _pool_workers(worker_views(manager.workers), pod_names)
    at = time.time()
    state.idle_since = track_idle_since(state.idle_since, workers, at)
    decision = decide_scaling(
        ScalingInputs(
            policy=policy,
            queue=demands,
            pods=pods,
            workers=workers,
            idle_since=state.idle_since,
            now=at,
            last_scale_up=state.last_scale_up,
            manager_reachable=manager.reachable,
        )
    )
    recreate = [
        name_
        for name_ in recreate_victims(
            spec,
            shapes=shapes,
            pods=pods,
            workers=workers,
            idle_since=state.idle_since,
            now=at,
        )
        if name_ not in decision.delete
    ]
    if recreate and manager.reachable:
        decision = replace(
            decision,
            delete=(*decision.delete, *recreate),
            reason=f"{decision.reason}; replacing {len(recreate)} idle pod(s) of an old shape",
        )
    outcome = CreationOutcome(attempted=0, created=0)
    if decision.changes_pods and manager.connection is not None:
        outcome = await apply_decision(
            decision,
            name=name,
            namespace=ns,
            uid=body.metadata.uid or "",
            generation=generation,
            spec=spec,
            policy=policy,
            connection=manager.connection,
            kube=kube,
            environment=environment,
            may_create=env_verdict.accepted,
        )
    created = outcome.created
    creation = creation_verdict(outcome)
    if creation is not None:
        fields["conditions"], changed = verdict_condition(
            status | fields, type_=PODS_CREATED, verdict=creation, generation=generation
        )
        if changed and worth_an_event(creation, status):
            post_verdict(body, creation)
        if outcome.refusal is not None:
            logger.warning("the apiserver refused a worker pod", extra={"refusal": outcome.refusal})
    scaled = bool(created or decision.delete)
    if created:
        state.last_scale_up = at
    metrics.record_scale(ns, name, "up", str(decision.kind), created)
    metrics.record_refused_pods(ns, name, outcome.refused)
    metrics.record_scale(ns, name, "down", str(decision.kind), len(decision.delete))
    metrics.set_pool_pods(ns, name, shape_phase_counts(pods))
    metrics.set_buckets(ns, name, metrics.buckets_from_recommendations(recs))
    waste_mb, waste_cores = estimate_waste(pods, workers, policy)
    metrics.set_waste(ns, name, memory_bytes=waste_mb * MB_BYTES, cores=waste_cores)
    if scaled:
        kopf.info(body, reason=str(decision.kind), message=decision.reason)
        logger.info(
            "scaled",
            extra={"pods_created": created, "pods_deleted": list(decision.delete)},
        )
    last_scale_time = (
        now().isoformat().replace("+00:00", "Z") if scaled else status.get("lastScaleTime")
    )
    fields["recommendations"] = [r.to_api() for r in recs]
    fields |= pool_status_fields(
        name=name,
        generation=generation,
        decision=decision,
        live_pods=sum(1 for p in pods if p.phase in COUNTED_PHASES),
        created=created,
        workers=workers,
        last_scale_time=last_scale_time,
    )
    await asyncio.to_thread(kube.patch_custom_status, PLURAL, ns, name, fields)
    return float(spec.autoscale.poll_interval_seconds)


@kopf.daemon(*POOLS, cancellation_timeout=10)
async def manage(
    *,
    stopped: kopf.DaemonStopped,
    name: str,
    namespace: str | None,
    body: kopf.Body,
    memo: Any,
    logger: kopf.Logger,
    manager_names: kopf.Index[str, str] | None = None,
    env_names: kopf.Index[str, str] | None = None,
    **_: Any,
) -> None:
    ns = namespace or ""
    state = PoolMemory(idle_since={}, last_scale_up=None)
    while not stopped:
        with metrics.reconcile("WorkerPool"):
            interval = await reconcile_pool(
                name=name,
                ns=ns,
                body=body,
                state=state,
                kube=memo.kube,
                logger=logger,
                managers=_names(manager_names, ns),
                environments=_names(env_names, ns),
            )
        await stopped.wait(interval)
    if stopped.reason is not None and kopf.DaemonStoppingReason.RESOURCE_DELETED in stopped.reason:
        metrics.forget_pool(ns, name)
