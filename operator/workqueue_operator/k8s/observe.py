"""Worker pods as the apiserver returns them (plain JSON), turned into the scaler's
``PodView``s. Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from workqueue_operator.k8s.labels import (
    GENERATION_LABEL,
    RESIZE_AT_ANNOTATION,
    RESIZE_FROM_ANNOTATION,
    SHAPE_LABEL,
)
from workqueue_operator.k8s.pod_trouble import diagnose_pod
from workqueue_operator.k8s.pods import GPU_RESOURCE, WORKER_CONTAINER_NAME
from workqueue_operator.scaling import PodPhase, PodView
from workqueue_operator.scaling.inputs import ResizeState, ResizeView
from workqueue_operator.values.quantities import parse_quantity, quantity_to_cores, quantity_to_mb
from workqueue_operator.values.shapes import WorkerShape

_PHASES = {phase.value: phase for phase in PodPhase}
RESIZED = ("cpu", "memory")
"""What pods/resize changes."""


def _timestamp(value: Any) -> float | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _worker_container(items: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return next((c for c in items if c.get("name") == WORKER_CONTAINER_NAME), None)


def pod_size(limits: Mapping[str, Any]) -> WorkerShape | None:
    """The shape a container's limits make (cores and MB rounded up), None when one is
    missing or not a quantity."""
    try:
        return WorkerShape.of(
            math.ceil(quantity_to_cores(str(limits["cpu"]))),
            quantity_to_mb(str(limits["memory"]), round_up=True),
            quantity_to_mb(str(limits["ephemeral-storage"]), round_up=True),
            int(str(limits.get(GPU_RESOURCE, 0))),
        )
    except (KeyError, ValueError):
        return None


def resize_view(pod: Mapping[str, Any]) -> ResizeView:
    """What a pod says about in-place resizes: its resize policy, the kubelet's conditions (or
    a spec that its container's status does not match yet), and the operator's record."""
    metadata, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    status = pod.get("status") or {}
    annotations = metadata.get("annotations") or {}
    container = _worker_container(spec.get("containers") or []) or {}
    policies = {
        p.get("resourceName"): p.get("restartPolicy") for p in container.get("resizePolicy") or []
    }
    resizable = all(policies.get(r) == "RestartContainer" for r in RESIZED)
    state, message, since = ResizeState.NONE, "", None
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "PodResizePending":
            reason = condition.get("reason")
            state = ResizeState.INFEASIBLE if reason == "Infeasible" else ResizeState.DEFERRED
        elif condition.get("type") == "PodResizeInProgress" and state is ResizeState.NONE:
            state = ResizeState.IN_PROGRESS
        else:
            continue
        message = str(condition.get("message") or "")
        since = _timestamp(condition.get("lastTransitionTime"))
    if state is ResizeState.NONE and not _actuated(container, status):
        state = ResizeState.PROPOSED
    return ResizeView(
        resizable=resizable,
        state=state,
        message=message,
        since=since,
        from_shape=annotations.get(RESIZE_FROM_ANNOTATION),
        requested_at=_timestamp(annotations.get(RESIZE_AT_ANNOTATION)),
    )


def _actuated(container: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """Whether the worker container runs with the CPU and memory its spec asks for (as far as
    its status says: a pod not started yet has nothing to compare)."""
    running = _worker_container(status.get("containerStatuses") or [])
    if running is None or "resources" not in running:
        return True
    want = (container.get("resources") or {}).get("limits") or {}
    have = (running.get("resources") or {}).get("limits") or {}
    try:
        return all(
            parse_quantity(str(want[r])) == parse_quantity(str(have[r]))
            for r in RESIZED
            if r in want
        )
    except (KeyError, ValueError):
        return True


def pod_view(pod: Mapping[str, Any]) -> PodView:
    """One pod as the scaler sees it: a pod being deleted is Terminating whatever its phase."""
    metadata = pod.get("metadata", {})
    status = pod.get("status") or {}
    if metadata.get("deletionTimestamp"):
        phase = PodPhase.TERMINATING
    else:
        phase = _PHASES.get(status.get("phase") or "Pending", PodPhase.UNKNOWN)
    finished_at = None
    for container in status.get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated")
        if terminated:
            finished_at = _timestamp(terminated.get("finishedAt"))
    worker = _worker_container((pod.get("spec") or {}).get("containers") or [])
    limits = ((worker or {}).get("resources") or {}).get("limits") or {}
    return PodView(
        name=metadata["name"],
        phase=phase,
        shape_id=(metadata.get("labels") or {}).get(SHAPE_LABEL, ""),
        generation=_generation((metadata.get("labels") or {}).get(GENERATION_LABEL)),
        created_at=_timestamp(metadata.get("creationTimestamp")) or 0.0,
        started_at=_timestamp(status.get("startTime")),
        finished_at=finished_at,
        size=pod_size(limits),
        resize=resize_view(pod),
        trouble=diagnose_pod(pod, "worker pod"),
    )


def _generation(label: Any) -> int | None:
    """The pool generation a pod's label says it was made from; None when absent or not a
    number (a pod labelled by hand)."""
    try:
        return int(label)
    except (TypeError, ValueError):
        return None


def pod_views(pods: Iterable[Mapping[str, Any]]) -> list[PodView]:
    return [pod_view(pod) for pod in pods]
