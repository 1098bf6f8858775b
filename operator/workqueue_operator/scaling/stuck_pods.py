"""The PodsRunning condition: whether the pool's worker pods say they cannot run, in the pods'
own words (``PodView.trouble``: not schedulable, an image that cannot be pulled, a container
that will not start). Without it a pool whose pods can never run only shows them pending."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from workqueue_operator.api.acceptance import Event, Verdict, condition_news
from workqueue_operator.api.common import stored_condition
from workqueue_operator.scaling.inputs import LIVE_PHASES, PodPhase, PodView
from workqueue_operator.values.pod_trouble import PodTrouble

PODS_RUNNING = "PodsRunning"


def pods_running_condition(
    status: Mapping[str, Any], pods: Sequence[PodView], *, generation: int | None
) -> tuple[list[dict[str, Any]], list[Event]]:
    """The status's conditions with PodsRunning set from ``pods``, and the Event its change is
    worth: a Warning when it turns False or its cause changes (not when only the count or the
    pod named changes), a Normal one when it turns True again."""
    stored = stored_condition(status, PODS_RUNNING)
    said = stored.get("reason") if stored is not None and stored.get("status") == "False" else None
    return condition_news(
        status,
        type_=PODS_RUNNING,
        verdict=stuck_pods_verdict(pods, said),
        generation=generation,
        message_is_news=False,
    )


def stuck_pods_verdict(pods: Sequence[PodView], said: str | None = None) -> Verdict:
    """False while a live pod says it cannot run, with a pod's cause as the reason
    (``Unschedulable``, ``ImagePullBackOff``, ``CrashLoopBackOff``, ...): how many do, and the
    words of the pod to mend first; True otherwise. That pod is one whose cause needs the user
    (an image, a Secret, a command) before one waiting for room; among those, one whose cause
    is the one the condition says now (``said``, its reason), so that pods of two causes do not
    turn it from one to the other with each new pod; then the newest."""
    stuck = _stuck(pods)
    if not stuck:
        return Verdict(True, "NoPodStuck", "no worker pod says it cannot run")
    _, trouble = max(
        stuck,
        key=lambda found: (
            found[1].needs_the_user,
            found[1].reason == said,
            found[0].created_at,
            found[0].name,
        ),
    )
    live = sum(1 for pod in pods if pod.phase in LIVE_PHASES)
    message = f"{len(stuck)} of {live} worker pods cannot run now; {trouble.message}"
    return Verdict(False, trouble.reason, message)


def stuck_pod_counts(pods: Sequence[PodView]) -> dict[tuple[str, str], int]:
    """How many live pods say they cannot run, by (cause, phase)
    (``workqueue_operator_pods_stuck``): the phase tells a pod that waits to start (Pending)
    from one whose container restarts (Running)."""
    return dict(Counter((trouble.reason, str(pod.phase)) for pod, trouble in _stuck(pods)))


def _stuck(pods: Sequence[PodView]) -> list[tuple[PodView, PodTrouble]]:
    return [
        (pod, pod.trouble) for pod in pods if pod.phase in LIVE_PHASES and pod.trouble is not None
    ]


def workerless(pod: PodView) -> bool:
    """Whether the pod is Pending and says it cannot run: no worker has started in it (not
    scheduled, its image not pulled), so deleting it loses no task even when the manager
    cannot say which workers are busy. A Running pod that says it cannot run may be between
    two runs of its container."""
    return pod.phase is PodPhase.PENDING and pod.trouble is not None


def outdated_stuck_pods(pods: Sequence[PodView], generation: int | None) -> tuple[str, ...]:
    """Pods that say they cannot run and were made from an older spec of the pool: the spec
    that mends them (another image, template or size) reaches only new pods, so they go and the
    scaler creates their replacements from the current spec. No worker runs in them (they are
    Pending, or Running with a container that waits), so no task is lost."""
    if generation is None:
        return ()
    return tuple(
        pod.name
        for pod, _ in _stuck(pods)
        if pod.phase in (PodPhase.PENDING, PodPhase.RUNNING)
        and pod.generation is not None
        and pod.generation < generation
    )
