"""The PodsRunning condition: whether the pool's worker pods say they cannot run, in the pods'
own words (``PodView.trouble``: not schedulable, an image that cannot be pulled, a container
that will not start). Without it a pool whose pods can never run only shows them pending."""

from __future__ import annotations

from collections.abc import Sequence

from workqueue_operator.api.acceptance import Verdict
from workqueue_operator.scaling.inputs import LIVE_PHASES, PodView

PODS_RUNNING = "PodsRunning"
WAITING_FOR_ROOM = "Unschedulable"
"""The one cause that may end by itself (a node frees room or is added); every other cause
needs the user (an image, a secret, a command)."""


def stuck_pods_verdict(pods: Sequence[PodView]) -> Verdict:
    """False while a live pod says it cannot run, with that pod's cause as the reason
    (``Unschedulable``, ``ImagePullBackOff``, ``CrashLoopBackOff``, ...): how many do, and the
    words of the pod to mend first (the newest of those whose cause needs the user, else the
    newest); True otherwise."""
    live = [pod for pod in pods if pod.phase in LIVE_PHASES]
    stuck = _stuck(live)
    if not stuck:
        return Verdict(True, "NoPodStuck", "no worker pod says it cannot run")
    first = max(
        stuck,
        key=lambda pod: (pod.trouble_reason != WAITING_FOR_ROOM, pod.created_at, pod.name),
    )
    message = f"{len(stuck)} of {len(live)} worker pods cannot run now; {first.trouble}"
    return Verdict(False, first.trouble_reason, message)


def stuck_pod_counts(pods: Sequence[PodView]) -> dict[str, int]:
    """How many live pods say they cannot run, by cause (``workqueue_operator_pods_stuck``)."""
    counts: dict[str, int] = {}
    for pod in _stuck(pods):
        counts[pod.trouble_reason] = counts.get(pod.trouble_reason, 0) + 1
    return counts


def _stuck(pods: Sequence[PodView]) -> list[PodView]:
    return [pod for pod in pods if pod.phase in LIVE_PHASES and pod.trouble_reason]
