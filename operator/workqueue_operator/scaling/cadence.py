"""How soon a WorkerPool looks again. Pure functions.

While anything moves, a full pass (read the manager's categories and workers, plan, apply,
settle the status) runs every ``pollIntervalSeconds``. A pass is *quiet* when it found the
manager reachable and the environment ready, planned no action, posted no Event and left every
status field as stored. After each quiet pass in a row the wait before the next full pass
doubles (``values.cadence``), up to 30 s and never past the moment a deadline the plan keeps
(an idle worker's ``idleDelaySeconds``, the scale-up ``cooldownSeconds``) runs out. Between
those passes a *probe* every ``pollIntervalSeconds`` asks the manager only for its categories
(one small status request) and reads the pool's pod-change counter: the first difference from
what the last pass saw starts a full pass at once. So a new backlog still gets its pods within
one poll interval, and a pool where nothing moves costs one small request per poll interval
instead of a whole pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from workqueue_operator.api.common import status_changes
from workqueue_operator.api.pool import WorkerPoolSpec
from workqueue_operator.values.cadence import Cadence, quiet_backoff


def answer_fingerprint(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """What a probe compares: the manager's ``wable_status`` rows as it sent them (every figure
    of every category: waiting, running, dispatched, done, workers able, largest resources
    seen), in category order; compared as sent, without validating them again."""
    return sorted(rows, key=lambda row: str(row.get("category", "")))


def is_quiet_pass(
    *,
    manager_reachable: bool,
    environment_ready: bool,
    acted: bool,
    events: int,
    stored_status: Mapping[str, Any],
    status: Mapping[str, Any],
) -> bool:
    """Whether a pass changed nothing: reachable manager, ready environment, no pod action,
    no Event, and every status field equal to the stored one."""
    return (
        manager_reachable
        and environment_ready
        and not acted
        and events == 0
        and not status_changes(stored_status, status)
    )


def pool_cadence(
    spec: WorkerPoolSpec,
    *,
    quiet_passes: int,
    idle_since: Mapping[str, float],
    last_scale_up: float | None,
    now: float,
) -> Cadence:
    """The next look at a pool whose last ``quiet_passes`` passes in a row were quiet: backed
    off (``values.cadence``), but never past an idle worker's delay or the cooldown's end."""
    deadlines = [since + spec.autoscale.idle_delay_seconds for since in idle_since.values()]
    if last_scale_up is not None:
        deadlines.append(last_scale_up + spec.autoscale.cooldown_seconds)
    return quiet_backoff(
        float(spec.autoscale.poll_interval_seconds),
        quiet_passes,
        due_in_seconds=[deadline - now for deadline in deadlines],
    )
