"""Writing a verdict into an object's status and Events: the glue every kind shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workqueue_operator.api.acceptance import ACCEPTED, Verdict, verdict_condition

REJECTED_PHASE = "Invalid"


def verdict_status(
    verdict: Verdict,
    *,
    status: Mapping[str, Any],
    generation: int | None,
    accepted_phase: str,
) -> tuple[dict[str, Any], bool]:
    """The status fields a verdict sets (Accepted condition, observedGeneration, phase), empty
    when nothing changes, and whether the verdict is a transition worth an Event."""
    conditions, transition = verdict_condition(
        status, type_=ACCEPTED, verdict=verdict, generation=generation
    )
    phase = phase_after(verdict, status.get("phase"), accepted_phase)
    if (
        not transition
        and status.get("observedGeneration") == generation
        and (status.get("phase") == phase)
    ):
        return {}, False
    return {"conditions": conditions, "observedGeneration": generation, "phase": phase}, transition


def phase_after(verdict: Verdict, current: str | None, accepted_phase: str) -> str:
    """A rejected object is Invalid; an accepted one keeps the phase its reconciler set, or
    starts at ``accepted_phase``."""
    if not verdict.accepted:
        return REJECTED_PHASE
    if current is None or current == REJECTED_PHASE:
        return accepted_phase
    return current
