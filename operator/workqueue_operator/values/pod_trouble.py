"""Why a pod does not run, as a value: the cause in the word ``kubectl get pods`` shows for it,
and the pod's own words. ``k8s.pod_trouble`` reads it from a pod; the WorkerPool's
``PodsRunning`` condition, its ``workqueue_operator_pods_stuck`` metric and alerts speak it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

UNSCHEDULABLE: Final = "Unschedulable"
"""No node can take the pod now (the scheduler's ``PodScheduled`` reason)."""
SCHEDULING_GATED: Final = "SchedulingGated"
"""The pod waits for its scheduling gates to be removed (a queue such as Kueue admits it)."""
EVICTED: Final = "Evicted"
"""The kubelet evicted the pod (it has finished)."""
STUCK_CONTAINER_REASONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "ErrImagePull": "ImagePullBackOff",
        "ImagePullBackOff": "ImagePullBackOff",
        "ErrImageNeverPull": "ErrImageNeverPull",
        "InvalidImageName": "InvalidImageName",
        "CreateContainerConfigError": "CreateContainerConfigError",
        "CreateContainerError": "CreateContainerError",
        "RunContainerError": "RunContainerError",
        "CrashLoopBackOff": "CrashLoopBackOff",
    }
)
"""A container waiting for one of these will not start by itself; each to the cause it names
(a failing pull alternates between ``ErrImagePull`` and ``ImagePullBackOff``: one cause)."""
WAITING_FOR_ROOM: Final = frozenset({UNSCHEDULABLE, SCHEDULING_GATED})
"""The causes that may end by themselves (a node frees room or is added, a queue admits the
pod); every other cause needs the user (an image, a Secret, a command)."""
LIVE_POD_TROUBLE_REASONS: Final = (
    *sorted(WAITING_FOR_ROOM),
    *sorted(set(STUCK_CONTAINER_REASONS.values())),
)
"""Every cause a pod that has not finished can give (an evicted pod has finished)."""


@dataclass(frozen=True, slots=True)
class PodTrouble:
    """Why a pod does not run: ``reason``, one CamelCase word as ``kubectl get pods`` shows it
    (``Unschedulable``, ``ImagePullBackOff``, ``CrashLoopBackOff``, ...), and ``message``, the
    pod's own words with its name."""

    reason: str
    message: str

    @property
    def needs_the_user(self) -> bool:
        """Whether the cause will not end by itself (:data:`WAITING_FOR_ROOM`)."""
        return self.reason not in WAITING_FOR_ROOM
