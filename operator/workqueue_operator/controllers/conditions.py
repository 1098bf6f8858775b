"""Writing a verdict into an object's status and Events: the glue every kind shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workqueue_operator.api.acceptance import ACCEPTED, Verdict
from workqueue_operator.api.common import merge_condition

REJECTED_PHASE = "Invalid"


def verdict_condition(
    status: Mapping[str, Any], *, type_: str, verdict: Verdict, generation: int | None
) -> tuple[list[dict[str, Any]], bool]:
    """The status's conditions with the ``type_`` condition saying ``verdict`` (True when it
    accepts), and whether that is a transition worth an Event."""
    return merge_condition(
        status,
        type_=type_,
        ok=verdict.accepted,
        reason=verdict.reason,
        message=verdict.message,
        generation=generation,
    )


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
