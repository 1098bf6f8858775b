"""Worker pods as the apiserver returns them (plain JSON), turned into the scaler's
``PodView``s. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from workqueue_operator.k8s.labels import SHAPE_LABEL
from workqueue_operator.scaling import PodPhase, PodView

_PHASES = {phase.value: phase for phase in PodPhase}


def _timestamp(value: Any) -> float | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


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
    return PodView(
        name=metadata["name"],
        phase=phase,
        shape_id=(metadata.get("labels") or {}).get(SHAPE_LABEL, ""),
        created_at=_timestamp(metadata.get("creationTimestamp")) or 0.0,
        started_at=_timestamp(status.get("startTime")),
        finished_at=finished_at,
    )


def pod_views(pods: Iterable[Mapping[str, Any]]) -> list[PodView]:
    return [pod_view(pod) for pod in pods]
