"""Why a pod is not running, in the pod's own words (plain JSON as the apiserver returns it):
evicted, not schedulable, or a container that will not start by itself. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from workqueue_operator.values.pod_trouble import (
    EVICTED,
    SCHEDULING_GATED,
    STUCK_CONTAINER_REASONS,
    UNSCHEDULABLE,
    PodTrouble,
)


def newest_pod(pods: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The most recently created pod that is not being deleted."""
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    return max(
        live, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "", default=None
    )


def newest_pod_trouble(pods: Iterable[Mapping[str, Any]], what: str) -> str:
    """:func:`pod_trouble` of the newest of ``pods`` (:func:`newest_pod`); '' when there is
    none."""
    newest = newest_pod(pods)
    return "" if newest is None else pod_trouble(newest, what)


def pod_trouble(pod: Mapping[str, Any], what: str) -> str:
    """Why ``pod`` (called ``what``, e.g. "build pod") does not run and will not by itself, as
    the pod says it; '' when nothing says so (:func:`diagnose_pod`'s message)."""
    trouble = diagnose_pod(pod, what)
    return "" if trouble is None else trouble.message


def diagnose_pod(pod: Mapping[str, Any], what: str) -> PodTrouble | None:
    """Why ``pod`` (called ``what``) does not run and will not by itself; None when nothing
    says so."""
    name = (pod.get("metadata") or {}).get("name", "")
    status = pod.get("status") or {}
    if status.get("phase") == "Failed" and status.get("reason") == EVICTED:
        why = status.get("message") or "no message"
        return PodTrouble(EVICTED, f"{what} {name} was evicted: {why}")
    if status.get("phase") == "Pending":
        for condition in status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
                why = condition.get("message") or condition.get("reason") or "no message"
                if condition.get("reason") == SCHEDULING_GATED:
                    return PodTrouble(SCHEDULING_GATED, f"{what} {name} is gated: {why}")
                return PodTrouble(UNSCHEDULABLE, f"{what} {name} cannot be scheduled: {why}")
    statuses = [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]
    for container in statuses:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = str(waiting.get("reason") or "")
        cause = STUCK_CONTAINER_REASONS.get(reason)
        if cause is not None:
            detail = f": {waiting['message']}" if waiting.get("message") else ""
            detail += _last_exit(container)
            message = f"{what} {name}: container {container.get('name')} {reason}{detail}"
            return PodTrouble(cause, message)
    return None


def _last_exit(container: Mapping[str, Any]) -> str:
    """How the container's last run ended, when it ran (a crash loop's cause)."""
    ended = (container.get("lastState") or {}).get("terminated") or {}
    if not ended:
        return ""
    how = f"exit code {ended.get('exitCode')}"
    if ended.get("reason"):
        how += f", {ended['reason']}"
    if ended.get("message"):
        how += f": {str(ended['message']).strip()[-300:]}"
    return f" (last run: {how})"
