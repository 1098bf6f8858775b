"""WorkerPool: gather what a pool looks like, plan (``scaling.plan.plan_pool``), apply the plan's
pod actions (``pool_apply``) and hand the settled status to the reconcile loop. Glue only."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import kopf

from workqueue_operator.api.acceptance import ACCEPTED, Verdict, judge_pool, parse_spec
from workqueue_operator.api.common import now
from workqueue_operator.api.env import PonchoEnvSpec, PonchoEnvStatus
from workqueue_operator.api.manager import WorkQueueManagerSpec
from workqueue_operator.api.pool import SizingMode, WorkerPoolSpec
from workqueue_operator.api.ready import ReadyRule
from workqueue_operator.controllers import metrics
from workqueue_operator.controllers.kinds import ENVS, MANAGERS, POOLS
from workqueue_operator.controllers.loop import Context, Kind, Outcome, Pass, Probe, on_event
from workqueue_operator.controllers.pool_apply import (
    PoolTarget,
    apply_pool_plan,
    apply_pool_resizes,
)
from workqueue_operator.controllers.reach import status_client
from workqueue_operator.k8s.connection import (
    ManagerConnection,
    manager_connection,
    pool_connection,
    telemetry_url,
)
from workqueue_operator.k8s.env_mount import EnvMount, env_mount, image_conflict
from workqueue_operator.k8s.labels import pool_selector
from workqueue_operator.managers.status import ManagerPoll
from workqueue_operator.scaling.cadence import (
    answer_fingerprint,
    is_quiet_pass,
    pool_cadence,
)
from workqueue_operator.scaling.creation import PODS_CREATED, CreationOutcome
from workqueue_operator.scaling.inplace import ResizeOutcome
from workqueue_operator.scaling.plan import (
    ENVIRONMENT_READY,
    ManagerObservation,
    PoolMemory,
    PoolObservation,
    TelemetryObservation,
    plan_pool,
    settle_pool,
)
from workqueue_operator.telemetry.client import AgentUnavailableError, fetch_samples
from workqueue_operator.wq.status import StatusClient, StatusError, parse_categories


@dataclass(frozen=True)
class ManagerLook:
    """What a pass learnt about the pool's manager: the observation the plan reads, how workers
    reach the manager, where its telemetry agent answers, and the status client a probe can
    ask again (None when the manager could not be asked)."""

    observation: ManagerObservation
    connection: ManagerConnection | None
    telemetry_url: str | None
    client: StatusClient | None = None
    category_rows: Sequence[dict[str, Any]] = ()
    """``wable_status`` as the manager sent it (what a probe compares its answers with)."""


async def observe_manager(spec: WorkerPoolSpec, context: Context) -> ManagerLook:
    """The pool's manager: its backlog per category and connected workers, how workers reach
    it, and where its telemetry agent answers."""
    namespace, kube = context.namespace, context.kube
    manager_conn: ManagerConnection | None = None
    telemetry = spec.sizing.telemetry_url
    if spec.manager_ref is not None:
        obj = await asyncio.to_thread(context.read, MANAGERS[2], spec.manager_ref.name)
        if obj is not None:
            manager_spec = parse_spec(WorkQueueManagerSpec, obj.get("spec") or {})
            if isinstance(manager_spec, Verdict):  # stored before a stricter CRD
                why = f"WorkQueueManager {spec.manager_ref.name!r}: {manager_spec.message}"
                return ManagerLook(ManagerObservation(False, False, why), None, telemetry)
            manager_conn = manager_connection(spec.manager_ref.name, namespace, manager_spec)
            telemetry = telemetry or telemetry_url(spec.manager_ref.name, namespace, manager_spec)
    connection = pool_connection(spec, manager_conn)
    if connection is None:
        gone = ManagerObservation(False, False, "the WorkQueueManager is gone")
        return ManagerLook(gone, None, telemetry)
    client = await status_client(connection, namespace, kube)
    if isinstance(client, ManagerPoll):
        unanswered = ManagerObservation(True, False, client.describe())
        return ManagerLook(unanswered, connection, telemetry)
    try:
        rows = await client.raw("wable_status")
        workers = await client.worker_status()
    except StatusError as error:
        why = f"{client.address}: {error}"
        return ManagerLook(ManagerObservation(True, False, why), connection, telemetry)
    seen = ManagerObservation(True, True, "", parse_categories(rows), workers)
    return ManagerLook(seen, connection, telemetry, client, rows)


def pool_probe(
    p: Pass[WorkerPoolSpec, PoolMemory],
    client: StatusClient,
    category_rows: Sequence[dict[str, Any]],
    every_seconds: float,
) -> Probe:
    """Between a quiet pool's passes: have its manager's categories or its pods moved since this
    pass saw them? One ``wable_status`` request and a counter read per probe."""
    namespace, name, kube = p.namespace, p.name, p.kube
    pods_seen = kube.pool_changes(namespace, name)
    rows_seen = answer_fingerprint(category_rows)

    async def changed() -> bool:
        if kube.pool_changes(namespace, name) != pods_seen:
            return True
        try:
            return answer_fingerprint(await client.raw("wable_status")) != rows_seen
        except StatusError:
            return True  # the pass says why

    return Probe(every_seconds, changed)


async def observe_environment(
    spec: WorkerPoolSpec, context: Context
) -> tuple[Verdict, EnvMount | None]:
    """The pool's PonchoEnv: the EnvironmentReady verdict, and the pod parts that use it."""
    if spec.env_ref is None:
        return Verdict(True, "NoEnvironment", "the pool names no PonchoEnv"), None
    obj = await asyncio.to_thread(context.read, ENVS[2], spec.env_ref.name)
    name = spec.env_ref.name
    if obj is None:
        return Verdict(False, "EnvironmentNotFound", f"PonchoEnv {name!r} does not exist"), None
    env_status = PonchoEnvStatus.model_validate(obj.get("status") or {})
    try:
        env_spec = PonchoEnvSpec.model_validate(obj.get("spec", {}))
        mount = env_mount(env_spec, env_status)
    except ValueError as error:
        return Verdict(False, "EnvironmentUnusable", str(error)), None
    if mount is None:
        phase = env_status.phase or "Pending"
        message = f"PonchoEnv {name!r} is {phase}: no worker pods until it is Ready"
        return Verdict(False, "EnvironmentNotReady", message), None
    conflict = image_conflict(spec.image, env_spec, mount)
    if conflict is not None:
        return Verdict(False, "ImageConflict", conflict), None
    return Verdict(True, "EnvironmentReady", f"tasks run in {env_status.artifact}"), mount


async def observe_telemetry(spec: WorkerPoolSpec, url: str | None) -> TelemetryObservation:
    """Recent samples from the telemetry agent (sizing mode Buckets only)."""
    if spec.sizing.mode is not SizingMode.BUCKETS:
        return TelemetryObservation()
    if url is None:
        return TelemetryObservation(problem="no telemetry agent is known for this pool")
    try:
        return TelemetryObservation(samples=await fetch_samples(url))
    except AgentUnavailableError as error:
        return TelemetryObservation(problem=f"telemetry agent unavailable: {error}")


async def reconcile_pool(p: Pass[WorkerPoolSpec, PoolMemory]) -> Outcome[PoolMemory]:
    """One pass over an accepted WorkerPool; a quiet one (``scaling.cadence``) backs off its next
    pass and leaves a probe that starts it as soon as the manager or the pods move."""
    spec, kube, ns = p.spec, p.kube, p.namespace
    manager = await observe_manager(spec, p.context)
    connection = manager.connection
    environment, mount = await observe_environment(spec, p.context)
    telemetry = await observe_telemetry(spec, manager.telemetry_url)
    pods = await asyncio.to_thread(kube.pool_pods, ns, p.name)
    observation = PoolObservation(
        spec, p.status, p.generation, manager.observation, environment, telemetry, pods,
        time.time(),
    )  # fmt: skip
    plan = await asyncio.to_thread(plan_pool, observation, p.memory)
    outcome = CreationOutcome(attempted=0, created=0)
    if connection is not None and (plan.creates or plan.deletes):
        target = PoolTarget(p.name, ns, p.uid, p.generation, spec, connection, mount)
        outcome = await apply_pool_plan(plan, target, kube)
    if outcome.refusal is not None:
        p.logger.warning(f"the apiserver refused a worker pod: {outcome.refusal}")
    resizes = ResizeOutcome()
    if plan.resizes or plan.in_place.finished:
        resizes = await apply_pool_resizes(plan, ns, kube, timestamp=api_time())
    for pod, refusal in resizes.refused.items():
        p.logger.warning(f"the apiserver refused to resize pod {pod}: {refusal}")
    result = settle_pool(observation, plan, outcome, timestamp=api_time(), resizes=resizes)
    metrics.record_pool(ns, p.name, result.figures, plan.recommendations)
    if result.figures.scaled:
        p.logger.info(f"scaled: {dict(result.figures.scaled)}; {plan.decision.reason}")
    status = result.status | {"selector": pool_selector(p.name)}
    quiet = is_quiet_pass(
        manager_reachable=manager.observation.reachable,
        environment_ready=environment.accepted,
        acted=bool(plan.creates or plan.deletes or plan.resizes or plan.in_place.finished),
        events=len(result.events),
        stored_status=p.status,
        status=status,
    )
    memory = replace(result.memory, quiet_passes=result.memory.quiet_passes + 1 if quiet else 0)
    cadence = pool_cadence(
        spec,
        quiet_passes=memory.quiet_passes,
        idle_since=memory.idle_since,
        last_scale_up=memory.last_scale_up,
        now=observation.now,
    )
    probe = None
    if cadence.probe_every_seconds is not None and manager.client is not None:
        probe = pool_probe(p, manager.client, manager.category_rows, cadence.probe_every_seconds)
    return Outcome(status, memory, cadence.pass_after_seconds, result.events, probe)


def api_time() -> str:
    """Now, as the API writes times."""
    return now().isoformat().replace("+00:00", "Z")


POOL = Kind(
    name="WorkerPool",
    plural=POOLS[2],
    spec_model=WorkerPoolSpec,
    accepted_phase="Running",
    judge=lambda spec, context: judge_pool(
        spec, managers=context.names("managers"), environments=context.names("envs")
    ),
    reconcile=reconcile_pool,
    new_memory=PoolMemory,
    # Not PodsRunning: pods waiting for room (a cluster autoscaler's new node) are a pool's
    # normal life; PodsRunning says it, Ready does not flap with it.
    ready=ReadyRule((ACCEPTED, ENVIRONMENT_READY), when_set=(PODS_CREATED,)),
    rejected_status=lambda name: {"selector": pool_selector(name)},
    forget=metrics.forget_pool,
    release=lambda kube, namespace, name: kube.release_pool_pods(namespace, name),
)


@kopf.on.event(*POOLS)
async def watch(
    *,
    manager_names: kopf.Index[str, str] | None = None,
    env_names: kopf.Index[str, str] | None = None,
    **kwargs: Any,
) -> None:
    """Each WorkerPool's watch events start, wake and stop its loop."""
    await on_event(POOL, indexes={"managers": manager_names, "envs": env_names}, **kwargs)
