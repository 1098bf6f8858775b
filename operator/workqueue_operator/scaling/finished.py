"""Pods whose worker has exited: which to delete, and whether they say the pool crash-loops.

Worker pods run with ``restartPolicy: Never``: a worker that exits (idle timeout, manager gone
for good, a crash) leaves a Succeeded or Failed pod, and the scaler replaces it if the backlog
still needs it. Succeeded pods are deleted at once; Failed pods are kept for a while so that
``kubectl logs`` shows why. Many pods failing soon after they started means new ones would
fail alike (bad image, arguments or password), so creation stops until those failures age.
A pod whose worker had connected to the manager proved those right: its failure (a worker
killed, a node lost) is no sign of a crash loop.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from workqueue_operator.scaling.inputs import PodPhase, PodView, PoolPolicy


@dataclass(frozen=True, slots=True)
class FinishedPods:
    """What to do with the pool's finished pods."""

    to_delete: tuple[str, ...]
    """Succeeded pods, and Failed pods older than the retention time, by name."""
    quick_failures: tuple[str, ...]
    """Failed pods, kept, that failed soon after they started."""
    crash_loop: bool
    """Whether there are enough quick failures to stop creating pods."""


def _finished_at(pod: PodView) -> float:
    return pod.finished_at if pod.finished_at is not None else (pod.started_at or pod.created_at)


def review_finished_pods(
    pods: Iterable[PodView], policy: PoolPolicy, now: float, *, connected: Collection[str] = ()
) -> FinishedPods:
    """Sort the finished pods into deleted and kept, and count the quick failures (pods in
    ``connected``, whose worker had connected, are not)."""
    to_delete: list[str] = []
    quick_failures: list[str] = []
    for pod in sorted(pods, key=lambda pod: pod.name):
        if pod.phase == PodPhase.SUCCEEDED:
            to_delete.append(pod.name)
        elif pod.phase == PodPhase.FAILED:
            finished_at = _finished_at(pod)
            if now - finished_at >= policy.failed_pod_retention_seconds:
                to_delete.append(pod.name)
            elif (
                pod.name not in connected
                and finished_at - (pod.started_at or pod.created_at) < policy.connect_grace_seconds
            ):
                quick_failures.append(pod.name)
    return FinishedPods(
        to_delete=tuple(to_delete),
        quick_failures=tuple(quick_failures),
        crash_loop=len(quick_failures) >= policy.crash_loop_failures,
    )
