"""updateMode InPlace in the pure pool plan: which idle pods are resized, to which shape, what
becomes of a resize under way (done, Deferred, Infeasible, refused, too slow, its worker busy),
and what the pass counts, announces and remembers. Every branch of ``scaling.inplace``."""

from __future__ import annotations

from typing import Any

from tests.unit.test_pool_plan import NOW, category, observe, spec, worker
from workqueue_operator.api.acceptance import EventType
from workqueue_operator.scaling.creation import CreationOutcome
from workqueue_operator.scaling.inplace import (
    ResizeOutcome,
    ResizeResult,
    fits_use,
    nearest_shape,
)
from workqueue_operator.scaling.inputs import (
    PodPhase,
    PodView,
    ResizeState,
    ResizeView,
    WorkerView,
)
from workqueue_operator.scaling.plan import (
    DeleteKind,
    PoolMemory,
    PoolObservation,
    PoolPlan,
    PoolResult,
    TelemetryObservation,
    plan_pool,
    settle_pool,
)
from workqueue_operator.values.shapes import WorkerShape

STAMP = "2026-12-06T10:00:00Z"
DECLARED = "c2m4096d4096"
SMALL = "c1m512d1024"
MEDIUM = "c2m2048d1024"
BUCKETS = [
    {"cores": 1, "memoryMb": 512, "diskMb": 1024, "share": 0.5},
    {"cores": 2, "memoryMb": 2048, "diskMb": 1024, "share": 0.5},
]
IDLE_LONG = {"old": NOW - 120, "busy": NOW - 120}
RESIZABLE = ResizeView(resizable=True)


def in_place_spec(min_workers: int = 1, *, suspend: bool = False, **sizing: Any) -> Any:
    return spec(
        minWorkers=min_workers,
        suspend=suspend,
        worker={"cores": 2, "memory": "4Gi", "disk": "4Gi"},
        sizing={
            "mode": "Buckets",
            "updateMode": "InPlace",
            "marginPercent": 10,
            "resizeDeadlineSeconds": 60,
            "telemetryUrl": "http://agent:9090",
            **sizing,
        },
    )


def shape(shape_id: str) -> WorkerShape:
    cores, rest = shape_id[1:].split("m")
    memory, disk = rest.split("d")
    return WorkerShape.of(int(cores), int(memory), int(disk))


def pod(
    name: str,
    label: str = DECLARED,
    *,
    size: str | None = None,
    resize: ResizeView = RESIZABLE,
    phase: PodPhase = PodPhase.RUNNING,
) -> PodView:
    return PodView(
        name,
        phase,
        label,
        created_at=NOW - 1000,
        started_at=NOW - 990,
        size=shape(size or label),
        resize=resize,
    )


def under_way(
    state: ResizeState = ResizeState.NONE, *, asked: float = NOW - 10, message: str = ""
) -> ResizeView:
    """A resize of the operator's from DECLARED, asked for at ``asked``."""
    return ResizeView(
        resizable=True,
        state=state,
        message=message,
        since=asked + 1 if state is not ResizeState.NONE else None,
        from_shape=DECLARED,
        requested_at=asked,
    )


TELEMETRY_KEPT = {
    "type": "TelemetryAvailable",
    "status": "False",
    "reason": "TelemetryUnavailable",
    "message": "keep the stored buckets; keeping the last recommended shapes (1 categories)",
    "lastTransitionTime": STAMP,
}


def observe_in_place(
    *pods: PodView,
    workers: tuple[Any, ...] = (),
    status: dict[str, Any] | None = None,
    reachable: bool = True,
    categories: tuple[Any, ...] = (),
    suspend: bool = False,
    **sizing: Any,
) -> PoolObservation:
    return observe(
        in_place_spec(suspend=suspend, **sizing),
        pods=pods,
        workers=workers,
        categories=categories or (category("a", waiting=0, running=0),),
        telemetry=TelemetryObservation(problem="keep the stored buckets"),
        status={
            "recommendations": [{"category": "a", "buckets": BUCKETS, "samples": 50}],
            "conditions": [TELEMETRY_KEPT],  # said before: no Event for it in these passes
        }
        | (status or {}),
        reachable=reachable,
    )


def settle(
    observation: PoolObservation, plan: PoolPlan, resizes: ResizeOutcome | None = None
) -> PoolResult:
    taken = ResizeOutcome(taken=tuple(r.name for r in plan.resizes))
    created = plan.create_count
    return settle_pool(
        observation,
        plan,
        CreationOutcome(attempted=created, created=created),
        timestamp=STAMP,
        resizes=resizes or taken,
    )


def events(result: PoolResult) -> list[tuple[EventType, str]]:
    return [(e.type, e.reason) for e in result.events]


# --- choosing resizes ------------------------------------------------------------------------
def test_an_idle_pod_off_every_recommended_shape_is_resized_to_the_nearest_one() -> None:
    observation = observe_in_place(pod("old"), workers=(worker("old"),))
    plan = plan_pool(observation, PoolMemory(idle_since=IDLE_LONG))
    [resize] = plan.resizes
    assert (resize.name, resize.shape.id, resize.from_shape) == ("old", MEDIUM, DECLARED)
    # Counted as its new shape at once: not deleted as surplus of an old shape, no new pod.
    assert plan.deletes == () and plan.creates == ()
    assert "resizing 1 idle pod(s) in place" in plan.decision.reason
    result = settle(observation, plan)
    assert result.status["podShapes"] == [{"shape": MEDIUM, "pods": 1}]
    assert result.status["resizes"] == {
        "inProgress": 1,
        "requested": 1,
        "done": 0,
        "deferred": 0,
        "infeasible": 0,
        "timedOut": 0,
        "cancelled": 0,
    }
    assert events(result) == [(EventType.NORMAL, "Resize")]
    assert "from c2m4096d4096 to c2m2048d1024" in result.events[0].message
    assert result.figures.resizes == {"requested": 1}


def test_a_busy_worker_is_never_resized_nor_one_idle_for_less_than_the_delay() -> None:
    observation = observe_in_place(
        pod("busy"),
        pod("fresh"),
        workers=(worker("busy", tasks=1), worker("fresh")),
        categories=(category("a", waiting=0, running=1),),
    )
    memory = PoolMemory(idle_since={"fresh": NOW - 5})
    plan = plan_pool(observation, memory)
    assert plan.resizes == () and plan.deletes == ()


def test_a_pod_of_a_recommended_shape_or_within_the_margin_is_left_alone() -> None:
    near = "c2m2200d1024"  # memory 7% above the medium bucket, margin 10%
    observation = observe_in_place(
        pod("fits", MEDIUM), pod("near", near), workers=(worker("fits"), worker("near"))
    )
    plan = plan_pool(observation, PoolMemory(idle_since={"fits": 0.0, "near": 0.0}))
    assert plan.resizes == ()


def test_nothing_is_resized_without_recommendations_or_outside_in_place_mode() -> None:
    idle = PoolMemory(idle_since=IDLE_LONG)
    bare = observe(in_place_spec(), pods=(pod("old"),), workers=(worker("old"),))
    assert plan_pool(bare, idle).resizes == ()
    recreate = observe_in_place(pod("old"), workers=(worker("old"),), updateMode="Recreate")
    plan = plan_pool(recreate, idle)
    assert plan.resizes == ()
    assert settle(recreate, plan).status["resizes"] is None


def test_the_nearest_shape_keeps_the_pods_disk_and_gpus_and_ties_go_to_the_larger() -> None:
    have = WorkerShape.of(4, 4096, 2048)
    wanted = [
        WorkerShape.of(2, 2048, 1024),  # off by 0.5 in cores and memory
        WorkerShape.of(4, 8192, 1024),  # off by 0.5 in memory, larger: wins the tie
        WorkerShape.of(4, 4096, 4096),  # exact, but its disk does not fit the pod's
        WorkerShape.of(4, 4096, 1024, gpus=1),  # GPUs cannot be resized
    ]
    assert nearest_shape(have, wanted) == WorkerShape.of(4, 8192, 1024)
    assert nearest_shape(have, [WorkerShape.of(1, 512, 4096)]) is None


def test_a_resize_is_never_below_what_the_workers_tasks_use() -> None:
    using = WorkerView("w", tasks_running=1, cores_inuse=2, memory_inuse_mb=3000)
    assert not fits_use(WorkerShape.of(2, 2048, 1024), using)
    assert not fits_use(WorkerShape.of(1, 4096, 1024), using)
    assert fits_use(WorkerShape.of(2, 4096, 1024), using)
    assert fits_use(WorkerShape.of(1, 512, 1024), None)


def test_a_pod_made_before_in_place_or_too_small_on_disk_is_recreated_instead() -> None:
    observation = observe_in_place(
        pod("fixed", resize=ResizeView(resizable=False)),
        pod("tiny", "c2m4096d512"),
        workers=(worker("fixed"), worker("tiny")),
        min_workers=2,
    )
    plan = plan_pool(observation, PoolMemory(idle_since={"fixed": 0.0, "tiny": 0.0}))
    assert plan.resizes == ()
    assert {(d.name, d.kind) for d in plan.deletes} == {
        ("fixed", DeleteKind.RECREATE),
        ("tiny", DeleteKind.RECREATE),
    }
    assert "resize policy" in next(d.why for d in plan.deletes if d.name == "fixed")
    assert "fits its disk (512 MB)" in next(d.why for d in plan.deletes if d.name == "tiny")
    # Each is replaced at once by a pod of the nearest recommended shape; the decision counts
    # the replacements as the backlog's pods and adds none.
    assert [(c.shape.id, c.count) for c in plan.creates] == [(MEDIUM, 1), (MEDIUM, 1)]
    result = settle(observation, plan)
    assert (EventType.NORMAL, "Recreate") in events(result)
    assert result.figures.scaled == {("down", "Recreate"): 2, ("up", "Recreate"): 2}


def test_an_unreachable_manager_starts_no_resize() -> None:
    observation = observe_in_place(pod("old"), workers=(worker("old"),), reachable=False)
    assert plan_pool(observation, PoolMemory(idle_since=IDLE_LONG)).resizes == ()


# --- a resize under way ----------------------------------------------------------------------
def test_a_finished_resize_drops_its_record_counts_done_and_says_resized() -> None:
    done = pod("old", MEDIUM, resize=under_way())
    observation = observe_in_place(done, workers=(worker("old"),))
    plan = plan_pool(observation, PoolMemory())
    assert plan.in_place.finished == ("old",) and plan.resizes == ()
    result = settle(observation, plan)
    assert events(result) == [(EventType.NORMAL, "Resized")]
    assert result.status["resizes"]["done"] == 1
    assert result.status["resizes"]["inProgress"] == 0


def test_totals_add_up_across_passes_from_the_stored_status() -> None:
    stored = {"resizes": {"requested": 4, "done": 3, "infeasible": 1, "inProgress": 1}}
    done = pod("old", MEDIUM, resize=under_way())
    observation = observe_in_place(done, workers=(worker("old"),), status=stored)
    result = settle(observation, plan_pool(observation, PoolMemory()))
    totals = result.status["resizes"]
    assert (totals["requested"], totals["done"], totals["infeasible"]) == (4, 4, 1)
    assert totals["inProgress"] == 0


def test_a_resize_the_kubelet_finds_infeasible_recreates_an_idle_pod() -> None:
    said = "Node didn't have enough capacity: cpu, requested: 4000, capacity: 2000"
    stuck = pod(
        "old", MEDIUM, size=DECLARED, resize=under_way(ResizeState.INFEASIBLE, message=said)
    )
    observation = observe_in_place(stuck, workers=(worker("old"),))
    plan = plan_pool(observation, PoolMemory())
    assert [(d.name, d.kind) for d in plan.deletes] == [("old", DeleteKind.RECREATE)]
    # Its replacement, in the same pass and in the shape it was to have.
    assert [(c.shape.id, c.count) for c in plan.creates] == [(MEDIUM, 1)]
    result = settle(observation, plan)
    assert (EventType.WARNING, "ResizeInfeasible") in events(result)
    assert said in next(e.message for e in result.events if e.reason == "ResizeInfeasible")
    assert result.status["resizes"]["infeasible"] == 1


def test_a_suspended_pool_deletes_a_pod_it_would_recreate_and_replaces_nothing() -> None:
    said = "Node didn't have enough capacity: cpu, requested: 4000, capacity: 2000"
    stuck = pod(
        "old", MEDIUM, size=DECLARED, resize=under_way(ResizeState.INFEASIBLE, message=said)
    )
    observation = observe_in_place(stuck, workers=(worker("old"),), suspend=True)
    plan = plan_pool(observation, PoolMemory())
    assert [(d.name, d.kind) for d in plan.deletes] == [("old", DeleteKind.SCALE_DOWN)]
    assert plan.creates == ()
    assert settle(observation, plan).status["desiredReplicas"] == 0


def test_an_infeasible_resize_of_a_busy_worker_is_taken_back() -> None:
    stuck = pod("busy", MEDIUM, size=MEDIUM, resize=under_way(ResizeState.INFEASIBLE))
    observation = observe_in_place(stuck, workers=(worker("busy", tasks=1),))
    plan = plan_pool(observation, PoolMemory())
    [back] = plan.resizes
    assert (back.shape.id, back.from_shape, back.result) == (
        DECLARED,
        None,
        ResizeResult.INFEASIBLE,
    )
    assert plan.deletes == ()


def test_a_refused_resize_counts_as_infeasible_and_the_next_pass_recreates_the_pod() -> None:
    observation = observe_in_place(pod("old"), workers=(worker("old"),))
    plan = plan_pool(observation, PoolMemory(idle_since=IDLE_LONG))
    refusal = (
        'pods "old" is forbidden: node didn\'t have enough allocatable resources: cpu, '
        "requested: 4000, allocatable: 2000"
    )
    result = settle(observation, plan, ResizeOutcome(refused={"old": refusal}))
    assert events(result) == [(EventType.WARNING, "ResizeInfeasible")]
    assert refusal in result.events[0].message
    assert result.status["resizes"]["infeasible"] == 1
    assert result.status["resizes"]["requested"] == 0
    assert result.memory.resize_refused == {"old": refusal}
    # The pod was relabelled before the refusal; the next pass recreates it, counting nothing
    # twice.
    relabelled = pod("old", MEDIUM, size=DECLARED, resize=under_way())
    after = observe_in_place(relabelled, workers=(worker("old"),), status=result.status)
    plan = plan_pool(after, result.memory)
    assert [(d.name, d.kind) for d in plan.deletes] == [("old", DeleteKind.RECREATE)]
    second = settle(after, plan)
    assert second.status["resizes"]["infeasible"] == 1
    assert second.memory.resize_refused == {}


def test_a_deferred_resize_is_counted_once_and_waits_until_the_deadline() -> None:
    said = "Node didn't have enough resource: cpu, requested: 2000, used: 1000, capacity: 2000"
    deferred = pod("old", MEDIUM, size=MEDIUM, resize=under_way(ResizeState.DEFERRED, message=said))
    observation = observe_in_place(deferred, workers=(worker("old"),))
    plan = plan_pool(observation, PoolMemory())
    assert plan.resizes == () and plan.deletes == ()
    result = settle(observation, plan)
    assert events(result) == [(EventType.NORMAL, "ResizeDeferred")]
    assert said in result.events[0].message
    assert result.status["resizes"]["deferred"] == 1
    assert result.status["resizes"]["inProgress"] == 1
    again = settle(observation, plan_pool(observation, result.memory))
    assert again.events == ()


def test_a_resize_still_deferred_after_the_deadline_recreates_an_idle_pod() -> None:
    late = pod("old", MEDIUM, size=MEDIUM, resize=under_way(ResizeState.DEFERRED, asked=NOW - 61))
    observation = observe_in_place(late, workers=(worker("old"),))
    plan = plan_pool(observation, PoolMemory(resize_deferred=frozenset({"old"})))
    assert [(d.name, d.kind) for d in plan.deletes] == [("old", DeleteKind.RECREATE)]
    result = settle(observation, plan)
    assert (EventType.WARNING, "ResizeTimedOut") in events(result)
    assert result.status["resizes"]["timedOut"] == 1


def test_a_deferred_resize_whose_worker_got_a_task_is_taken_back() -> None:
    deferred = pod("busy", MEDIUM, size=MEDIUM, resize=under_way(ResizeState.DEFERRED))
    observation = observe_in_place(deferred, workers=(worker("busy", tasks=1),))
    plan = plan_pool(observation, PoolMemory())
    [back] = plan.resizes
    assert (back.name, back.shape.id, back.from_shape) == ("busy", DECLARED, None)
    result = settle(observation, plan)
    assert events(result) == [(EventType.NORMAL, "ResizeCancelled")]
    assert result.status["resizes"]["cancelled"] == 1
    assert result.status["podShapes"] == [{"shape": DECLARED, "pods": 1}]


def test_a_resize_in_progress_is_never_interrupted_even_past_the_deadline() -> None:
    going = pod(
        "busy", MEDIUM, size=MEDIUM, resize=under_way(ResizeState.IN_PROGRESS, asked=NOW - 600)
    )
    observation = observe_in_place(going, workers=(worker("busy", tasks=1),))
    plan = plan_pool(observation, PoolMemory())
    assert plan.resizes == () and plan.deletes == ()


def test_a_recorded_resize_the_apiserver_never_took_is_asked_for_again() -> None:
    """The operator stopped between relabelling the pod and asking for the resize."""
    half = pod("old", MEDIUM, size=DECLARED, resize=under_way())
    observation = observe_in_place(half, workers=(worker("old"),))
    [again] = plan_pool(observation, PoolMemory()).resizes
    assert (again.shape.id, again.from_shape) == (MEDIUM, DECLARED)


def test_an_unreachable_manager_only_finishes_resizes() -> None:
    done = pod("a", MEDIUM, resize=under_way())
    deferred = pod("b", MEDIUM, size=MEDIUM, resize=under_way(ResizeState.DEFERRED, asked=0.0))
    observation = observe_in_place(done, deferred, reachable=False)
    plan = plan_pool(observation, PoolMemory())
    assert plan.in_place.finished == ("a",)
    assert plan.resizes == () and plan.deletes == ()


def test_an_idle_pool_keeps_its_resized_pods_instead_of_going_back_to_the_declared_shape() -> None:
    """With no task at all, minWorkers pods keep their shapes: a pod resized to a recommended
    shape is not replaced by a declared-shape pod that would be resized again."""
    resized = pod("old", MEDIUM)
    observation = observe_in_place(resized, workers=(worker("old"),))
    plan = plan_pool(observation, PoolMemory(idle_since=IDLE_LONG, last_scale_up=0.0))
    assert (plan.creates, plan.deletes, plan.resizes) == ((), (), ())


def test_pods_not_running_or_resized_by_someone_else_are_left_alone() -> None:
    pending = pod("pending", phase=PodPhase.PENDING)
    foreign = pod("foreign", resize=ResizeView(resizable=True, state=ResizeState.IN_PROGRESS))
    observation = observe_in_place(pending, foreign, workers=(worker("foreign"),))
    plan = plan_pool(observation, PoolMemory(idle_since={"foreign": 0.0}))
    assert plan.resizes == ()


def test_an_idle_pod_is_resized_beside_a_busy_one_whose_category_has_no_buckets_yet() -> None:
    """A long task of a category without buckets keeps one declared-shape pod busy; the other
    pod (minWorkers 2) is resized and kept, not replaced by a declared-shape pod."""
    observation = observe_in_place(
        pod("busy"),
        pod("old"),
        workers=(worker("busy", tasks=1), worker("old")),
        categories=(category("gate", waiting=0, running=1),),
        min_workers=2,
    )
    plan = plan_pool(observation, PoolMemory(idle_since=IDLE_LONG, last_scale_up=0.0))
    assert [(r.name, r.shape.id) for r in plan.resizes] == [("old", MEDIUM)]
    assert (plan.creates, plan.deletes) == ((), ())
    after = observe_in_place(
        pod("busy"),
        pod("old", MEDIUM),
        workers=(worker("busy", tasks=1), worker("old")),
        categories=(category("gate", waiting=0, running=1),),
        min_workers=2,
    )
    steady = plan_pool(after, PoolMemory(idle_since=IDLE_LONG, last_scale_up=0.0))
    assert (steady.creates, steady.deletes, steady.resizes) == ((), (), ())
