"""What a scaling decision is made from: the pool's policy, the manager's backlog, the pool's
pods and the connected workers. Frozen dataclasses, filled by the caller from the WorkerPool,
the manager's status answers and the pod list; times are seconds since the epoch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from workqueue_operator.api.pool import SizingMode, UpdateMode, WorkerPoolSpec, WorkerResources
from workqueue_operator.values.pod_trouble import PodTrouble
from workqueue_operator.values.quantities import quantity_to_mb
from workqueue_operator.values.shapes import WorkerShape

UNKNOWN = -1.0
"""A task resource the manager does not know (``-1`` in ``task_status``/``wable_status``)."""

DEFAULT_CONNECT_GRACE_SECONDS = 300.0
DEFAULT_FAILED_POD_RETENTION_SECONDS = 600.0
DEFAULT_CRASH_LOOP_FAILURES = 3


def declared_shape(resources: WorkerResources) -> WorkerShape:
    """The shape of a WorkerPool's declared ``worker`` resources.

    Memory and disk are rounded up to whole megabytes, so the pod gets at least what was
    declared (``1G`` becomes 954 MB, i.e. ``954Mi``) and the worker claims exactly what the pod
    has.
    """
    return WorkerShape.of(
        resources.cores,
        quantity_to_mb(resources.memory, round_up=True),
        quantity_to_mb(resources.disk, round_up=True),
        resources.gpus,
    )


@dataclass(frozen=True, slots=True)
class PoolPolicy:
    """How one WorkerPool scales: the WorkerPoolSpec's figures plus the operator's own limits.

    ``shapes`` are the worker shapes new pods may have, in order of preference; the first is the
    default (tasks of unknown size are counted on it). Pods whose shape is not listed are "other
    shape" pods: they count towards ``max_workers`` but serve no shape's backlog, so they are
    the first to go once idle.
    """

    min_workers: int
    max_workers: int
    shapes: tuple[WorkerShape, ...]
    autoscale: bool = True
    replicas: int | None = None
    """Pods wanted when ``autoscale`` is off; ``None`` means ``min_workers``."""
    suspended: bool = False
    """``spec.suspend``: no pod wanted, whatever the other figures say."""
    scale_up_step: int = 10
    cooldown_seconds: float = 30.0
    idle_delay_seconds: float = 60.0
    connect_grace_seconds: float = DEFAULT_CONNECT_GRACE_SECONDS
    """How long a Running pod may go without its worker connected before the scaler may remove
    it (image pull is done by then; the worker retries its connection with back-off)."""
    failed_pod_retention_seconds: float = DEFAULT_FAILED_POD_RETENTION_SECONDS
    """How long a Failed pod is kept (for ``kubectl logs``) before it is deleted."""
    keep_shapes_without_tasks: bool = False
    """The pods kept beyond what the tasks need (minWorkers) keep the shapes they have instead
    of taking the tasks' shapes (or the default shape when there is no task). Pools that resize
    pods in place need it: otherwise an idle pod resized to a recommended shape would be
    replaced by one of another shape, which would be resized again."""
    crash_loop_failures: int = DEFAULT_CRASH_LOOP_FAILURES
    """This many pods that failed soon after they started (within ``connect_grace_seconds``),
    all within ``failed_pod_retention_seconds``, stop new pods from being created: the image,
    its arguments or the password are broken, and more pods would fail the same way."""

    def __post_init__(self) -> None:
        if not self.shapes:
            raise ValueError("a pool policy needs at least one worker shape")
        ids = [shape.id for shape in self.shapes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"worker shape ids must be unique, got {ids}")
        if not 0 <= self.min_workers <= self.max_workers:
            raise ValueError(
                f"need 0 <= minWorkers <= maxWorkers, got {self.min_workers} and {self.max_workers}"
            )
        if self.scale_up_step < 1:
            raise ValueError(f"scale-up step must be >= 1, got {self.scale_up_step}")
        if self.crash_loop_failures < 1:
            raise ValueError(f"crash-loop failures must be >= 1, got {self.crash_loop_failures}")

    @property
    def follows_backlog(self) -> bool:
        """Whether the pool follows the manager's backlog (autoscale on, not suspended): then
        the cooldown and the idle delay hold scale-down back; a number the user asked for
        (``replicas``, ``suspended``) is followed without them."""
        return self.autoscale and not self.suspended

    @property
    def default_shape(self) -> WorkerShape:
        """The shape of pods whose backlog does not say otherwise."""
        return self.shapes[0]

    def shape(self, shape_id: str) -> WorkerShape | None:
        """The listed shape with this id, if any."""
        return next((shape for shape in self.shapes if shape.id == shape_id), None)

    @classmethod
    def from_spec(
        cls,
        spec: WorkerPoolSpec,
        *,
        shapes: Sequence[WorkerShape] = (),
        connect_grace_seconds: float = DEFAULT_CONNECT_GRACE_SECONDS,
        failed_pod_retention_seconds: float = DEFAULT_FAILED_POD_RETENTION_SECONDS,
        crash_loop_failures: int = DEFAULT_CRASH_LOOP_FAILURES,
    ) -> PoolPolicy:
        """The policy of a WorkerPoolSpec. ``shapes`` (e.g. from bucket recommendations) replace
        the single shape of ``spec.worker`` when given."""
        return cls(
            min_workers=spec.min_workers,
            max_workers=spec.max_workers,
            shapes=tuple(shapes) or (declared_shape(spec.worker),),
            autoscale=spec.autoscale.enabled,
            replicas=spec.replicas,
            suspended=spec.suspend,
            scale_up_step=spec.autoscale.scale_up_step,
            cooldown_seconds=float(spec.autoscale.cooldown_seconds),
            idle_delay_seconds=float(spec.autoscale.idle_delay_seconds),
            connect_grace_seconds=connect_grace_seconds,
            failed_pod_retention_seconds=failed_pod_retention_seconds,
            crash_loop_failures=crash_loop_failures,
            keep_shapes_without_tasks=spec.sizing.mode is SizingMode.BUCKETS
            and spec.sizing.update_mode is UpdateMode.IN_PLACE,
        )


@dataclass(frozen=True, slots=True)
class TaskResources:
    """What one task of a category declares (or was measured to use); ``UNKNOWN`` (-1) where
    not known. A task that knows none of them takes a whole worker, as the manager does."""

    cores: float = UNKNOWN
    memory_mb: float = UNKNOWN
    disk_mb: float = UNKNOWN
    gpus: float = UNKNOWN

    @property
    def is_unknown(self) -> bool:
        """Whether nothing is known: such a task takes a whole worker."""
        return max(self.cores, self.memory_mb, self.disk_mb, self.gpus) <= 0


@dataclass(frozen=True, slots=True)
class CategoryDemand:
    """The backlog of one task category: how many tasks wait and run, and how big each is.

    ``shape_id`` names the shape this category's workers should have (e.g. its bucket); when
    unset or when its tasks do not fit that shape, the first shape they fit is used.
    """

    category: str
    waiting: int
    running: int = 0
    task: TaskResources = field(default_factory=TaskResources)
    shape_id: str | None = None

    @property
    def tasks(self) -> int:
        """Tasks that need a worker slot: waiting plus running."""
        return max(0, self.waiting) + max(0, self.running)


class PodPhase(StrEnum):
    """A worker pod's phase as the scaler sees it. A pod with ``metadata.deletionTimestamp`` is
    ``TERMINATING`` whatever its ``status.phase``."""

    PENDING = "Pending"
    RUNNING = "Running"
    TERMINATING = "Terminating"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNKNOWN = "Unknown"


LIVE_PHASES = frozenset({PodPhase.PENDING, PodPhase.RUNNING, PodPhase.UNKNOWN})
"""Phases of pods that are (or will be) capacity."""


class ResizeState(StrEnum):
    """Where the kubelet is with a pod's CPU and memory, from its status."""

    NONE = "None"
    """The container runs with what the pod's spec asks for; nothing to do."""
    PROPOSED = "Proposed"
    """The spec asks for other resources than the container has, and the kubelet has not
    said anything about it yet."""
    DEFERRED = "Deferred"
    """``PodResizePending`` reason Deferred: the node has no room now; the kubelet retries."""
    INFEASIBLE = "Infeasible"
    """``PodResizePending`` reason Infeasible: the kubelet will never do it."""
    IN_PROGRESS = "InProgress"
    """``PodResizeInProgress``: the kubelet is doing it (its reason Error when it failed and
    retries)."""


@dataclass(frozen=True, slots=True)
class ResizeView:
    """What a pod says about in-place resizes: whether it can be resized, the kubelet's state,
    and the operator's own record of a resize it asked for (on the pod, so that it survives an
    operator restart)."""

    resizable: bool = False
    """Its worker restarts with the new size on a resize (``resizePolicy`` RestartContainer
    for cpu and memory, the worker's size from the pod's own resources)."""
    state: ResizeState = ResizeState.NONE
    message: str = ""
    """The kubelet's message (Deferred, Infeasible, or an error in progress)."""
    since: float | None = None
    """When the kubelet's condition last changed."""
    from_shape: str | None = None
    """The operator's record: the shape id the pod had when it asked for a resize (None: no
    resize of the operator's under way)."""
    requested_at: float | None = None
    """The operator's record: when it asked."""


@dataclass(frozen=True, slots=True)
class PodView:
    """One pod of the pool.

    ``started_at`` is when it became Running (``status.startTime`` or the container's start);
    ``finished_at`` is when its container terminated (Succeeded/Failed pods). ``shape_id`` is
    its shape label (what the scaler counts it as); ``size`` what its spec asks for now.
    """

    name: str
    phase: PodPhase
    shape_id: str
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    size: WorkerShape | None = None
    resize: ResizeView = ResizeView()
    generation: int | None = None
    """The pool's ``metadata.generation`` the pod was made from (its label; None without)."""
    trouble: PodTrouble | None = None
    """Why it does not run and will not by itself: the cause as ``kubectl get pods`` shows it
    (not schedulable, an image that cannot be pulled, a container that will not start) and the
    pod's own words; None when nothing says so."""


@dataclass(frozen=True, slots=True)
class WorkerView:
    """One connected worker as the manager's ``worker_status`` reports it. Its ``hostname`` is
    its pod's name (or that name followed by a domain); workers of other pools and hosts are
    ignored by name."""

    hostname: str
    tasks_running: int = 0
    cores_inuse: float = 0.0
    memory_inuse_mb: float = 0.0
    disk_inuse_mb: float = 0.0
    gpus_inuse: float = 0.0

    @property
    def busy(self) -> bool:
        """Whether it runs a task or holds cores, memory or GPUs for one. Disk in use is not a
        sign of work: a TaskVine worker counts its file cache in ``disk_inuse`` (its manager
        adds ``inuse_cache``), so an idle TaskVine worker that ran anything reports disk in
        use for as long as it lives."""
        return self.tasks_running > 0 or (
            max(self.cores_inuse, self.memory_inuse_mb, self.gpus_inuse) > 0
        )


@dataclass(frozen=True, slots=True)
class ScalingInputs:
    """Everything one scaling decision is made from.

    ``idle_since`` maps worker host keys (see :func:`worker_host_key`) to when each became idle,
    as :func:`track_idle_since` keeps it. ``last_scale_up`` is when pods were last created for
    this pool (``None``: never, or long ago). When ``manager_reachable`` is false, ``queue`` and
    ``workers`` are not used.
    """

    policy: PoolPolicy
    queue: Sequence[CategoryDemand]
    pods: Sequence[PodView]
    workers: Sequence[WorkerView]
    idle_since: Mapping[str, float]
    now: float
    last_scale_up: float | None = None
    manager_reachable: bool = True
    connected_pods: frozenset[str] = frozenset()
    """Pods whose worker has been seen connected: failing, they are no crash-loop failure."""
