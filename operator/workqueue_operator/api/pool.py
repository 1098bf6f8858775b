"""WorkerPool: worker pods (work_queue_worker or vine_worker) for one manager, scaled from its
backlog."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field

from workqueue_operator.api.common import (
    ByteQuantity,
    CamelModel,
    Condition,
    Framework,
    HttpUrlPrefix,
    ImageReference,
    LocalObjectReference,
    TlsVerification,
    cel,
    with_cel,
)
from workqueue_operator.api.manager import Address, ProjectName
from workqueue_operator.api.scheduling import PodTemplate

DEFAULT_WORKER_IMAGE = "workqueue-operator/worker:0.1.0"


class ManagerAddress(CamelModel):
    """A manager that is not a WorkQueueManager object: reached by address or project name."""

    model_config = ConfigDict(
        json_schema_extra=with_cel(
            cel(
                "has(self.address) != has(self.projectName)",
                "manager needs exactly one of address (host:port) or projectName",
            ),
            cel(
                "!has(self.catalog) || has(self.projectName)",
                "manager.catalog is only used with manager.projectName",
            ),
        )
    )

    framework: Framework = Framework.WORK_QUEUE
    """WorkQueue (the pool runs work_queue_worker) or TaskVine (vine_worker)."""
    address: Address | None = None
    """host:port of the manager."""
    project_name: ProjectName | None = None
    """Project name, resolved through the catalog server."""
    catalog: Address | None = None
    """host:port of the catalog server used to resolve projectName."""
    tls: TlsVerification | None = None
    """The manager uses TLS: workers connect with --ssl, the operator's polls check its
    certificate as this says."""


class WorkerResources(CamelModel):
    """Resources of one worker pod. The worker is started with --cores/--memory/--disk equal to
    these, so that it never claims more than its pod has."""

    cores: Annotated[int, Field(ge=1, le=1024)] = 1
    """Cores: the pod's CPU request and limit, and the worker's --cores."""
    memory: ByteQuantity = "1Gi"
    """Memory: the pod's memory request and limit, and the worker's --memory (in MB)."""
    disk: ByteQuantity = "2Gi"
    """Disk: the pod's ephemeral-storage request and limit, and the worker's --disk (in MB)."""
    gpus: Annotated[int, Field(ge=0, le=64)] = 0
    """GPUs (nvidia.com/gpu), and the worker's --gpus."""


class SizingMode(StrEnum):
    FIXED = "Fixed"
    BUCKETS = "Buckets"


class SizingStrategy(StrEnum):
    ADAPTIVE = "adaptive"
    GREEDY = "greedy"
    EXHAUSTIVE = "exhaustive"
    KMEANS = "kmeans"


class UpdateMode(StrEnum):
    OFF = "Off"
    INITIAL = "Initial"
    RECREATE = "Recreate"
    IN_PLACE = "InPlace"


class SizingSpec(CamelModel):
    """How worker sizes are chosen: declared (Fixed) or from measured task resources (Buckets)."""

    mode: SizingMode = SizingMode.FIXED
    """Fixed: every pod has the declared worker resources. Buckets: pod shapes come from the
    buckets of what tasks really used, per category."""
    strategy: SizingStrategy = SizingStrategy.ADAPTIVE
    """Bucketing strategy: adaptive (this project's, see docs/sizing.md), or the published
    greedy, exhaustive and kmeans bucketing (Phung, Thain et al.)."""
    max_buckets: Annotated[int, Field(ge=1, le=16)] = 4
    """The most buckets (pod shapes) recommended per task category."""
    margin_percent: Annotated[int, Field(ge=0, le=200)] = 10
    """Headroom, in percent, added to a bucket's memory and disk when it becomes a pod's
    request; also how far a pod's shape may be off a recommended one before updateMode
    Recreate replaces it."""
    update_mode: UpdateMode = UpdateMode.INITIAL
    """Off: only recommend. Initial: new pods get the recommended shapes. Recreate: also replace
    idle pods whose shape is off by more than the margin (never a busy one). InPlace: resize
    such pods' CPU and memory in place (pods/resize; the worker restarts in the same pod, which
    keeps its node and its emptyDir cache), and recreate them when the resize cannot be done."""
    resize_deadline_seconds: Annotated[int, Field(ge=1, le=86400)] = 60
    """InPlace: how long a resize may stay Deferred (or not done) before the pod is recreated
    instead."""
    min_samples: Annotated[int, Field(ge=1, le=100000)] = 20
    """Samples a category needs before its buckets are trusted; until then the declared worker
    resources are used."""
    telemetry_url: HttpUrlPrefix | None = None
    """URL of the telemetry agent that measures this pool's tasks (http://host:9090). Default:
    the WorkQueueManager's (its sidecar, or its spec.telemetryUrl)."""


class AutoscaleSpec(CamelModel):
    """Scaling from the manager's backlog, between minWorkers and maxWorkers."""

    enabled: bool = True
    """When false, the pool follows spec.replicas (kubectl scale, HPA)."""
    poll_interval_seconds: Annotated[int, Field(ge=1, le=3600)] = 5
    """How often the backlog is read and the decision made."""
    scale_up_step: Annotated[int, Field(ge=1, le=10000)] = 10
    """The most pods one decision creates (a decision is made every pollIntervalSeconds)."""
    idle_delay_seconds: Annotated[int, Field(ge=0, le=86400)] = 60
    """How long a worker must stay idle before it may be removed."""
    cooldown_seconds: Annotated[int, Field(ge=0, le=86400)] = 30
    """Least time between a scale-up and the next scale-down."""


class WorkerPoolSpec(CamelModel):
    """Desired state of a WorkerPool."""

    model_config = ConfigDict(
        json_schema_extra=with_cel(
            cel(
                "has(self.managerRef) != has(self.manager)",
                "exactly one of managerRef (a WorkQueueManager) or manager (address or "
                "projectName) is required",
            ),
            cel("self.minWorkers <= self.maxWorkers", "minWorkers must be <= maxWorkers"),
            cel(
                "!has(self.replicas) || (self.replicas >= self.minWorkers && "
                "self.replicas <= self.maxWorkers)",
                "replicas must be between minWorkers and maxWorkers",
            ),
            cel(
                "!has(self.replicas) || (has(self.autoscale) && has(self.autoscale.enabled) && "
                "!self.autoscale.enabled)",
                "replicas is followed only with autoscale.enabled false (kubectl scale, an HPA); "
                "with autoscale on the pool sizes itself between minWorkers and maxWorkers: set "
                "those, or turn autoscale off",
            ),
        )
    )

    manager_ref: LocalObjectReference | None = None
    """The WorkQueueManager whose tasks these workers run."""
    manager: ManagerAddress | None = None
    """A manager outside any WorkQueueManager object."""
    image: ImageReference = DEFAULT_WORKER_IMAGE
    """Worker image: has work_queue_worker or vine_worker (and resource_monitor) on its PATH."""
    env_ref: LocalObjectReference | None = None
    """A PonchoEnv whose environment tasks run in."""
    min_workers: Annotated[int, Field(ge=0, le=100000)] = 0
    """The fewest worker pods the pool keeps, backlog or not (pods being created count)."""
    max_workers: Annotated[int, Field(ge=0, le=100000)] = 10
    """The most worker pods the pool has at once, whatever the backlog."""
    replicas: Annotated[int, Field(ge=0, le=100000)] | None = None
    """Worker pods wanted when autoscale is off (the scale subresource: kubectl scale, HPA)."""
    suspend: bool = False
    """Stop the pool without deleting it: no new pods, whatever minWorkers, replicas or the
    backlog say; pending pods and idle workers are deleted at once, busy workers once their
    tasks are done (never one with a task). false: the pool scales again."""
    worker: WorkerResources = Field(default_factory=WorkerResources)
    """Declared resources of one worker."""
    sizing: SizingSpec = Field(default_factory=SizingSpec)
    """How worker sizes are chosen."""
    autoscale: AutoscaleSpec = Field(default_factory=AutoscaleSpec)
    """Scaling from the manager's backlog."""
    worker_args: list[str] = Field(default_factory=list)
    """Extra arguments of the worker program (work_queue_worker or vine_worker)."""
    template: PodTemplate = Field(default_factory=PodTemplate)
    """Fields copied into every worker pod."""


class BucketShape(CamelModel):
    """One recommended worker shape."""

    cores: float
    """Cores."""
    memory_mb: float
    """Memory in MB."""
    disk_mb: float
    """Disk in MB."""
    share: float
    """Share of the category's tasks that this bucket covers (0-1)."""


class CategoryRecommendation(CamelModel):
    """Buckets recommended for one task category."""

    category: str
    """Task category."""
    buckets: list[BucketShape] = Field(default_factory=list)
    """Recommended shapes, smallest first."""
    samples: int = 0
    """Samples the buckets were computed from."""


class ShapeCount(CamelModel):
    """How many of a pool's pods have one shape."""

    shape: str
    """Shape id (the pods' workqueue.dev/shape label): c<cores>m<memory MB>d<disk MB>."""
    pods: int
    """Pods of that shape."""


class PodResizeCounts(CamelModel):
    """In-place resizes of a pool's pods (updateMode InPlace): totals since the pool was made,
    and the resizes under way now."""

    in_progress: int = 0
    """Pods whose resize was asked for and is not done yet."""
    requested: int = 0
    """Resizes the apiserver took."""
    done: int = 0
    """Resizes the kubelet completed (the worker restarted with the new size)."""
    deferred: int = 0
    """Resizes the kubelet deferred (the node had no room yet) at least once."""
    infeasible: int = 0
    """Resizes the apiserver refused or the kubelet found infeasible; the pod was recreated."""
    timed_out: int = 0
    """Resizes not done within resizeDeadlineSeconds; the pod was recreated."""
    cancelled: int = 0
    """Resizes taken back because the worker got a task before the kubelet acted."""


class WorkerPoolStatus(CamelModel):
    """Observed state of a WorkerPool."""

    observed_generation: int | None = None
    """The metadata.generation last acted on."""
    phase: str | None = None
    """A one-word summary for humans."""
    conditions: list[Condition] = Field(default_factory=list)
    """Accepted and other conditions."""
    replicas: int = 0
    """Worker pods that exist (not terminating)."""
    selector: str | None = None
    """Label selector of this pool's pods (for the scale subresource)."""
    workers_connected: int = 0
    """Workers of this pool connected to the manager."""
    workers_busy: int = 0
    """Connected workers running a task."""
    workers_idle: int = 0
    """Connected workers running no task."""
    desired_replicas: int | None = None
    """Worker pods the last decision wanted."""
    desired_reason: str | None = None
    """Why the last decision wanted that many."""
    last_scale_time: datetime | None = None
    """When pods were last created or deleted."""
    recommendations: list[CategoryRecommendation] = Field(default_factory=list)
    """Bucket recommendations per category (sizing mode Buckets)."""
    pod_shapes: list[ShapeCount] = Field(default_factory=list)
    """Worker pods that exist (not terminating) per shape, as the scaler counts them: by their
    shape label, which follows an in-place resize."""
    resizes: PodResizeCounts | None = None
    """In-place resizes (sizing updateMode InPlace)."""


class WorkerPool(CamelModel):
    """Worker pods for one manager, scaled between min and max from its backlog."""

    spec: WorkerPoolSpec
    """Desired state."""
    status: WorkerPoolStatus = Field(default_factory=WorkerPoolStatus)
    """Observed state, written by the operator."""
