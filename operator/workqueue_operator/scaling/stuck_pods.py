"""The PodsRunning condition: whether the pool's worker pods say they cannot run, in the pods'
own words (``PodView.trouble``: not schedulable, an image that cannot be pulled, a container
that will not start). Without it a pool whose pods can never run only shows them pending."""

from __future__ import annotations

from collections.abc import Sequence

from workqueue_operator.api.acceptance import Verdict
from workqueue_operator.scaling.inputs import LIVE_PHASES, PodView

PODS_RUNNING = "PodsRunning"
PODS_NOT_RUNNING = "PodsNotRunning"


def stuck_pods_verdict(pods: Sequence[PodView]) -> Verdict:
    """False while a live pod says it cannot run: how many do, and the newest one's words
    (what the user changes to mend it); True otherwise."""
    live = [pod for pod in pods if pod.phase in LIVE_PHASES]
    stuck = [pod for pod in live if pod.trouble]
    if not stuck:
        return Verdict(True, "NoPodStuck", "no worker pod says it cannot run")
    newest = max(stuck, key=lambda pod: (pod.created_at, pod.name))
    message = f"{len(stuck)} of {len(live)} worker pods cannot run now; {newest.trouble}"
    return Verdict(False, PODS_NOT_RUNNING, message)
