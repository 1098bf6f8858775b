"""Writing a verdict into an object's status and Events: the glue every kind shares."""

from __future__ import annotations

from typing import Any

import kopf

from workqueue_operator.acceptance import ACCEPTED, Verdict
from workqueue_operator.api.common import (
    Condition,
    ConditionStatus,
    find_condition,
    is_transition,
    now,
    set_condition,
)

REJECTED_PHASE = "Invalid"


def record_verdict(
    verdict: Verdict,
    *,
    body: kopf.Body,
    status: kopf.Status,
    patch: kopf.Patch,
    accepted_phase: str,
) -> None:
    """Put the Accepted condition, observedGeneration and phase into the status patch, and post
    an Event when the verdict changed (never one per poll)."""
    generation = body.metadata.get("generation")
    conditions = [Condition.model_validate(c) for c in status.get("conditions", [])]
    previous = find_condition(conditions, ACCEPTED)
    new = Condition(
        type=ACCEPTED,
        status=ConditionStatus.TRUE if verdict.accepted else ConditionStatus.FALSE,
        reason=verdict.reason,
        message=verdict.message,
        last_transition_time=now(),
        observed_generation=generation,
    )
    phase = _phase_after(verdict, status.get("phase"), accepted_phase)
    if (
        not is_transition(previous, new)
        and status.get("observedGeneration") == generation
        and status.get("phase") == phase
    ):
        return
    patch.status["conditions"] = [c.to_api() for c in set_condition(conditions, new)]
    patch.status["observedGeneration"] = generation
    patch.status["phase"] = phase
    if is_transition(previous, new):
        post: Any = kopf.info if verdict.accepted else kopf.warn
        post(body, reason=verdict.reason, message=verdict.message)


def _phase_after(verdict: Verdict, current: str | None, accepted_phase: str) -> str:
    """A rejected object is Invalid; an accepted one keeps the phase its reconciler set, or
    starts at ``accepted_phase``."""
    if not verdict.accepted:
        return REJECTED_PHASE
    if current is None or current == REJECTED_PHASE:
        return accepted_phase
    return current
