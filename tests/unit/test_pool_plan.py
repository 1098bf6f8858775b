"""plan_pool and settle_pool: one WorkerPool pass as pure functions, every action kind and the
status, Events, memory and metric figures a pass leaves."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from workqueue_operator.api.acceptance import EventType, Verdict
from workqueue_operator.api.pool import WorkerPoolSpec
from workqueue_operator.scaling.creation import CreationOutcome
from workqueue_operator.scaling.decision import DecisionKind
from workqueue_operator.scaling.inputs import PodPhase, PodView
from workqueue_operator.scaling.plan import (
    DeleteKind,
    ManagerObservation,
    PoolMemory,
    PoolObservation,
    PoolPlan,
    TelemetryObservation,
    plan_pool,
    settle_pool,
)
from workqueue_operator.values.pod_trouble import PodTrouble
from workqueue_operator.values.samples import Sample
from workqueue_operator.wq.status_models import CategoryStatus, WorkerStatus

NOW = 100_000.0
DECLARED = "c1m1024d2048"
STAMP = "2026-12-06T10:00:00Z"
READY = Verdict(True, "NoEnvironment", "the pool names no PonchoEnv")


def spec(**fields: Any) -> WorkerPoolSpec:
    base: dict[str, Any] = {
        "managerRef": {"name": "mgr"},
        "maxWorkers": 10,
        "autoscale": {"scaleUpStep": 10, "idleDelaySeconds": 60, "cooldownSeconds": 30},
    }
    return WorkerPoolSpec.model_validate(base | fields)


def category(name: str, waiting: int, running: int = 0, memory: str = "100") -> CategoryStatus:
    return CategoryStatus.model_validate(
        {
            "category": name,
            "tasks_waiting": waiting,
            "tasks_running": running,
            "max_cores": "1",
            "max_memory": memory,
            "max_disk": "100",
        }
    )


def worker(pod: str, tasks: int = 0) -> WorkerStatus:
    inuse = {"cores_inuse": tasks, "memory_inuse": 100 * tasks}
    return WorkerStatus.model_validate({"hostname": pod, "total_tasks_running": tasks, **inuse})


def pod(name: str, phase: PodPhase = PodPhase.RUNNING, shape: str = DECLARED) -> PodView:
    return PodView(name, phase, shape, created_at=NOW - 1000, started_at=NOW - 990)


def observe(
    pool: WorkerPoolSpec | None = None,
    *,
    categories: tuple[CategoryStatus, ...] = (),
    workers: tuple[WorkerStatus, ...] = (),
    pods: tuple[PodView, ...] = (),
    reachable: bool = True,
    located: bool = True,
    environment: Verdict = READY,
    telemetry: TelemetryObservation | None = None,
    status: dict[str, Any] | None = None,
) -> PoolObservation:
    return PoolObservation(
        spec=pool or spec(),
        status=status or {},
        generation=3,
        manager=ManagerObservation(
            located=located,
            reachable=reachable,
            why="" if reachable else "connection refused",
            categories=categories if reachable else (),
            workers=workers if reachable else (),
        ),
        environment=environment,
        telemetry=telemetry or TelemetryObservation(),
        pods=pods,
        now=NOW,
    )


def settle(
    observation: PoolObservation, plan: PoolPlan, outcome: CreationOutcome | None = None
) -> Any:
    created = plan.create_count
    done = outcome or CreationOutcome(attempted=created, created=created)
    return settle_pool(observation, plan, done, timestamp=STAMP)


def test_a_backlog_creates_pods_of_the_declared_shape_and_says_scale_up() -> None:
    observation = observe(categories=(category("a", waiting=4),))
    plan = plan_pool(observation, PoolMemory())
    assert [(c.shape.id, c.count) for c in plan.creates] == [(DECLARED, 4)]
    assert plan.deletes == ()
    assert plan.decision.kind is DecisionKind.SCALE_UP
    result = settle(observation, plan)
    assert [(e.type, e.reason) for e in result.events] == [(EventType.NORMAL, "ScaleUp")]
    assert result.status["replicas"] == 4 and result.status["desiredReplicas"] == 4
    assert result.status["lastScaleTime"] == STAMP
    assert result.memory.last_scale_up == NOW
    assert result.figures.scaled == {("up", "ScaleUp"): 4}
    created = next(c for c in result.status["conditions"] if c["type"] == "PodsCreated")
    assert created["status"] == "True"


def test_a_suspended_spec_creates_nothing_for_a_backlog_and_says_so() -> None:
    backlog = (category("a", waiting=4),)
    observation = observe(spec(suspend=True, minWorkers=2), categories=backlog)
    plan = plan_pool(observation, PoolMemory())
    assert (plan.creates, plan.deletes) == ((), ())
    result = settle(observation, plan)
    assert result.status["desiredReplicas"] == 0
    assert result.status["desiredReason"].startswith("suspended (spec.suspend)")


def test_idle_workers_past_the_delay_are_deleted_as_scale_down_never_busy_ones() -> None:
    memory = PoolMemory(idle_since={"idle": NOW - 120}, last_scale_up=NOW - 600)
    observation = observe(
        pods=(pod("idle"), pod("busy")),
        workers=(worker("idle"), worker("busy", tasks=1)),
        categories=(category("a", waiting=0, running=1),),
    )
    plan = plan_pool(observation, memory)
    assert [(d.name, d.kind) for d in plan.deletes] == [("idle", DeleteKind.SCALE_DOWN)]
    result = settle(observation, plan)
    assert [e.reason for e in result.events] == ["ScaleDown"]
    assert result.figures.scaled == {("down", "ScaleDown"): 1}
    assert result.status["replicas"] == 1
    assert result.status["workersBusy"] == 1 and result.status["workersIdle"] == 1
    assert result.memory.last_scale_up == NOW - 600  # a scale-down does not move it


def test_recreate_deletes_are_their_own_kind_counted_and_announced_as_recreate() -> None:
    """The bug: pods deleted for Recreate kept the decision's kind (e.g. "Steady")."""
    pool = spec(
        sizing={
            "mode": "Buckets",
            "updateMode": "Recreate",
            "minSamples": 5,
            "marginPercent": 10,
            "telemetryUrl": "http://agent:9090",
        },
    )
    samples = {"a": [Sample("a", 1.0, 200.0, 10.0, 30.0) for _ in range(10)]}
    # Within the cooldown after a scale-up, the decision keeps its surplus pods; Recreate still
    # replaces an idle pod whose shape is off every recommended one.
    memory = PoolMemory(idle_since={"old": NOW - 120}, last_scale_up=NOW - 10)
    observation = observe(
        pool,
        pods=(pod("old", shape="c1m4000d4000"),),
        workers=(worker("old"),),
        telemetry=TelemetryObservation(samples=samples),
    )
    plan = plan_pool(observation, memory)
    assert plan.decision.kind is DecisionKind.COOLDOWN
    assert [(d.name, d.kind) for d in plan.deletes] == [("old", DeleteKind.RECREATE)]
    assert plan.recommendations[0].buckets  # samples became a bucket
    result = settle(observation, plan)
    assert [(e.reason, e.type) for e in result.events] == [("Recreate", EventType.NORMAL)]
    assert "old" in result.events[0].message
    assert result.figures.scaled == {("down", "Recreate"): 1}
    assert "replacing 1 idle pod(s) of an old shape" in result.status["desiredReason"]
    assert result.status["replicas"] == 0


def test_finished_pods_are_cleaned_up_without_a_scale_event() -> None:
    finished = PodView(
        "done", PodPhase.SUCCEEDED, DECLARED, NOW - 1000, NOW - 990, finished_at=NOW - 5
    )
    observation = observe(pods=(finished,))
    plan = plan_pool(observation, PoolMemory())
    assert [(d.name, d.kind) for d in plan.deletes] == [("done", DeleteKind.CLEAN_UP)]
    result = settle(observation, plan)
    assert result.events == () and result.figures.scaled == {}
    assert result.status["lastScaleTime"] is None


def test_no_pods_are_created_until_the_environment_is_ready() -> None:
    not_ready = Verdict(False, "EnvironmentNotReady", "PonchoEnv 'env' is Building")
    observation = observe(
        spec(envRef={"name": "env"}),
        categories=(category("a", waiting=3),),
        environment=not_ready,
    )
    plan = plan_pool(observation, PoolMemory())
    assert plan.creates == ()
    assert plan.decision.desired_replicas == 3  # still says what it would want
    condition = next(c for c in plan.status["conditions"] if c["type"] == "EnvironmentReady")
    assert (condition["status"], condition["reason"]) == ("False", "EnvironmentNotReady")
    assert [(e.type, e.reason) for e in plan.events] == [(EventType.WARNING, "EnvironmentNotReady")]
    # Said once: the same verdict again is no new Event.
    again = plan_pool(
        observe(spec(envRef={"name": "env"}), environment=not_ready, status=dict(plan.status)),
        PoolMemory(),
    )
    assert again.events == ()


def test_a_manager_that_is_not_located_gets_no_pod_actions() -> None:
    observation = observe(pods=(pod("a"),), located=False, reachable=False)
    plan = plan_pool(observation, PoolMemory())
    assert (plan.creates, plan.deletes) == ((), ())
    assert plan.decision.kind is DecisionKind.MANAGER_UNREACHABLE


def test_an_unreachable_manager_holds_and_deletes_nothing() -> None:
    memory = PoolMemory(idle_since={"a": NOW - 999})
    observation = observe(pods=(pod("a"), pod("b")), reachable=False)
    plan = plan_pool(observation, memory)
    assert (plan.creates, plan.deletes) == ((), ())
    assert plan.memory.idle_since == {}  # no workers seen: idle clocks start again
    result = settle(observation, plan)
    assert result.status["replicas"] == 2 and result.events == ()


def test_telemetry_that_cannot_be_read_keeps_the_previous_recommendations() -> None:
    pool = spec(sizing={"mode": "Buckets", "minSamples": 1, "telemetryUrl": "http://a:9090"})
    previous = {
        "recommendations": [
            {
                "category": "a",
                "buckets": [{"cores": 1, "memoryMb": 300, "diskMb": 1024, "share": 1.0}],
                "samples": 10,
            }
        ]
    }
    observation = observe(
        pool, telemetry=TelemetryObservation(problem="agent down"), status=previous
    )
    plan = plan_pool(observation, PoolMemory())
    assert [r.to_api() for r in plan.recommendations] == previous["recommendations"]
    [condition] = [c for c in plan.status["conditions"] if c["type"] == "TelemetryAvailable"]
    assert (condition["status"], condition["reason"]) == ("False", "TelemetryUnavailable")
    assert condition["message"] == "agent down; keeping the last recommended shapes (1 categories)"
    assert [(e.type, e.reason) for e in plan.events] == [
        (EventType.WARNING, "TelemetryUnavailable")
    ]
    # The same loss on the next pass: no new Event; the agent back: True, one Normal Event.
    again = plan_pool(
        observe(pool, telemetry=observation.telemetry, status=plan.status), PoolMemory()
    )
    assert again.events == ()
    back = plan_pool(
        observe(pool, telemetry=TelemetryObservation(samples={}), status=plan.status), PoolMemory()
    )
    [condition] = [c for c in back.status["conditions"] if c["type"] == "TelemetryAvailable"]
    assert (condition["status"], condition["reason"]) == ("True", "SamplesRead")
    assert [(e.type, e.reason) for e in back.events] == [(EventType.NORMAL, "SamplesRead")]


def test_a_buckets_pool_without_telemetry_or_history_gets_the_declared_size() -> None:
    pool = spec(sizing={"mode": "Buckets", "minSamples": 1, "telemetryUrl": "http://a:9090"})
    observation = observe(
        pool,
        categories=(category("a", waiting=2),),
        telemetry=TelemetryObservation(problem="agent down"),
    )
    plan = plan_pool(observation, PoolMemory())
    assert [(c.shape.id, c.count) for c in plan.creates] == [(DECLARED, 2)]
    [condition] = [c for c in plan.status["conditions"] if c["type"] == "TelemetryAvailable"]
    assert condition["message"] == "agent down; pods get the declared worker size"
    fixed = plan_pool(observe(categories=(category("a", waiting=2),)), PoolMemory())
    assert not [c for c in fixed.status["conditions"] if c["type"] == "TelemetryAvailable"]


def test_refused_pods_set_pods_created_false_with_a_warning_and_count_refusals() -> None:
    observation = observe(categories=(category("a", waiting=3),))
    plan = plan_pool(observation, PoolMemory())
    refusal = 'pods "x" is forbidden: exceeded quota: pod-count'
    outcome = CreationOutcome(attempted=3, created=1, refusal=refusal, refused=2)
    result = settle(observation, plan, outcome)
    condition = next(c for c in result.status["conditions"] if c["type"] == "PodsCreated")
    assert (condition["status"], condition["reason"]) == ("False", "FailedCreate")
    assert (EventType.WARNING, "FailedCreate") in [(e.type, e.reason) for e in result.events]
    assert result.figures.refused == 2
    assert result.status["replicas"] == 1
    assert result.figures.scaled == {("up", "ScaleUp"): 1}


def test_a_steady_pool_leaves_the_same_status_pass_after_pass() -> None:
    """What lets the reconcile loop write nothing for an idle pool: a second pass over the
    status the first one left changes no field."""
    observation = observe(pods=(pod("w"),), workers=(worker("w"),), status={})
    pool = spec(minWorkers=1)
    first_obs = observe(pool, pods=(pod("w"),), workers=(worker("w"),))
    first = settle(first_obs, plan_pool(first_obs, PoolMemory()))
    second_obs = observe(pool, pods=(pod("w"),), workers=(worker("w"),), status=first.status)
    second = settle(second_obs, plan_pool(second_obs, first.memory))
    assert second.status == first.status
    assert second.events == ()
    assert observation.spec.min_workers == 0  # (the default pool would scale the worker away)


def test_pods_killed_after_their_worker_connected_are_replaced_not_taken_for_a_crash_loop() -> None:
    backlog = (category("a", waiting=3, running=3),)
    names = ("w1", "w2", "w3")
    running = observe(
        categories=backlog,
        workers=tuple(worker(n, tasks=1) for n in names),
        pods=tuple(map(pod, names)),
    )
    memory = plan_pool(running, PoolMemory()).memory
    assert memory.connected == frozenset(names)

    def killed(name: str) -> PodView:  # SIGKILLed 5 s after it started: a "quick" failure
        return PodView(name, PodPhase.FAILED, DECLARED, NOW - 10, NOW - 8, finished_at=NOW - 3)

    after_kill = observe(categories=(category("a", waiting=6),), pods=tuple(map(killed, names)))
    plan = plan_pool(after_kill, memory)
    assert plan.create_count == 6
    # The same failures from workers that never connected (a bad image, password or argument)
    # stop creation: that is the crash loop the guard is for.
    never = plan_pool(after_kill, PoolMemory())
    assert never.create_count == 0
    # Pods that are gone are forgotten.
    assert plan_pool(observe(categories=backlog), memory).memory.connected == frozenset()


def stuck(name: str, created_at: float, why: str, reason: str) -> PodView:
    trouble = PodTrouble(reason, why)
    return PodView(name, PodPhase.PENDING, DECLARED, created_at=created_at, trouble=trouble)


def pods_running(plan: PoolPlan) -> dict[str, Any]:
    [condition] = [c for c in plan.status["conditions"] if c["type"] == "PodsRunning"]
    return condition


UNSCHEDULABLE = "worker pod w-{} cannot be scheduled: 0/1 nodes are available"
PULL = 'worker pod w-3: container worker ErrImagePull: failed to pull "nowhere/x:1"'


def test_pods_that_say_they_cannot_run_set_pods_running_false_with_one_warning() -> None:
    fine = plan_pool(observe(pods=(pod("w-1"),)), PoolMemory())
    assert pods_running(fine)["status"] == "True" and fine.events == ()  # no news at first

    waiting = stuck("w-2", NOW - 50, UNSCHEDULABLE.format(2), "Unschedulable")
    pods = (pod("w-1"), waiting)
    bad = plan_pool(observe(pods=pods, status=fine.status), PoolMemory())
    condition = pods_running(bad)
    assert (condition["status"], condition["reason"]) == ("False", "Unschedulable")
    assert condition["message"] == f"1 of 2 worker pods cannot run now; {UNSCHEDULABLE.format(2)}"
    assert [(e.type, e.reason) for e in bad.events] == [(EventType.WARNING, "Unschedulable")]

    # More pods waiting for room, another count and pod named: the message follows, no Event.
    pods += (stuck("w-4", NOW - 5, UNSCHEDULABLE.format(4), "Unschedulable"),)
    more = plan_pool(observe(pods=pods, status=bad.status), PoolMemory())
    assert pods_running(more)["message"].startswith("2 of 3 worker pods")
    assert pods_running(more)["message"].endswith(UNSCHEDULABLE.format(4))
    assert more.events == ()

    # A pod that needs the user (an image that cannot be pulled) is named before newer pods
    # waiting for room, and a new cause is news: one Warning with its reason.
    pods += (stuck("w-3", NOW - 10, PULL, "ImagePullBackOff"),)
    with_pull = observe(pods=pods, status=more.status)
    pull = plan_pool(with_pull, PoolMemory())
    assert (pods_running(pull)["reason"], pods_running(pull)["message"]) == (
        "ImagePullBackOff",
        f"3 of 4 worker pods cannot run now; {PULL}",
    )
    assert [(e.type, e.reason) for e in pull.events] == [(EventType.WARNING, "ImagePullBackOff")]
    stuck_counts = settle(with_pull, pull).figures.stuck  # workqueue_operator_pods_stuck
    assert stuck_counts == {("Unschedulable", "Pending"): 2, ("ImagePullBackOff", "Pending"): 1}

    # A newer pod with another cause that needs the user does not take the reason over while
    # the pod of the cause said is still stuck (no Event); once that one is gone, it does.
    loop = stuck(
        "w-5", NOW - 1, "worker pod w-5: container worker CrashLoopBackOff", "CrashLoopBackOff"
    )
    with_loop = plan_pool(observe(pods=(*pods, loop), status=pull.status), PoolMemory())
    assert (pods_running(with_loop)["reason"], with_loop.events) == ("ImagePullBackOff", ())
    assert pods_running(with_loop)["message"] == f"4 of 5 worker pods cannot run now; {PULL}"
    loop_only = plan_pool(observe(pods=(*pods[:3], loop), status=pull.status), PoolMemory())
    assert pods_running(loop_only)["reason"] == "CrashLoopBackOff"
    assert [(e.type, e.reason) for e in loop_only.events] == [
        (EventType.WARNING, "CrashLoopBackOff")
    ]

    # Stuck pods being deleted are not the pool's trouble; the pool recovers with one Normal.
    gone = tuple(replace(p, phase=PodPhase.TERMINATING) for p in pods[1:])
    recovered = observe(pods=(pod("w-1"), *gone), status=pull.status)
    back = plan_pool(recovered, PoolMemory())
    assert (pods_running(back)["status"], pods_running(back)["reason"]) == ("True", "NoPodStuck")
    assert [(e.type, e.reason) for e in back.events] == [(EventType.NORMAL, "NoPodStuck")]
    assert settle(recovered, back).figures.stuck == {}


def test_stuck_pods_are_counted_by_cause_and_phase() -> None:
    looping = PodView(
        "w-loop",
        PodPhase.RUNNING,
        DECLARED,
        created_at=NOW - 50,
        trouble=PodTrouble("CrashLoopBackOff", "worker pod w-loop: CrashLoopBackOff"),
    )
    pulling = stuck("w-pull", NOW - 40, PULL, "ImagePullBackOff")
    observation = observe(pods=(looping, pulling))
    figures = settle(observation, plan_pool(observation, PoolMemory())).figures
    assert figures.stuck == {("CrashLoopBackOff", "Running"): 1, ("ImagePullBackOff", "Pending"): 1}


def test_pods_that_cannot_run_made_from_an_older_spec_are_replaced_others_stay() -> None:
    """The spec that mends them (another image, template, size) reaches only new pods."""
    pull = PodTrouble("ImagePullBackOff", "worker pod old: container worker ErrImagePull")
    old_stuck = replace(stuck("old", NOW - 50, pull.message, pull.reason), generation=2)
    new_stuck = replace(stuck("new", NOW - 5, pull.message, pull.reason), generation=3)
    old_fine = replace(pod("old-fine"), generation=2)  # runs: an older spec is no reason to go
    unlabelled = stuck("by-hand", NOW - 50, pull.message, pull.reason)
    pods = (old_stuck, new_stuck, old_fine, unlabelled)
    observation = observe(categories=(category("a", waiting=4),), pods=pods)  # generation 3
    plan = plan_pool(observation, PoolMemory())
    assert [(d.name, d.kind) for d in plan.deletes] == [("old", DeleteKind.OUTDATED)]
    assert plan.decision.reason.endswith(
        "; replacing 1 pod(s) that cannot run, made from an older spec"
    )
    result = settle(observation, plan)
    assert [e.reason for e in result.events if e.reason == "Outdated"] == ["Outdated"]
    assert result.figures.scaled == {("down", "Outdated"): 1}
    assert result.status["replicas"] == 3
    # Not one whose worker is busy (a crash loop's container back with a task), nor a Running
    # one while the manager cannot say which workers are busy.
    running = replace(old_stuck, phase=PodPhase.RUNNING)
    busy = observe(categories=(category("a", waiting=4),), pods=(running, *pods[1:]))
    busy = replace(busy, manager=replace(busy.manager, workers=(worker("old", tasks=1),)))
    assert plan_pool(busy, PoolMemory()).deletes == ()
    unreachable = observe(pods=(running, *pods[1:]), reachable=False)
    assert plan_pool(unreachable, PoolMemory()).deletes == ()
