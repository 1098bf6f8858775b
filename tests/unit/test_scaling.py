"""The scaling decision: scale-up by backlog and resources, clamps, step, pending pods,
scale-down order, idle delay, cooldown, unreachable manager, autoscale off, suspended, other
pools' workers, finished pods, crash loops, shapes, idempotency."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from workqueue_operator.scaling import (
    CategoryDemand,
    DecisionKind,
    PodPhase,
    PodView,
    PoolPolicy,
    ScalingDecision,
    ScalingInputs,
    TaskResources,
    WorkerShape,
    WorkerView,
    decide_scaling,
)
from workqueue_operator.values.pod_trouble import PodTrouble

NOW = 10_000.0
SHAPE = WorkerShape.of(cores=4, memory_mb=8192, disk_mb=16384)
ONE_CORE = TaskResources(cores=1)


def policy(**fields: Any) -> PoolPolicy:
    base: dict[str, Any] = {
        "min_workers": 0,
        "max_workers": 50,
        "shapes": (SHAPE,),
        "scale_up_step": 100,
        "cooldown_seconds": 30.0,
        "idle_delay_seconds": 60.0,
        "connect_grace_seconds": 300.0,
    }
    return PoolPolicy(**(base | fields))


def pod(
    name: str,
    phase: PodPhase = PodPhase.RUNNING,
    *,
    age: float = 1000.0,
    shape: str = SHAPE.id,
    finished_ago: float | None = None,
    ran_for: float | None = None,
) -> PodView:
    created = NOW - age
    finished = None if finished_ago is None else NOW - finished_ago
    started = created if ran_for is None or finished is None else finished - ran_for
    return PodView(name, phase, shape, created, started_at=started, finished_at=finished)


def idle(name: str) -> WorkerView:
    return WorkerView(hostname=name)


def busy(name: str, tasks: int = 1) -> WorkerView:
    return WorkerView(hostname=name, tasks_running=tasks, cores_inuse=tasks)


def decide(
    *,
    queue: Sequence[CategoryDemand] = (),
    pods: Sequence[PodView] = (),
    workers: Sequence[WorkerView] = (),
    idle_for: dict[str, float] | None = None,
    last_scale_up: float | None = None,
    reachable: bool = True,
    **policy_fields: Any,
) -> ScalingDecision:
    return decide_scaling(
        ScalingInputs(
            policy=policy(**policy_fields),
            queue=queue,
            pods=pods,
            workers=workers,
            idle_since={name: NOW - seconds for name, seconds in (idle_for or {}).items()},
            now=NOW,
            last_scale_up=last_scale_up,
            manager_reachable=reachable,
        )
    )


def waiting(
    count: int, task: TaskResources = ONE_CORE, category: str = "default"
) -> CategoryDemand:
    return CategoryDemand(category, waiting=count, task=task)


# Scale-up


def test_forty_one_core_tasks_on_four_core_workers_create_ten_pods() -> None:
    decision = decide(queue=[waiting(40)])
    assert decision.create == {SHAPE.id: 10}
    assert decision.desired_replicas == 10
    assert decision.delete == ()
    assert decision.kind == DecisionKind.SCALE_UP
    assert "40 tasks (40 waiting, 0 running) need 10 workers" in decision.reason
    assert "4 per c4m8192d16384 worker" in decision.reason
    assert "creating 10" in decision.reason


def test_tasks_of_unknown_size_take_a_whole_worker_each() -> None:
    decision = decide(queue=[waiting(7, TaskResources())])
    assert decision.create == {SHAPE.id: 7}


def test_memory_bound_tasks_need_more_workers_than_cores_suggest() -> None:
    decision = decide(queue=[waiting(12, TaskResources(cores=1, memory_mb=4096))])
    assert decision.create == {SHAPE.id: 6}  # two per worker: memory binds


def test_running_tasks_keep_their_workers_wanted() -> None:
    queue = [CategoryDemand("default", waiting=4, running=8, task=ONE_CORE)]
    pods = [pod(f"w{i}") for i in range(2)]
    decision = decide(queue=queue, pods=pods, workers=[busy("w0", 4), busy("w1", 4)])
    assert decision.create == {SHAPE.id: 1}
    assert decision.desired_replicas == 3


def test_backlog_is_clamped_to_max_and_min() -> None:
    capped = decide(queue=[waiting(400)], max_workers=20)
    assert capped.create == {SHAPE.id: 20}
    assert capped.desired_replicas == 20
    assert "capped at maxWorkers 20" in capped.reason
    floor = decide(min_workers=2)
    assert floor.create == {SHAPE.id: 2}
    assert "raised to minWorkers 2" in floor.reason


def test_no_more_than_the_step_per_decision() -> None:
    decision = decide(queue=[waiting(40)], scale_up_step=3)
    assert decision.create == {SHAPE.id: 3}
    assert decision.desired_replicas == 10
    assert "creating 3 (scale-up step)" in decision.reason


def test_pending_pods_are_capacity_already_coming() -> None:
    pending = [pod(f"p{i}", PodPhase.PENDING, age=5) for i in range(4)]
    assert decide(queue=[waiting(40)], pods=pending).create == {SHAPE.id: 6}
    all_pending = [pod(f"p{i}", PodPhase.PENDING, age=5) for i in range(10)]
    decision = decide(queue=[waiting(40)], pods=all_pending)
    assert decision.create == {}
    assert decision.kind == DecisionKind.STEADY


def test_terminating_pods_do_not_count() -> None:
    going = [pod(f"t{i}", PodPhase.TERMINATING) for i in range(10)]
    decision = decide(queue=[waiting(40)], pods=going)
    assert decision.create == {SHAPE.id: 10}
    assert "10 terminating, not counted" in decision.reason


def test_max_counts_every_live_pod() -> None:
    pods = [pod(f"w{i}") for i in range(8)]
    workers = [busy(f"w{i}", 4) for i in range(8)]
    decision = decide(queue=[waiting(40)], pods=pods, workers=workers, max_workers=9)
    assert decision.create == {SHAPE.id: 1}
    assert "capped at maxWorkers 9" in decision.reason
    full = decide(queue=[waiting(40)], pods=pods, workers=workers, max_workers=8)
    assert full.create == {}
    assert full.kind == DecisionKind.STEADY


# Scale-down


def test_scale_down_removes_pending_newest_first_then_longest_idle_never_busy() -> None:
    pods = [
        pod("pending-old", PodPhase.PENDING, age=50),
        pod("pending-new", PodPhase.PENDING, age=10),
        pod("idle-long"),
        pod("idle-short"),
        pod("busy-1"),
        pod("busy-2"),
    ]
    workers = [idle("idle-long"), idle("idle-short"), busy("busy-1"), busy("busy-2")]
    idle_for = {"idle-long": 600.0, "idle-short": 120.0}
    # 8 one-core tasks running on the two busy workers: 2 workers wanted, 4 surplus
    queue = [CategoryDemand("default", waiting=0, running=8, task=ONE_CORE)]
    decision = decide(queue=queue, pods=pods, workers=workers, idle_for=idle_for)
    assert decision.delete == ("pending-new", "pending-old", "idle-long", "idle-short")
    assert decision.kind == DecisionKind.SCALE_DOWN
    assert decision.desired_replicas == 2
    one_less = decide(queue=[*queue, waiting(4)], pods=pods, workers=workers, idle_for=idle_for)
    assert one_less.delete == ("pending-new", "pending-old", "idle-long")


def test_busy_workers_are_never_deleted_even_below_the_backlog() -> None:
    pods = [pod(f"w{i}") for i in range(5)]
    workers = [busy(f"w{i}") for i in range(5)]
    decision = decide(pods=pods, workers=workers)
    assert decision.delete == ()
    assert decision.desired_replicas == 0
    assert decision.kind == DecisionKind.SCALE_DOWN_BLOCKED
    assert "5 surplus pods kept; not removable: 5 busy" in decision.reason


def test_idle_workers_wait_for_the_idle_delay() -> None:
    pods = [pod("a"), pod("b")]
    workers = [idle("a"), idle("b")]
    decision = decide(pods=pods, workers=workers, idle_for={"a": 30.0, "b": 61.0})
    assert decision.delete == ("b",)
    assert "1 idle for less than 60s" in decision.reason
    unknown_idle_time = decide(pods=pods, workers=workers, idle_for={})
    assert unknown_idle_time.delete == ()


def test_no_scale_down_during_the_cooldown_after_a_scale_up() -> None:
    pods = [pod("a"), pod("b", PodPhase.PENDING)]
    inputs: dict[str, Any] = {"pods": pods, "workers": [idle("a")], "idle_for": {"a": 600.0}}
    cooling = decide(**inputs, last_scale_up=NOW - 10)
    assert cooling.delete == ()
    assert cooling.kind == DecisionKind.COOLDOWN
    assert "cooldown after the last scale-up (20s left)" in cooling.reason
    assert decide(**inputs, last_scale_up=NOW - 31).delete == ("b", "a")


def test_workers_that_never_connect_are_removed_only_after_the_grace_period() -> None:
    pods = [pod("young", age=100), pod("stuck", age=400)]
    decision = decide(pods=pods)
    assert decision.delete == ("stuck",)
    assert "1 not connected yet" in decision.reason


def test_a_pending_pod_whose_worker_is_connected_and_busy_stays() -> None:
    decision = decide(pods=[pod("p", PodPhase.PENDING)], workers=[busy("p")])
    assert decision.delete == ()


def test_pods_in_phase_unknown_are_never_deleted() -> None:
    decision = decide(pods=[pod("lost", PodPhase.UNKNOWN)])
    assert decision.delete == ()
    assert "1 in phase Unknown" in decision.reason


# Manager unreachable


def test_unreachable_manager_holds_no_deletes_and_no_creates_beyond_min() -> None:
    pods = [pod("a"), pod("b", PodPhase.PENDING)]
    held = decide(
        queue=[waiting(400)], pods=pods, workers=[idle("a")], idle_for={"a": 999}, reachable=False
    )
    assert (held.create, held.delete) == ({}, ())
    assert held.kind == DecisionKind.MANAGER_UNREACHABLE
    assert held.desired_replicas == 2
    assert held.reason.startswith("manager unreachable: holding at 2")
    to_min = decide(pods=pods, reachable=False, min_workers=5, scale_up_step=2)
    assert to_min.create == {SHAPE.id: 2}
    assert "creating 2 to reach minWorkers" in to_min.reason
    done = decide(pods=[pod("done", PodPhase.SUCCEEDED, finished_ago=1)], reachable=False)
    assert done.delete_finished == ("done",)  # its worker has exited: safe to clean up


def test_unreachable_manager_with_autoscale_off_still_scales_up_to_replicas() -> None:
    """kubectl scale needs no word from the manager to add workers; only removing them needs
    its list of idle workers (the bug: the pool held at minWorkers until it could reach it)."""
    manual = decide(autoscale=False, replicas=6, reachable=False, min_workers=1)
    assert manual.create == {SHAPE.id: 6}
    assert manual.desired_replicas == 6
    assert "creating 6 to reach replicas 6 (autoscale off)" in manual.reason
    stepped = decide(autoscale=False, replicas=1000, max_workers=1000, reachable=False)
    assert stepped.create == {SHAPE.id: 100}  # the scale-up step still applies
    fewer = decide(
        autoscale=False, replicas=1, pods=[pod("a"), pod("b")], workers=[], reachable=False
    )
    assert (fewer.create, fewer.delete) == ({}, ())  # no scale-down without the manager
    assert fewer.desired_replicas == 2


# Autoscale off


def test_autoscale_off_follows_replicas() -> None:
    decision = decide(autoscale=False, replicas=6, queue=[waiting(400)])
    assert decision.create == {SHAPE.id: 6}
    assert decision.desired_replicas == 6
    assert decision.reason.startswith("autoscale off: replicas 6")
    unset = decide(autoscale=False, replicas=None, min_workers=2)
    assert unset.create == {SHAPE.id: 2}


def test_autoscale_off_scale_down_takes_pending_and_idle_first_without_delays() -> None:
    pods = [pod("busy"), pod("idle"), pod("pending", PodPhase.PENDING)]
    workers = [busy("busy"), idle("idle")]
    inputs: dict[str, Any] = {"pods": pods, "workers": workers, "idle_for": {"idle": 1.0}}
    decision = decide(autoscale=False, replicas=1, last_scale_up=NOW, **inputs)
    assert decision.delete == ("pending", "idle")
    only_busy_left = decide(autoscale=False, replicas=0, **inputs)
    assert only_busy_left.delete == ("pending", "idle")
    assert only_busy_left.kind == DecisionKind.SCALE_DOWN
    assert "1 surplus pods kept; not removable: 1 busy" in only_busy_left.reason
    waiting_for_busy = decide(
        autoscale=False, replicas=0, pods=[pod("busy")], workers=[busy("busy")]
    )
    assert waiting_for_busy.kind == DecisionKind.SCALE_DOWN_BLOCKED
    assert waiting_for_busy.delete == ()


# Suspended


def test_a_suspended_pool_creates_none_and_drains_pending_and_idle_at_once_never_busy() -> None:
    pods = [pod("busy"), pod("idle"), pod("pending", PodPhase.PENDING)]
    workers = [busy("busy"), idle("idle")]
    suspended = decide(
        suspended=True,
        queue=[waiting(400)],
        min_workers=5,
        pods=pods,
        workers=workers,
        idle_for={"idle": 1.0},  # idle for a second: no idle delay, the user asked
        last_scale_up=NOW,  # no cooldown either
    )
    assert suspended.create == {}
    assert suspended.delete == ("pending", "idle")
    assert suspended.desired_replicas == 0
    assert suspended.reason.startswith("suspended (spec.suspend); want 0")
    assert "1 surplus pods kept; not removable: 1 busy" in suspended.reason
    # Manual pools too: replicas is not followed while suspended.
    manual = decide(suspended=True, autoscale=False, replicas=6)
    assert (manual.create, manual.desired_replicas) == ({}, 0)
    # Resumed: the same pool scales from its backlog again.
    resumed = decide(queue=[waiting(400)], min_workers=5, pods=pods, workers=workers)
    assert resumed.create == {SHAPE.id: 47}


def test_a_suspended_pool_whose_manager_is_unreachable_deletes_only_pods_that_cannot_run() -> None:
    cannot = dataclasses.replace(
        pod("stuck", PodPhase.PENDING), trouble=PodTrouble("ImagePullBackOff", "no image")
    )
    pods = [pod("a"), pod("b", PodPhase.PENDING), cannot]
    held = decide(suspended=True, pods=pods, reachable=False, min_workers=5)
    assert (held.create, held.delete) == ({}, ("stuck",))  # no worker runs in it
    assert held.desired_replicas == 2
    assert held.reason.startswith("suspended (spec.suspend), manager unreachable: holding at 2")
    assert held.reason.endswith("; deleting 1 that cannot run")
    manual = decide(suspended=True, autoscale=False, replicas=6, reachable=False)
    assert (manual.create, manual.kind) == ({}, DecisionKind.MANAGER_UNREACHABLE)


# Other pools' workers


def test_workers_of_other_pools_are_ignored() -> None:
    mine = [pod("mine-1"), pod("mine-2")]
    others = [busy("other-pool-1"), idle("laptop.example.org"), idle("mine-10")]
    decision = decide(
        pods=mine,
        workers=[idle("mine-1.pods.cluster.local"), *others],
        idle_for={"mine-1": 600.0, "laptop": 600.0, "mine-10": 600.0},
        queue=[CategoryDemand("default", waiting=0, running=4, task=ONE_CORE)],
    )
    # The 4 running tasks are on the other pool's worker, yet they need a worker here too;
    # mine-2 never connected in its 1000 s, so it goes before the idle mine-1.
    assert decision.desired_replicas == 1
    assert decision.delete == ("mine-2",)
    assert "other-pool-1" not in decision.reason
    assert "laptop" not in decision.delete


# Finished pods and crash loops


def test_finished_pods_are_cleaned_up_and_replaced() -> None:
    pods = [
        pod("done", PodPhase.SUCCEEDED, finished_ago=5, ran_for=2000),
        pod("failed-long-ago", PodPhase.FAILED, finished_ago=700, ran_for=2000),
        pod("failed-recently", PodPhase.FAILED, finished_ago=100, ran_for=2000),
    ]
    decision = decide(pods=pods, queue=[waiting(8)])
    assert decision.delete_finished == ("done", "failed-long-ago")
    assert decision.create == {SHAPE.id: 2}
    assert decision.delete == ()
    assert "removing 2 finished pods" in decision.reason


def test_pods_failing_right_after_start_stop_new_creations() -> None:
    crashed = [pod(f"c{i}", PodPhase.FAILED, finished_ago=30 * i, ran_for=3) for i in range(3)]
    decision = decide(pods=crashed, queue=[waiting(8)])
    assert decision.create == {}
    assert decision.kind == DecisionKind.CREATION_BACKOFF
    assert "3 pods failed soon after starting" in decision.reason
    two = decide(pods=crashed[:2], queue=[waiting(8)])
    assert two.create == {SHAPE.id: 2}
    held = decide(pods=crashed, min_workers=1, reachable=False)
    assert held.create == {}


# Shapes


def test_each_category_scales_its_own_shape() -> None:
    small = WorkerShape.of(cores=1, memory_mb=2048, disk_mb=4096)
    big = WorkerShape.of(cores=8, memory_mb=32768, disk_mb=65536)
    queue = [
        waiting(3, TaskResources(cores=1, memory_mb=1000), "light"),
        waiting(4, TaskResources(cores=4, memory_mb=16000), "heavy"),
    ]
    decision = decide(shapes=(small, big), queue=queue)
    assert decision.create == {small.id: 3, big.id: 2}
    assert decision.desired_by_shape == {small.id: 3, big.id: 2}


def test_pods_of_other_shapes_count_towards_max_and_go_first_once_idle() -> None:
    old = [pod("old-1", shape="retired"), pod("old-2", shape="retired")]
    workers = [idle("old-1"), busy("old-2")]
    decision = decide(
        pods=old, workers=workers, idle_for={"old-1": 120.0}, queue=[waiting(8)], max_workers=3
    )
    assert decision.create == {SHAPE.id: 1}  # 2 old pods leave room for 1
    assert decision.delete == ("old-1",)
    assert decision.kind == DecisionKind.REBALANCE
    assert "2 of other shapes" in decision.reason
    assert "creating 1 (maxWorkers)" in decision.reason
    assert "1 surplus pods kept; not removable: 1 busy" in decision.reason
    at_max = decide(pods=[*old, pod("old-3", shape="retired")], queue=[waiting(8)], max_workers=3)
    assert at_max.create == {}
    assert "2 more wanted but 3 pods already reach maxWorkers" in at_max.reason


# Idempotency


def test_same_inputs_same_decision_whatever_the_order() -> None:
    pods = [
        pod("a"),
        pod("b"),
        pod("c", PodPhase.PENDING, age=3),
        pod("d", PodPhase.PENDING, age=4),
        pod("e", PodPhase.SUCCEEDED, finished_ago=1),
    ]
    workers = [idle("a"), idle("b"), busy("x-other")]
    inputs = ScalingInputs(
        policy=policy(),
        queue=[waiting(2, ONE_CORE, "k"), waiting(1, TaskResources(), "j")],
        pods=pods,
        workers=workers,
        idle_since={"a": NOW - 100, "b": NOW - 100},
        now=NOW,
    )
    first = decide_scaling(inputs)
    assert first == decide_scaling(inputs)
    shuffled = dataclasses.replace(
        inputs,
        queue=list(reversed(inputs.queue)),
        pods=list(reversed(pods)),
        workers=list(reversed(workers)),
    )
    again = decide_scaling(shuffled)
    assert (again.create, again.delete, again.delete_finished, again.desired_replicas) == (
        first.create,
        first.delete,
        first.delete_finished,
        first.desired_replicas,
    )
    assert first.delete == ("c", "d")  # 2 wanted: the pending ones go, ties broken by name


def test_a_taskvine_worker_holding_only_its_file_cache_is_idle() -> None:
    """TaskVine reports a worker's cache as disk in use: that is no task, and the worker may go."""
    cached = WorkerView(hostname="w", disk_inuse_mb=12.0)
    assert not cached.busy
    assert WorkerView(hostname="w", memory_inuse_mb=100.0).busy
    assert WorkerView(hostname="w", tasks_running=1).busy
    decision = decide(pods=[pod("w")], workers=[cached], idle_for={"w": 999})
    assert decision.delete == ("w",)
