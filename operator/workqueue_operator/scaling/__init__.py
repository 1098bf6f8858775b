"""Scaling of a WorkerPool from its manager's backlog: pure decisions, no I/O.

The handler gathers state (the pool's spec, its pods, the manager's ``worker_status`` and
per-category backlog), keeps each worker's idle time with :func:`track_idle_since`, calls
:func:`decide_scaling`, and applies the :class:`ScalingDecision`: create pods per shape (names
from ``k8s.pods.worker_pod_name``), delete the named pods, and write ``desiredReplicas`` and
``desiredReason``.

Modules, one job each: ``shapes`` (worker shapes), ``inputs`` (what a decision is made from),
``workers`` (workers by pod, idle tracking), ``capacity`` (workers a backlog needs),
``scaledown`` (which pods may go, in which order), ``finished`` (exited pods, crash loops),
``decision`` (the decision).
"""

from workqueue_operator.scaling.capacity import (
    BacklogNeed,
    CategoryNeed,
    apportion,
    backlog_need,
    choose_shape,
    tasks_per_worker,
)
from workqueue_operator.scaling.decision import DecisionKind, ScalingDecision, decide_scaling
from workqueue_operator.scaling.finished import FinishedPods, review_finished_pods
from workqueue_operator.scaling.inputs import (
    UNKNOWN,
    CategoryDemand,
    PodPhase,
    PodView,
    PoolPolicy,
    ScalingInputs,
    TaskResources,
    WorkerView,
)
from workqueue_operator.scaling.scaledown import Kept, Removable
from workqueue_operator.scaling.workers import track_idle_since, worker_host_key
from workqueue_operator.values.shapes import WorkerShape, shape_id_for

__all__ = [
    "UNKNOWN",
    "BacklogNeed",
    "CategoryDemand",
    "CategoryNeed",
    "DecisionKind",
    "FinishedPods",
    "Kept",
    "PodPhase",
    "PodView",
    "PoolPolicy",
    "Removable",
    "ScalingDecision",
    "ScalingInputs",
    "TaskResources",
    "WorkerShape",
    "WorkerView",
    "apportion",
    "backlog_need",
    "choose_shape",
    "decide_scaling",
    "review_finished_pods",
    "shape_id_for",
    "tasks_per_worker",
    "track_idle_since",
    "worker_host_key",
]
