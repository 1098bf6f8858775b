"""The scaling decision of one WorkerPool: pods to create per shape, pods to delete, and why.

Pure and deterministic: the same inputs always give the same decision, so a handler that
runs it again after a restart (or twice on the same state) converges without duplicates.
Names of new pods are not chosen here; the caller generates them (``worker_pod_name``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from workqueue_operator.scaling.capacity import BacklogNeed, apportion, backlog_need
from workqueue_operator.scaling.finished import FinishedPods, review_finished_pods
from workqueue_operator.scaling.inputs import (
    LIVE_PHASES,
    PodPhase,
    PodView,
    PoolPolicy,
    ScalingInputs,
)
from workqueue_operator.scaling.scaledown import (
    Candidate,
    Kept,
    Refusal,
    Removable,
    RemovalRules,
    choose_removals,
)
from workqueue_operator.scaling.stuck_pods import workerless
from workqueue_operator.scaling.workers import WorkerState, worker_host_key, workers_by_host


class DecisionKind(StrEnum):
    """What a decision does, as one CamelCase word (an Event's reason)."""

    SCALE_UP = "ScaleUp"
    SCALE_DOWN = "ScaleDown"
    REBALANCE = "Rebalance"
    """Pods of one shape created while surplus pods of another are deleted."""
    STEADY = "Steady"
    MANAGER_UNREACHABLE = "ManagerUnreachable"
    COOLDOWN = "Cooldown"
    """Fewer pods are needed, but a scale-up was too recent to scale down."""
    SCALE_DOWN_BLOCKED = "ScaleDownBlocked"
    """Fewer pods are needed, but the surplus pods are busy, not idle long enough, or still
    connecting."""
    CREATION_BACKOFF = "CreationBackoff"
    """More pods are needed, but recent pods failed soon after starting."""


@dataclass(frozen=True, slots=True)
class ScalingDecision:
    """What to do to one WorkerPool's pods now."""

    create: Mapping[str, int]
    """Pods to create per shape id (only shapes with some, in the policy's order)."""
    delete: tuple[str, ...]
    """Pods to delete to scale down, best first. Never one with a busy worker."""
    delete_finished: tuple[str, ...]
    """Finished pods to clean up (Succeeded, and Failed ones past their retention)."""
    desired_replicas: int
    """Pods the pool should have (status.desiredReplicas)."""
    desired_by_shape: Mapping[str, int]
    """That count per shape id."""
    kind: DecisionKind
    """What the decision does, as an Event reason."""
    reason: str
    """Why, for humans (status.desiredReason and the Event's message)."""

    @property
    def create_count(self) -> int:
        """Pods to create over all shapes."""
        return sum(self.create.values())

    @property
    def changes_pods(self) -> bool:
        """Whether the caller has anything to create or delete."""
        return bool(self.create_count or self.delete or self.delete_finished)


def _clamp(value: int, policy: PoolPolicy) -> int:
    return max(policy.min_workers, min(policy.max_workers, value))


def _seconds(value: float) -> str:
    return f"{max(0.0, value):.0f}s"


def _describe_pods(
    pods: Sequence[PodView],
    live: Sequence[PodView],
    others: int,
    workers: Mapping[str, WorkerState] | None,
) -> str:
    pending = sum(1 for pod in live if pod.phase == PodPhase.PENDING)
    running = sum(1 for pod in live if pod.phase == PodPhase.RUNNING)
    unknown = len(live) - pending - running
    parts = [f"{pending} pending", f"{running} running"]
    if unknown:
        parts.append(f"{unknown} unknown")
    if workers is not None and running:
        busy = sum(1 for state in workers.values() if state.busy)
        unconnected = sum(
            1
            for pod in live
            if pod.phase == PodPhase.RUNNING and worker_host_key(pod.name) not in workers
        )
        parts[1] += f": {busy} busy, {len(workers) - busy} idle, {unconnected} not connected"
    terminating = sum(1 for pod in pods if pod.phase == PodPhase.TERMINATING)
    if terminating:
        parts.append(f"{terminating} terminating, not counted")
    if others:
        parts.append(f"{others} of other shapes")
    return f"{len(live)} pods ({', '.join(parts)})"


def _describe_need(need: BacklogNeed) -> str:
    if not need.categories:
        return "no tasks waiting or running"
    waiting = sum(category.waiting for category in need.categories)
    running = sum(category.running for category in need.categories)
    text = f"{need.tasks} tasks ({waiting} waiting, {running} running) need {need.workers} workers"
    fitting = [category for category in need.categories if category.shape_id is not None]
    shown = sorted(fitting, key=lambda category: (-category.workers, category.category))[:3]
    details = [
        f"{category.category}: {category.tasks_per_worker} per {category.shape_id} worker"
        + (f" -> {category.workers}" if len(fitting) > 1 else "")
        for category in shown
    ]
    if len(fitting) > len(shown):
        details.append(f"{len(fitting) - len(shown)} more categories")
    if details:
        text += f" ({'; '.join(details)})"
    for category in need.unfit:
        text += (
            f"; {category.tasks} tasks of category {category.category!r} fit no worker shape"
            " and are not counted"
        )
    return text


def _describe_clamp(wanted: int, policy: PoolPolicy) -> str:
    if wanted < policy.min_workers:
        return f"; raised to minWorkers {policy.min_workers}"
    if wanted > policy.max_workers:
        return f"; capped at maxWorkers {policy.max_workers}"
    return ""


def _describe_removals(chosen: Sequence[Candidate]) -> str:
    pending = sum(1 for c in chosen if c.why == Removable.PENDING)
    parts = [f"{pending} pending"] if pending else []
    parts += [
        f"{c.name} {c.why.value} for {_seconds(c.seconds)}"
        for c in chosen
        if c.why != Removable.PENDING
    ][:5]
    if len(chosen) - pending > 5:
        parts.append(f"{len(chosen) - pending - 5} more")
    return ", ".join(parts)


def _describe_refusals(refused: Sequence[Refusal], policy: PoolPolicy) -> str:
    counts = {why: sum(1 for r in refused if r.why == why) for why in Kept}
    labels = {
        Kept.BUSY: "busy",
        Kept.IDLE_TOO_SHORT: f"idle for less than {_seconds(policy.idle_delay_seconds)}",
        Kept.CONNECTING: f"not connected yet (grace {_seconds(policy.connect_grace_seconds)})",
        Kept.UNKNOWN_PHASE: "in phase Unknown",
    }
    return ", ".join(f"{count} {labels[why]}" for why, count in counts.items() if count)


def _creation_backoff(finished: FinishedPods, policy: PoolPolicy) -> str:
    names = ", ".join(finished.quick_failures[:3])
    more = len(finished.quick_failures) - 3
    return (
        f"not creating pods: {len(finished.quick_failures)} pods failed soon after starting in "
        f"the last {_seconds(policy.failed_pod_retention_seconds)} ({names}"
        + (f" and {more} more" if more > 0 else "")
        + "); check their logs"
    )


def _with_cleanup(reason: str, finished: FinishedPods) -> str:
    if finished.to_delete:
        return f"{reason}; removing {len(finished.to_delete)} finished pods"
    return reason


def decide_scaling(inputs: ScalingInputs) -> ScalingDecision:
    """The decision for one WorkerPool now.

    * Autoscale on: the waiting and running tasks need some workers per shape (packed by the
      manager's allocation rule); that total is clamped to [minWorkers, maxWorkers].
      Autoscale off: ``replicas`` (or minWorkers), clamped the same way. Suspended: 0.
    * Pending and Running pods are capacity (Pending ones are coming: no duplicates);
      Terminating and finished pods are not.
    * Scale-up: at most ``scale_up_step`` pods per decision, never above maxWorkers (counting
      pods of other shapes); none while recent pods crash-loop.
    * Scale-down, only of surplus pods: see :mod:`~workqueue_operator.scaling.scaledown` for the
      order. Autoscale on: not within the cooldown after a scale-up, and an idle worker must
      have been idle for the idle delay. Autoscale off follows ``replicas``, and a suspended
      pool 0, without either delay (the user asked for the number), but still never removes a
      busy worker.
    * Manager unreachable: hold. No scale-down (which workers are busy is unknown); autoscale
      on: no scale-up beyond minWorkers (the backlog is unknown); autoscale off: scale-up to
      ``replicas`` all the same (the user asked for the number; it needs no word from the
      manager). Suspended: no scale-up, and only pods that say they cannot run are deleted.
    * Finished pods are cleaned up in every case: their worker has exited.
    """
    policy, now = inputs.policy, inputs.now
    shape_ids = [shape.id for shape in policy.shapes]
    finished = review_finished_pods(
        (pod for pod in inputs.pods if pod.phase in (PodPhase.SUCCEEDED, PodPhase.FAILED)),
        policy,
        now,
        connected=inputs.connected_pods,
    )
    live = sorted((pod for pod in inputs.pods if pod.phase in LIVE_PHASES), key=lambda p: p.name)
    live_by_shape = {sid: [pod for pod in live if pod.shape_id == sid] for sid in shape_ids}
    others = [pod for pod in live if pod.shape_id not in live_by_shape]
    room = max(0, policy.max_workers - len(live))

    if not inputs.manager_reachable and policy.suspended:
        return _hold_suspended(
            finished=finished,
            live=live,
            live_by_shape=live_by_shape,
            pods_text=_describe_pods(inputs.pods, live, len(others), None),
        )
    if not inputs.manager_reachable:
        return _hold(
            policy,
            finished=finished,
            live=live,
            live_by_shape=live_by_shape,
            room=room,
            pods_text=_describe_pods(inputs.pods, live, len(others), None),
        )

    live_keys = {worker_host_key(pod.name) for pod in live}
    workers = {
        key: state for key, state in workers_by_host(inputs.workers).items() if key in live_keys
    }
    pods_text = _describe_pods(inputs.pods, live, len(others), workers)

    need = backlog_need(inputs.queue, policy.shapes)
    if policy.suspended:
        wanted = target = 0
        demand_text = "suspended (spec.suspend)"
    elif policy.autoscale:
        wanted = need.workers
        target = _clamp(wanted, policy)
        demand_text = _describe_need(need) + _describe_clamp(wanted, policy)
    else:
        wanted = policy.replicas if policy.replicas is not None else policy.min_workers
        target = _clamp(wanted, policy)
        source = "replicas" if policy.replicas is not None else "replicas unset, minWorkers"
        demand_text = f"autoscale off: {source} {wanted}" + _describe_clamp(wanted, policy)
    desired = _desired_by_shape(policy, target, need, live_by_shape)

    up = _plan_scale_up(policy, desired, live_by_shape, room, finished)
    down = _plan_scale_down(inputs, desired, live_by_shape, others, workers)
    actions = _describe_actions(policy, up, down, finished, len(live))
    reason = f"{demand_text}; want {target}, have {pods_text}; {actions}"
    return ScalingDecision(
        create=up.create,
        delete=tuple(candidate.name for candidate in down.chosen),
        delete_finished=finished.to_delete,
        desired_replicas=target,
        desired_by_shape=desired,
        kind=_kind(up, down, finished),
        reason=_with_cleanup(reason, finished),
    )


def _desired_by_shape(
    policy: PoolPolicy,
    target: int,
    need: BacklogNeed,
    live_by_shape: Mapping[str, Sequence[PodView]],
) -> dict[str, int]:
    """The target split over the shapes: as the tasks need them (with autoscale off and no
    task, as the pods are). With ``keep_shapes_without_tasks`` (pools that resize pods in
    place), the pods the target holds beyond what the tasks need (minWorkers) keep the shapes
    they have, so that an idle pod resized to a recommended shape is not replaced."""
    live = {sid: len(pods) for sid, pods in live_by_shape.items()}
    if policy.keep_shapes_without_tasks and target > need.workers:
        base = {sid: need.by_shape.get(sid, 0) for sid in live}
        spare = {sid: max(0, count - base[sid]) for sid, count in live.items()}
        extra = apportion(target - need.workers, spare)
        return {sid: base[sid] + extra[sid] for sid in live}
    if not need.workers and not policy.autoscale:
        return apportion(target, live)
    return apportion(target, dict(need.by_shape))


@dataclass(frozen=True, slots=True)
class _ScaleUp:
    create: dict[str, int]
    total: int
    missing: int
    """Pods the desired counts are short of, before the step, maxWorkers and back-off."""
    limited_by_step: bool


def _plan_scale_up(
    policy: PoolPolicy,
    desired: Mapping[str, int],
    live_by_shape: Mapping[str, Sequence[PodView]],
    room: int,
    finished: FinishedPods,
) -> _ScaleUp:
    """Pods to create per shape: each shape's shortfall, at most the step in all, never above
    maxWorkers, none while pods crash-loop."""
    deficit = {sid: max(0, count - len(live_by_shape[sid])) for sid, count in desired.items()}
    missing = sum(deficit.values())
    budget = min(policy.scale_up_step, room)
    total = 0 if finished.crash_loop else min(budget, missing)
    create = {sid: n for sid, n in apportion(total, deficit).items() if n > 0}
    return _ScaleUp(create, total, missing, limited_by_step=budget == policy.scale_up_step)


@dataclass(frozen=True, slots=True)
class _ScaleDown:
    chosen: tuple[Candidate, ...]
    refused: tuple[Refusal, ...]
    surplus: int
    """Pods beyond the desired counts (all pods of other shapes among them)."""
    cooldown_left: float


def _plan_scale_down(
    inputs: ScalingInputs,
    desired: Mapping[str, int],
    live_by_shape: Mapping[str, Sequence[PodView]],
    others: Sequence[PodView],
    workers: Mapping[str, WorkerState],
) -> _ScaleDown:
    """Surplus pods that may go now, best first, per shape (pods of other shapes are all
    surplus); nothing within the cooldown after a scale-up (autoscale on)."""
    policy, now = inputs.policy, inputs.now
    groups = [
        (pods, len(pods) - desired[sid])
        for sid, pods in live_by_shape.items()
        if len(pods) > desired[sid]
    ]
    if others:
        groups.append((others, len(others)))
    surplus = sum(count for _, count in groups)
    cooldown_left = (
        inputs.last_scale_up + policy.cooldown_seconds - now
        if policy.follows_backlog and inputs.last_scale_up is not None
        else 0.0
    )
    if not surplus or cooldown_left > 0:
        return _ScaleDown((), (), surplus, cooldown_left)
    rules = RemovalRules(
        idle_delay_seconds=policy.idle_delay_seconds if policy.follows_backlog else 0.0,
        connect_grace_seconds=policy.connect_grace_seconds,
    )
    chosen: list[Candidate] = []
    refused: list[Refusal] = []
    for pods, count in groups:
        removal = choose_removals(
            pods, count, workers=workers, idle_since=inputs.idle_since, now=now, rules=rules
        )
        chosen.extend(removal.chosen)
        refused.extend(removal.refused)
    chosen.sort(key=lambda candidate: candidate.rank)
    return _ScaleDown(tuple(chosen), tuple(refused), surplus, cooldown_left)


def _describe_actions(
    policy: PoolPolicy,
    up: _ScaleUp,
    down: _ScaleDown,
    finished: FinishedPods,
    live: int,
) -> str:
    actions: list[str] = []
    if up.total:
        limit = ""
        if up.total < up.missing:
            limit = " (scale-up step)" if up.limited_by_step else " (maxWorkers)"
        actions.append(f"creating {up.total}{limit}")
    elif up.missing and finished.crash_loop:
        actions.append(_creation_backoff(finished, policy))
    elif up.missing:
        actions.append(f"{up.missing} more wanted but {live} pods already reach maxWorkers")
    if down.chosen:
        actions.append(f"deleting {len(down.chosen)}: {_describe_removals(down.chosen)}")
    left = down.surplus - len(down.chosen)
    if left > 0 and down.cooldown_left > 0:
        actions.append(
            f"{left} surplus pods wait for the cooldown after the last scale-up "
            f"({_seconds(down.cooldown_left)} left)"
        )
    elif left > 0:
        kept = _describe_refusals(down.refused, policy) or "none"
        actions.append(f"{left} surplus pods kept; not removable: {kept}")
    return "; ".join(actions) or "nothing to do"


def _kind(up: _ScaleUp, down: _ScaleDown, finished: FinishedPods) -> DecisionKind:
    if up.total and down.chosen:
        return DecisionKind.REBALANCE
    if up.total:
        return DecisionKind.SCALE_UP
    if down.chosen:
        return DecisionKind.SCALE_DOWN
    if up.missing and finished.crash_loop:
        return DecisionKind.CREATION_BACKOFF
    if down.surplus and down.cooldown_left > 0:
        return DecisionKind.COOLDOWN
    if down.surplus:
        return DecisionKind.SCALE_DOWN_BLOCKED
    return DecisionKind.STEADY


def _hold(
    policy: PoolPolicy,
    *,
    finished: FinishedPods,
    live: Sequence[PodView],
    live_by_shape: Mapping[str, Sequence[PodView]],
    room: int,
    pods_text: str,
) -> ScalingDecision:
    """The decision while the manager cannot be reached: keep what exists; reach minWorkers, or
    with autoscale off the declared replicas."""
    if policy.autoscale or policy.replicas is None:
        floor, floor_name = policy.min_workers, f"minWorkers {policy.min_workers}"
    else:
        floor = _clamp(policy.replicas, policy)
        floor_name = f"replicas {floor} (autoscale off)"
    below = max(0, floor - len(live))
    create_total = 0 if finished.crash_loop else min(policy.scale_up_step, below, room)
    default = policy.default_shape.id
    create = {default: create_total} if create_total else {}
    desired = {sid: len(pods) for sid, pods in live_by_shape.items()}
    desired[default] += below
    target = max(len(live), floor)
    reason = (
        f"manager unreachable: holding at {target} (no scale-down; no scale-up beyond "
        f"{floor_name}); have {pods_text}"
    )
    if create_total:
        reason += f"; creating {create_total} to reach {floor_name}"
    elif below and finished.crash_loop:
        reason += f"; {_creation_backoff(finished, policy)}"
    return ScalingDecision(
        create=create,
        delete=(),
        delete_finished=finished.to_delete,
        desired_replicas=target,
        desired_by_shape=desired,
        kind=DecisionKind.MANAGER_UNREACHABLE,
        reason=_with_cleanup(reason, finished),
    )


def _hold_suspended(
    *,
    finished: FinishedPods,
    live: Sequence[PodView],
    live_by_shape: Mapping[str, Sequence[PodView]],
    pods_text: str,
) -> ScalingDecision:
    """A suspended pool's decision while the manager cannot be reached: create none, delete the
    Pending pods that say they cannot run (no worker has started in them: unschedulable, an
    image that cannot be pulled) and keep the others (which of their workers are busy is
    unknown; a Running pod's container may be between two runs)."""
    stuck = tuple(pod.name for pod in live if workerless(pod))
    kept = len(live) - len(stuck)
    reason = (
        f"suspended (spec.suspend), manager unreachable: holding at {kept} (no scale-down of "
        f"pods that may run a task); have {pods_text}"
    )
    if stuck:
        reason += f"; deleting {len(stuck)} that cannot run"
    return ScalingDecision(
        create={},
        delete=stuck,
        delete_finished=finished.to_delete,
        desired_replicas=kept,
        desired_by_shape={
            sid: sum(1 for pod in pods if pod.name not in stuck)
            for sid, pods in live_by_shape.items()
        },
        kind=DecisionKind.SCALE_DOWN if stuck else DecisionKind.MANAGER_UNREACHABLE,
        reason=_with_cleanup(reason, finished),
    )
