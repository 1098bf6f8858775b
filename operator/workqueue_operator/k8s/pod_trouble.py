"""Why a pod is not running, in the pod's own words (plain JSON as the apiserver returns it):
evicted, not schedulable, or a container that will not start by itself. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

UNSCHEDULABLE = "Unschedulable"
EVICTED = "Evicted"
STUCK_CONTAINER_REASONS = {
    "ErrImagePull": "ImagePullBackOff",
    "ImagePullBackOff": "ImagePullBackOff",
    "InvalidImageName": "InvalidImageName",
    "CreateContainerConfigError": "CreateContainerConfigError",
    "CreateContainerError": "CreateContainerError",
    "CrashLoopBackOff": "CrashLoopBackOff",
}
"""A container waiting for one of these will not start by itself; each to the cause it names
(a failing pull alternates between ``ErrImagePull`` and ``ImagePullBackOff``: one cause)."""
LIVE_POD_TROUBLE_REASONS = (UNSCHEDULABLE, *sorted(set(STUCK_CONTAINER_REASONS.values())))
"""Every cause a pod that is not finished can give (an evicted pod has finished)."""


@dataclass(frozen=True, slots=True)
class PodTrouble:
    """Why a pod does not run: ``reason``, one CamelCase word as ``kubectl get pods`` shows it
    (``Unschedulable``, ``ImagePullBackOff``, ``CrashLoopBackOff``, ...), and ``message``, the
    pod's own words with its name."""

    reason: str
    message: str


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
                return PodTrouble(UNSCHEDULABLE, f"{what} {name} cannot be scheduled: {why}")
    statuses = [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]
    for container in statuses:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in STUCK_CONTAINER_REASONS:
            detail = f": {waiting['message']}" if waiting.get("message") else ""
            detail += _last_exit(container)
            message = f"{what} {name}: container {container.get('name')} {reason}{detail}"
            return PodTrouble(STUCK_CONTAINER_REASONS[reason], message)
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
