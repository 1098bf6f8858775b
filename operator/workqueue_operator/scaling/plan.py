"""One WorkerPool pass as pure functions: what the pool looks like (``PoolObservation``), what to
do about it (``plan_pool`` -> ``PoolPlan``), and what the pass leaves once the plan is applied
(``settle_pool`` -> ``PoolResult``: status, Events, memory, metric figures).

The controller gathers the observation, applies the plan's pod actions and writes the result;
every choice is made here. Each action carries its own kind and reason, so a pod deleted to
scale down, a pod replaced because its shape is out of date (Recreate) and a finished pod
cleaned up are counted and announced as what they are. With updateMode InPlace, idle pods of
an old shape are resized in place (``scaling.inplace``) before the scaling decision, which
counts them as their new shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from workqueue_operator.api.acceptance import (
    Event,
    EventType,
    Verdict,
    condition_news,
    verdict_condition,
)
from workqueue_operator.api.pool import CategoryRecommendation, SizingMode, WorkerPoolSpec
from workqueue_operator.scaling.creation import (
    PODS_CREATED,
    CreationOutcome,
    creation_verdict,
)
from workqueue_operator.scaling.decision import DecisionKind, ScalingDecision, decide_scaling
from workqueue_operator.scaling.inplace import (
    InPlaceInputs,
    InPlacePlan,
    ResizeOutcome,
    ResizePod,
    in_place,
    plan_in_place,
)
from workqueue_operator.scaling.inputs import (
    LIVE_PHASES,
    PodView,
    PoolPolicy,
    ScalingInputs,
    WorkerView,
)
from workqueue_operator.scaling.observe import category_demands, estimate_waste, worker_views
from workqueue_operator.scaling.pool_shapes import recreate_victims, shapes_and_demands
from workqueue_operator.scaling.resize_status import settle_resizes
from workqueue_operator.scaling.stuck_pods import (
    outdated_stuck_pods,
    pods_running_condition,
    stuck_pod_counts,
    workerless,
)
from workqueue_operator.scaling.workers import track_idle_since, worker_host_key
from workqueue_operator.sizing.recommend import bucket_shape, recommend
from workqueue_operator.sizing.resources import DEFAULT_MACHINE, Allocation
from workqueue_operator.values.samples import Sample
from workqueue_operator.values.shapes import WorkerShape
from workqueue_operator.wq.status_models import CategoryStatus, WorkerStatus

ENVIRONMENT_READY = "EnvironmentReady"
TELEMETRY_AVAILABLE = "TelemetryAvailable"
"""Buckets pools: whether the telemetry agent's samples could be read this pass."""


# --- what the controller gathers ---------------------------------------------------------------
@dataclass(frozen=True)
class ManagerObservation:
    """The pool's manager as one poll saw it."""

    located: bool
    """Whether the operator knows where the manager is (its WorkQueueManager exists): without
    that, workers could not be told where to connect and no pod is created or deleted."""
    reachable: bool
    why: str = ""
    """Why it is not reachable."""
    categories: Sequence[CategoryStatus] = ()
    workers: Sequence[WorkerStatus] = ()


@dataclass(frozen=True)
class TelemetryObservation:
    """Recent task samples per category from the telemetry agent, or why there are none."""

    samples: Mapping[str, Sequence[Sample]] | None = None
    problem: str | None = None


@dataclass(frozen=True)
class PoolObservation:
    """Everything one pass decides from."""

    spec: WorkerPoolSpec
    status: Mapping[str, Any]
    """The pool's status as stored (with this pass's Accepted condition merged in)."""
    generation: int
    manager: ManagerObservation
    environment: Verdict
    """Whether the PonchoEnv the pool names (if any) is Ready: no pods are created until then."""
    telemetry: TelemetryObservation
    pods: Sequence[PodView]
    now: float


@dataclass(frozen=True)
class PoolMemory:
    """What a pool's passes carry from one to the next (lost on restart, which only makes the
    scaler more patient: idle clocks start again)."""

    idle_since: Mapping[str, float] = field(default_factory=dict)
    last_scale_up: float | None = None
    resize_refused: Mapping[str, str] = field(default_factory=dict)
    """Pods whose in-place resize the apiserver refused in the last pass (a refusal leaves
    nothing on the pod; forgotten on restart, the resize is asked for and refused once more)."""
    resize_deferred: frozenset[str] = frozenset()
    """Pods whose resize under way was seen Deferred (so it is counted once)."""
    connected: frozenset[str] = frozenset()
    """Pods whose worker has been seen connected to the manager. When such a pod fails it does
    not count towards a crash loop: its image, arguments and password worked, and it was killed
    or lost (forgotten on restart: a pod killed soon after counts once more)."""
    quiet_passes: int = 0
    """Passes in a row that changed nothing (``scaling.cadence``): how far the next one backs
    off."""


# --- what the plan says to do ------------------------------------------------------------------
class DeleteKind(StrEnum):
    """Why a pod is deleted; also the metric's and the Event's reason."""

    SCALE_DOWN = "ScaleDown"
    """A surplus pod (pending, or with an idle worker) goes."""
    RECREATE = "Recreate"
    """An idle pod whose shape is off every recommended one goes; its replacement is created in
    a recommended shape by a later pass."""
    CLEAN_UP = "CleanUp"
    """A finished pod (its worker exited) is removed; not a scale action."""
    OUTDATED = "Outdated"
    """A pod that cannot run, made from an older spec, goes; its replacement is created from the
    current spec by a later pass (``stuck_pods.outdated_stuck_pods``)."""


@dataclass(frozen=True)
class CreatePods:
    shape: WorkerShape
    count: int


@dataclass(frozen=True)
class DeletePod:
    name: str
    kind: DeleteKind
    why: str = ""
    """Why this pod (InPlace: why it is recreated rather than resized)."""


@dataclass(frozen=True)
class PoolPlan:
    """A pass's actions and what it knows before applying them."""

    creates: tuple[CreatePods, ...]
    deletes: tuple[DeletePod, ...]
    decision: ScalingDecision
    policy: PoolPolicy
    recommendations: tuple[CategoryRecommendation, ...]
    workers: tuple[WorkerView, ...]
    """The connected workers that run in this pool's pods."""
    status: Mapping[str, Any]
    """Status fields known before applying (conditions, recommendations)."""
    events: tuple[Event, ...]
    memory: PoolMemory
    in_place: InPlacePlan = field(default_factory=InPlacePlan)
    """updateMode InPlace: resizes, resize records to drop, and what the pass knows of them."""

    @property
    def resizes(self) -> tuple[ResizePod, ...]:
        return self.in_place.resizes

    @property
    def create_count(self) -> int:
        return sum(c.count for c in self.creates)

    def deleted(self, kind: DeleteKind) -> list[str]:
        return [d.name for d in self.deletes if d.kind is kind]


def pool_recommendations(
    spec: WorkerPoolSpec,
    telemetry: TelemetryObservation,
    previous: Sequence[CategoryRecommendation],
    machine: Allocation = DEFAULT_MACHINE,
) -> list[CategoryRecommendation]:
    """Bucket recommendations from the telemetry agent's samples; the previous ones when the
    samples cannot be read (sizes never change on missing data); none unless sizing is
    Buckets."""
    if spec.sizing.mode is not SizingMode.BUCKETS:
        return []
    if telemetry.samples is None:
        return list(previous)
    return recommend(telemetry.samples, spec.sizing, machine, previous)


def telemetry_condition(
    status: Mapping[str, Any], telemetry: TelemetryObservation, *, kept: int, generation: int
) -> tuple[list[dict[str, Any]], list[Event]]:
    """The TelemetryAvailable condition of a Buckets pool, and an Event when it changes: when
    the samples cannot be read the pool keeps its last recommended shapes (``kept`` of them) or,
    with none yet, gives pods the declared worker size."""
    ok = telemetry.samples is not None
    if ok:
        reason, message = "SamplesRead", "recommendations follow the telemetry agent's samples"
    else:
        fallback = (
            f"keeping the last recommended shapes ({kept} categories)"
            if kept
            else "pods get the declared worker size"
        )
        reason, message = "TelemetryUnavailable", f"{telemetry.problem}; {fallback}"
    verdict = Verdict(ok, reason, message)
    return condition_news(status, type_=TELEMETRY_AVAILABLE, verdict=verdict, generation=generation)


def _pool_workers(observation: PoolObservation) -> list[WorkerView]:
    pod_names = {p.name for p in observation.pods}
    return [
        w
        for w in worker_views(observation.manager.workers)
        if worker_host_key(w.hostname) in pod_names
    ]


def plan_pool(
    observation: PoolObservation, memory: PoolMemory, machine: Allocation = DEFAULT_MACHINE
) -> PoolPlan:
    """The actions of one pass over a WorkerPool, from what it observed and remembers."""
    spec, now = observation.spec, observation.now
    conditions, env_changed = verdict_condition(
        observation.status,
        type_=ENVIRONMENT_READY,
        verdict=observation.environment,
        generation=observation.generation,
    )
    events = [observation.environment.event()] if env_changed and spec.env_ref else []
    previous = [
        CategoryRecommendation.model_validate(r)
        for r in observation.status.get("recommendations") or []
    ]
    recs = pool_recommendations(spec, observation.telemetry, previous, machine)
    if spec.sizing.mode is SizingMode.BUCKETS:
        conditions, telemetry_event = telemetry_condition(
            {**observation.status, "conditions": conditions},
            observation.telemetry,
            kept=len(previous),
            generation=observation.generation,
        )
        events += telemetry_event
    conditions, stuck_events = pods_running_condition(
        {**observation.status, "conditions": conditions},
        observation.pods,
        generation=observation.generation,
    )
    events += stuck_events
    manager = observation.manager
    shapes, demands = shapes_and_demands(spec, category_demands(manager.categories), recs)
    policy = PoolPolicy.from_spec(spec, shapes=shapes)
    workers = _pool_workers(observation)
    idle_since = track_idle_since(memory.idle_since, workers, now)
    pod_names = {p.name for p in observation.pods}
    connected = frozenset(
        name
        for name in memory.connected | {worker_host_key(w.hostname) for w in workers}
        if name in pod_names
    )
    inplace = plan_in_place(
        InPlaceInputs(
            spec=spec,
            recommended=_recommended_shapes(recs),
            pods=observation.pods,
            workers=workers,
            idle_since=idle_since,
            now=now,
            manager_reachable=manager.reachable,
            refused=memory.resize_refused,
            deferred_seen=memory.resize_deferred,
        )
    )
    decision = decide_scaling(
        ScalingInputs(
            policy=policy,
            queue=demands,
            pods=inplace.pods,
            workers=workers,
            idle_since=idle_since,
            now=now,
            last_scale_up=memory.last_scale_up,
            manager_reachable=manager.reachable,
            connected_pods=connected,
        )
    )
    recreate = [
        name
        for name in recreate_victims(
            spec,
            shapes=shapes,
            pods=observation.pods,
            workers=workers,
            idle_since=idle_since,
            now=now,
        )
        if name not in decision.delete and manager.reachable
    ]
    if recreate:
        more = f"; replacing {len(recreate)} idle pod(s) of an old shape"
        decision = replace(decision, reason=decision.reason + more)
    # Never a pod with a busy worker (a crash-looping container may have come back with one),
    # nor a Running one while the manager cannot say which workers are busy.
    busy_hosts = {worker_host_key(w.hostname) for w in workers if w.busy}
    no_worker = {p.name for p in observation.pods if workerless(p)}
    outdated = [
        name
        for name in outdated_stuck_pods(observation.pods, observation.generation)
        if name not in decision.delete
        and name not in recreate
        and name not in busy_hosts
        and (manager.reachable or name in no_worker)
    ]
    if outdated:
        more = f"; replacing {len(outdated)} pod(s) that cannot run, made from an older spec"
        decision = replace(decision, reason=decision.reason + more)
    gone = set(decision.delete) | set(outdated)
    inplace = replace(
        inplace,
        resizes=tuple(r for r in inplace.resizes if r.name not in gone),
        recreate=tuple(r for r in inplace.recreate if r.name not in gone)
        if observation.environment.accepted
        else (),
    )
    decision = replace(decision, reason=decision.reason + _describe_in_place(inplace))
    creates: tuple[CreatePods, ...] = ()
    deletes: tuple[DeletePod, ...] = ()
    if manager.located:
        if observation.environment.accepted:
            # A recreated pod's replacement first: the decision counted the pod as it (none
            # for a suspended pool, which wants no pod).
            replaced = () if policy.suspended else inplace.recreate
            creates = (
                *(CreatePods(r.shape, 1) for r in replaced),
                *(
                    CreatePods(shape, count)
                    for shape_id, count in decision.create.items()
                    if (shape := policy.shape(shape_id)) is not None
                ),
            )
        deletes = (
            *(DeletePod(n, DeleteKind.SCALE_DOWN) for n in decision.delete),
            *(DeletePod(n, DeleteKind.CLEAN_UP) for n in decision.delete_finished),
            *(DeletePod(n, DeleteKind.RECREATE) for n in recreate),
            *(DeletePod(n, DeleteKind.OUTDATED) for n in outdated),
            *(DeletePod(r.name, DeleteKind.RECREATE, r.why) for r in inplace.recreate),
        )
    else:
        inplace = InPlacePlan(pods=inplace.pods)
    return PoolPlan(
        creates=creates,
        deletes=deletes,
        decision=decision,
        policy=policy,
        recommendations=tuple(recs),
        workers=tuple(workers),
        status={"conditions": conditions, "recommendations": [r.to_api() for r in recs]},
        events=tuple(events),
        memory=replace(
            memory,
            idle_since=idle_since,
            resize_deferred=inplace.deferred_seen,
            connected=connected,
        ),
        in_place=inplace,
    )


def _recommended_shapes(recommendations: Sequence[CategoryRecommendation]) -> list[WorkerShape]:
    shapes: dict[str, WorkerShape] = {}
    for recommendation in recommendations:
        for bucket in recommendation.buckets:
            shape = bucket_shape(bucket)
            shapes.setdefault(shape.id, shape)
    return list(shapes.values())


def _describe_in_place(plan: InPlacePlan) -> str:
    started = sum(1 for r in plan.resizes if r.from_shape is not None)
    text = f"; resizing {started} idle pod(s) in place" if started else ""
    if plan.recreate:
        text += f"; recreating {len(plan.recreate)} pod(s) that cannot be resized in place"
    return text


# --- after the plan is applied -----------------------------------------------------------------
@dataclass(frozen=True)
class PoolFigures:
    """What the pass leaves for the operator's metrics."""

    scaled: Mapping[tuple[str, str], int]
    """Pods created ("up") or deleted to scale ("down"), by (direction, reason)."""
    refused: int
    pods: Mapping[tuple[str, str], int]
    """Pods by (shape id, phase), as the pass saw them."""
    waste_memory_mb: float
    waste_cores: float
    resizes: Mapping[str, int] = field(default_factory=dict)
    """In-place resizes of the pass by result (requested, done, deferred, ...)."""
    stuck: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """Live pods that say they cannot run, by (cause, phase): the PodsRunning condition's
    reasons, and the pods' phases as the scaler names them."""


@dataclass(frozen=True)
class PoolResult:
    status: dict[str, Any]
    events: tuple[Event, ...]
    memory: PoolMemory
    figures: PoolFigures


def settle_pool(
    observation: PoolObservation,
    plan: PoolPlan,
    outcome: CreationOutcome,
    *,
    timestamp: str,
    resizes: ResizeOutcome | None = None,
) -> PoolResult:
    """The status, Events, memory and figures a pass leaves once its plan was applied
    (``timestamp``: now, as the API writes times; ``resizes``: what the apiserver did with the
    plan's in-place resizes)."""
    decision, now = plan.decision, observation.now
    events = list(plan.events)
    conditions = list(plan.status["conditions"])
    creation = creation_verdict(outcome)
    if creation is not None:
        conditions, creation_events = condition_news(
            {**observation.status, "conditions": conditions},
            type_=PODS_CREATED,
            verdict=creation,
            generation=observation.generation,
        )
        events += creation_events
    scale_down = plan.deleted(DeleteKind.SCALE_DOWN)
    recreated = plan.deleted(DeleteKind.RECREATE)
    outdated = plan.deleted(DeleteKind.OUTDATED)
    # Replacements of pods recreated in place are the first creations of the plan.
    replaced = min(outcome.created, len(plan.in_place.recreate))
    created = outcome.created - replaced
    if created or scale_down:
        events.append(Event(EventType.NORMAL, str(decision.kind), decision.reason))
    old_shape = [d.name for d in plan.deletes if d.kind is DeleteKind.RECREATE and not d.why]
    if old_shape:
        message = (
            f"deleting {len(old_shape)} idle pod(s) whose shape is off every recommended one "
            f"({', '.join(old_shape[:5])}); replacements get a recommended shape"
        )
        events.append(Event(EventType.NORMAL, DeleteKind.RECREATE.value, message))
    if outdated:
        message = (
            f"deleting {len(outdated)} pod(s) that cannot run and were made from an older spec "
            f"({', '.join(outdated[:5])}); replacements follow the current spec"
        )
        events.append(Event(EventType.NORMAL, DeleteKind.OUTDATED.value, message))
    noted = {note.name for note in plan.in_place.notes}
    not_resizable = [
        d.why
        for d in plan.deletes
        if d.kind is DeleteKind.RECREATE and d.why and d.name not in noted
    ]
    if not_resizable:
        message = "; ".join(not_resizable[:3]) + "; replacements get a recommended shape"
        events.append(Event(EventType.NORMAL, DeleteKind.RECREATE.value, message))
    settled = settle_resizes(
        plan.in_place,
        resizes or ResizeOutcome(),
        observation.status.get("resizes"),
        active=in_place(observation.spec),
    )
    events += settled.events
    scaled = bool(outcome.created or scale_down or recreated)
    live = sum(1 for p in observation.pods if p.phase in LIVE_PHASES)
    busy = sum(1 for w in plan.workers if w.busy)
    status = {
        **plan.status,
        "conditions": conditions,
        "observedGeneration": observation.generation,
        "replicas": max(
            0, live + outcome.created - len(scale_down) - len(recreated) - len(outdated)
        ),
        "workersConnected": len(plan.workers),
        "workersBusy": busy,
        "workersIdle": len(plan.workers) - busy,
        "desiredReplicas": decision.desired_replicas,
        "desiredReason": decision.reason,
        "lastScaleTime": timestamp if scaled else observation.status.get("lastScaleTime"),
        "podShapes": _shape_counts(plan.in_place.pods) or None,
        "resizes": settled.status,
    }
    waste_mb, waste_cores = estimate_waste(observation.pods, plan.workers, plan.policy)
    figures = PoolFigures(
        scaled={
            k: n
            for k, n in {
                ("up", str(decision.kind)): created,
                ("up", DeleteKind.RECREATE.value): replaced,
                ("down", str(decision.kind)): len(scale_down),
                ("down", DeleteKind.RECREATE.value): len(recreated),
                ("down", DeleteKind.OUTDATED.value): len(outdated),
            }.items()
            if n
        },
        refused=outcome.refused,
        pods=_shape_phase_counts(observation.pods),
        waste_memory_mb=waste_mb,
        waste_cores=waste_cores,
        resizes=settled.counts,
        stuck=stuck_pod_counts(observation.pods),
    )
    memory = replace(
        plan.memory,
        last_scale_up=now if outcome.created else plan.memory.last_scale_up,
        resize_refused=settled.refused,
    )
    return PoolResult(status=status, events=tuple(events), memory=memory, figures=figures)


def _shape_counts(pods: Sequence[PodView]) -> list[dict[str, Any]]:
    """Live pods per shape label, as the scaler counts them (``status.podShapes``; left out
    when there is none)."""
    counts: dict[str, int] = {}
    for pod in pods:
        if pod.phase in LIVE_PHASES:
            counts[pod.shape_id] = counts.get(pod.shape_id, 0) + 1
    return [{"shape": shape, "pods": n} for shape, n in sorted(counts.items())]


def _shape_phase_counts(pods: Sequence[PodView]) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for pod in pods:
        key = (pod.shape_id, str(pod.phase))
        counts[key] = counts.get(key, 0) + 1
    return counts


__all__ = [
    "ENVIRONMENT_READY",
    "CreatePods",
    "DecisionKind",
    "DeleteKind",
    "DeletePod",
    "ManagerObservation",
    "PoolFigures",
    "PoolMemory",
    "PoolObservation",
    "PoolPlan",
    "PoolResult",
    "TelemetryObservation",
    "plan_pool",
    "settle_pool",
]
