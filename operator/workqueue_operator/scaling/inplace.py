"""updateMode InPlace: which idle pods get their CPU and memory rewritten in place (pods/resize),
what becomes of a resize under way, and which pods are recreated because a resize cannot be done.
Pure.

A resize is recorded on the pod itself: the operator first relabels the pod with the shape it
resizes to (so the scaler counts it as that shape from the start) and notes the shape it came
from and when it asked (annotations), then asks for the resize. What it later sees of that pod
(its spec, the kubelet's ``PodResizePending``/``PodResizeInProgress`` conditions, its worker)
says what to do next, also after an operator restart:

* done (the container runs with the CPU and memory of the label's shape): drop the record;
* the kubelet found it Infeasible, or the apiserver refused it: recreate the pod when its worker
  is idle, take the resize back when it is busy;
* the worker got a task before the kubelet acted: take the resize back (resize to what the
  container has), so that a running task never sees its worker restarted or shrunk;
* not done within ``resizeDeadlineSeconds`` (Deferred: the node has no room): recreate the pod
  when its worker is idle;
* otherwise wait.

Ephemeral storage and GPUs cannot be resized: a pod is only resized to a shape whose disk fits
in the disk it has (it keeps that disk) and whose GPUs are its own; a pod that no recommended
shape fits, or one made without a resize policy that restarts its worker, is recreated instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from workqueue_operator.api.pool import UpdateMode, WorkerPoolSpec
from workqueue_operator.scaling.inputs import PodPhase, PodView, ResizeState, WorkerView
from workqueue_operator.scaling.pool_shapes import off_by, shape_of, sizes_pods
from workqueue_operator.scaling.workers import worker_host_key
from workqueue_operator.values.shapes import WorkerShape


class ResizeResult(StrEnum):
    """What happened to an in-place resize; the metric's ``result`` label."""

    REQUESTED = "requested"
    DONE = "done"
    DEFERRED = "deferred"
    INFEASIBLE = "infeasible"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ResizePod:
    """Rewrite a pod's CPU and memory to ``shape`` and label it with the shape.

    ``from_shape`` set: a new resize; the pod is labelled and its record written first, then
    resized. ``from_shape`` None: a resize taken back; the pod is resized back to ``shape``
    (what its container has), then labelled with it and its record dropped."""

    name: str
    shape: WorkerShape
    from_shape: str | None
    result: ResizeResult | None
    """What the apiserver taking it counts as: REQUESTED for a new resize; CANCELLED,
    INFEASIBLE or TIMED_OUT for one taken back; None when already counted."""
    message: str


@dataclass(frozen=True)
class RecreatePod:
    """Delete a pod that cannot be resized in place and create one of ``shape`` instead."""

    name: str
    shape: WorkerShape
    why: str


@dataclass(frozen=True)
class ResizeNote:
    """Something that happened to a resize without a resize request of this pass: done (its
    record is dropped), first seen Deferred, or infeasible or timed out (the pod is
    recreated)."""

    name: str
    result: ResizeResult
    message: str


@dataclass(frozen=True)
class InPlaceInputs:
    spec: WorkerPoolSpec
    recommended: Sequence[WorkerShape]
    """The recommended shapes (buckets) of all categories."""
    pods: Sequence[PodView]
    workers: Sequence[WorkerView]
    idle_since: Mapping[str, float]
    now: float
    manager_reachable: bool
    refused: Mapping[str, str] = field(default_factory=dict)
    """Pods whose resize the apiserver refused in the last pass, with its message."""
    deferred_seen: frozenset[str] = frozenset()
    """Pods whose resize under way was already seen Deferred (counted once)."""


@dataclass(frozen=True)
class ResizeOutcome:
    """What the apiserver did with a pass's resize requests."""

    taken: tuple[str, ...] = ()
    """Pods whose resize (or resize back) it took."""
    refused: Mapping[str, str] = field(default_factory=dict)
    """Pods whose resize it refused, with its message (e.g. the node's allocatable is too
    small: ``node didn't have enough allocatable resources``)."""


@dataclass(frozen=True)
class InPlacePlan:
    resizes: tuple[ResizePod, ...] = ()
    finished: tuple[str, ...] = ()
    """Pods whose resize is done: their record is dropped."""
    recreate: tuple[RecreatePod, ...] = ()
    """Pods to delete and replace with a pod of the shape they were to have."""
    notes: tuple[ResizeNote, ...] = ()
    deferred_seen: frozenset[str] = frozenset()
    in_progress: int = 0
    """Resizes of the operator's under way (not done, not given up)."""
    pods: tuple[PodView, ...] = ()
    """The pool's pods as the scaling decision should count them: a pod being resized, or
    recreated, as its new shape (a recreated pod's replacement is created with it)."""


def in_place(spec: WorkerPoolSpec) -> bool:
    """Whether the pool resizes its pods in place."""
    return sizes_pods(spec) and spec.sizing.update_mode is UpdateMode.IN_PLACE


def plan_in_place(inputs: InPlaceInputs) -> InPlacePlan:
    """The in-place resizes of one pass, and the pods as the scaling decision should see them."""
    if not in_place(inputs.spec):
        return InPlacePlan(pods=tuple(inputs.pods))
    walk = _Walk(inputs)
    for pod in inputs.pods:
        if pod.phase is not PodPhase.RUNNING:
            walk.keep(pod)
        elif pod.resize.from_shape is not None:
            walk.under_way(pod)
        else:
            walk.settled(pod)
    return walk.plan()


def fits_use(shape: WorkerShape, worker: WorkerView | None) -> bool:
    """Whether ``shape`` holds the cores and memory the worker's tasks use now: a pod is never
    resized below that."""
    if worker is None:
        return True
    return shape.cores >= worker.cores_inuse and shape.memory_mb >= worker.memory_inuse_mb


def off_in_cpu_and_memory(have: WorkerShape, want: WorkerShape) -> float:
    """The larger relative difference of two shapes' cores and memory."""
    pairs = ((have.cores, want.cores), (have.memory_mb, want.memory_mb))
    return max(abs(h - w) / max(w, 1) for h, w in pairs)


def nearest_shape(
    have: WorkerShape, wanted: Sequence[WorkerShape], *, in_place: bool = True
) -> WorkerShape | None:
    """The wanted shape closest to ``have`` in cores and memory; ``in_place``: one that a resize
    can give it (its disk fits in the pod's, its GPUs are the pod's). Ties go to the larger
    shape; None when no wanted shape can be reached."""
    reachable = [
        w for w in wanted if not in_place or (w.disk_mb <= have.disk_mb and w.gpus == have.gpus)
    ]
    ranked = sorted(
        reachable, key=lambda w: (off_in_cpu_and_memory(have, w), -w.memory_mb, -w.cores)
    )
    return ranked[0] if ranked else None


def _workers_by_pod(workers: Sequence[WorkerView]) -> dict[str, WorkerView]:
    """One worker per pod; of a host with two connections, a busy one."""
    found: dict[str, WorkerView] = {}
    for worker in workers:
        key = worker_host_key(worker.hostname)
        if key not in found or worker.busy:
            found[key] = worker
    return found


class _Walk:
    """One walk over the pool's pods, collecting actions, notes and the decision's view."""

    def __init__(self, inputs: InPlaceInputs) -> None:
        self.inputs = inputs
        self.workers = _workers_by_pod(inputs.workers)
        self.wanted = {shape.id: shape for shape in inputs.recommended}
        self.deadline = float(inputs.spec.sizing.resize_deadline_seconds)
        self.resizes: list[ResizePod] = []
        self.finished: list[str] = []
        self.recreate: list[RecreatePod] = []
        self.notes: list[ResizeNote] = []
        self.deferred_seen: set[str] = set()
        self.in_progress = 0
        self.pods: list[PodView] = []

    def plan(self) -> InPlacePlan:
        return InPlacePlan(
            resizes=tuple(self.resizes),
            finished=tuple(self.finished),
            recreate=tuple(self.recreate),
            notes=tuple(self.notes),
            deferred_seen=frozenset(self.deferred_seen),
            in_progress=self.in_progress,
            pods=tuple(self.pods),
        )

    def keep(self, pod: PodView) -> None:
        self.pods.append(pod)

    def _wait(self, pod: PodView) -> None:
        self.in_progress += 1
        self.keep(pod)

    def _recreate(
        self, pod: PodView, shape: WorkerShape, why: str, note: ResizeResult | None = None
    ) -> None:
        self.recreate.append(RecreatePod(pod.name, shape, why))
        if note is not None:
            self.notes.append(ResizeNote(pod.name, note, why))
        self.pods.append(replace(pod, shape_id=shape.id))

    def _take_back(
        self, pod: PodView, origin: WorkerShape, result: ResizeResult | None, why: str
    ) -> None:
        self.resizes.append(ResizePod(pod.name, origin, None, result, why))
        self.pods.append(replace(pod, shape_id=origin.id))

    # --- a resize of the operator's is under way -------------------------------------------
    def under_way(self, pod: PodView) -> None:
        inputs, resize = self.inputs, pod.resize
        target, origin = shape_of(pod.shape_id), shape_of(resize.from_shape or "")
        if target is None or pod.size is None:
            self.keep(pod)  # not a label the operator writes: leave it
            return
        done = resize.state is ResizeState.NONE and (
            (pod.size.cores, pod.size.memory_mb) == (target.cores, target.memory_mb)
        )
        if done:
            self.finished.append(pod.name)
            message = (
                f"pod {pod.name} resized in place from {resize.from_shape} to {target.id}: its "
                "worker restarted with the new size in the same pod"
            )
            self.notes.append(ResizeNote(pod.name, ResizeResult.DONE, message))
            self.keep(pod)
            return
        worker = self.workers.get(worker_host_key(pod.name))
        busy = worker is not None and worker.busy
        refusal = inputs.refused.get(pod.name)
        started = resize.requested_at or resize.since or inputs.now
        if not inputs.manager_reachable:
            self._wait(pod)  # whether its worker is busy is unknown
        elif resize.state is ResizeState.INFEASIBLE or refusal is not None:
            said = refusal if refusal is not None else resize.message
            self._infeasible(pod, target, origin, busy, counted=refusal is not None, said=said)
        elif busy and resize.state is not ResizeState.IN_PROGRESS and origin is not None:
            why = (
                f"pod {pod.name}: its worker got a task before the resize to {target.id} was "
                f"done; resizing it back to {origin.id}"
            )
            self._take_back(pod, origin, ResizeResult.CANCELLED, why)
        elif inputs.now - started > self.deadline and not busy:
            said = resize.state.value + (f": {resize.message}" if resize.message else "")
            why = (
                f"pod {pod.name}: the resize to {target.id} was not done within "
                f"{self.deadline:.0f}s ({said}); recreating it"
            )
            self._recreate(pod, target, why, ResizeResult.TIMED_OUT)
        elif resize.state is ResizeState.NONE and not busy:
            # The record is on the pod but the apiserver never took the resize (the operator
            # stopped between its two requests): ask again.
            message = f"pod {pod.name}: resizing in place from {resize.from_shape} to {target.id}"
            self.resizes.append(
                ResizePod(pod.name, target, resize.from_shape, ResizeResult.REQUESTED, message)
            )
            self._wait(pod)
        else:
            if resize.state is ResizeState.DEFERRED:
                self.deferred_seen.add(pod.name)
                if pod.name not in inputs.deferred_seen:
                    message = (
                        f"pod {pod.name}: the kubelet deferred the resize to {target.id} "
                        f"({resize.message}); it is retried until "
                        f"{self.deadline:.0f}s after it was asked for"
                    )
                    self.notes.append(ResizeNote(pod.name, ResizeResult.DEFERRED, message))
            self._wait(pod)

    def _infeasible(
        self,
        pod: PodView,
        target: WorkerShape,
        origin: WorkerShape | None,
        busy: bool,
        *,
        counted: bool,
        said: str,
    ) -> None:
        """The resize can never be done: recreate the pod, or while its worker is busy take
        the resize back. ``counted``: the apiserver's refusal was counted when it came."""
        if not busy:
            why = f"pod {pod.name}: the resize to {pod.shape_id} cannot be done ({said}); "
            note = None if counted else ResizeResult.INFEASIBLE
            self._recreate(pod, target, why + "recreating it", note)
        elif origin is not None:
            why = (
                f"pod {pod.name}: the resize to {pod.shape_id} cannot be done ({said}) and its "
                f"worker is busy; resizing it back to {origin.id}"
            )
            self._take_back(pod, origin, None if counted else ResizeResult.INFEASIBLE, why)
        else:
            self._wait(pod)

    # --- no resize under way: is one wanted? -----------------------------------------------
    def settled(self, pod: PodView) -> None:
        inputs, key = self.inputs, worker_host_key(pod.name)
        have = shape_of(pod.shape_id) or pod.size
        worker = self.workers.get(key)
        since = inputs.idle_since.get(key)
        wanted = list(self.wanted.values())
        if (
            not wanted
            or not inputs.manager_reachable
            or pod.shape_id in self.wanted
            or have is None
            or pod.resize.state is not ResizeState.NONE  # someone else's resize
            or worker is None
            or worker.busy
            or since is None
            or inputs.now - since < inputs.spec.autoscale.idle_delay_seconds
            or min(off_by(have, w) for w in wanted) <= inputs.spec.sizing.margin_percent / 100
        ):
            self.keep(pod)
            return
        target = nearest_shape(have, wanted)
        if target is None or not pod.resize.resizable:
            why = (
                "made without a resize policy that restarts its worker (before InPlace)"
                if not pod.resize.resizable
                else f"no recommended shape fits its disk ({have.disk_mb} MB) and GPUs"
            )
            anew = nearest_shape(have, wanted, in_place=False) or wanted[0]
            self._recreate(pod, anew, f"pod {pod.name}: {why}; recreating it as {anew.id}")
            return
        if not fits_use(target, worker):
            self.keep(pod)
            return
        message = f"pod {pod.name}: resizing in place from {pod.shape_id} to {target.id}"
        self.resizes.append(
            ResizePod(pod.name, target, pod.shape_id, ResizeResult.REQUESTED, message)
        )
        self.in_progress += 1
        self.pods.append(replace(pod, shape_id=target.id))
