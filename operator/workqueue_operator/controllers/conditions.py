"""Writing a verdict into an object's status and Events: the glue every kind shares."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic

import kopf

from workqueue_operator.api.acceptance import ACCEPTED, SpecT, Verdict, parse_spec
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


@dataclass(frozen=True)
class Acceptance(Generic[SpecT]):
    """A spec read and judged: the typed spec when it was accepted (else None), and the status
    fields the verdict sets (empty when nothing changes)."""

    spec: SpecT | None
    fields: dict[str, Any]


async def accept_spec(
    model: type[SpecT],
    raw_spec: Mapping[str, Any],
    judge: Callable[[SpecT], Verdict],
    *,
    body: kopf.Body,
    status: Mapping[str, Any],
    generation: int | None,
    accepted_phase: str,
) -> Acceptance[SpecT]:
    """Parses and judges a spec (``judge`` runs in a thread: it may read the API), writes the
    verdict into status fields, and posts an Event when the verdict changed."""
    parsed = parse_spec(model, raw_spec)
    verdict = parsed if isinstance(parsed, Verdict) else await asyncio.to_thread(judge, parsed)
    fields, transition = verdict_status(
        verdict, status=status, generation=generation, accepted_phase=accepted_phase
    )
    if transition:
        post_verdict(body, verdict)
    accepted = None if isinstance(parsed, Verdict) or not verdict.accepted else parsed
    return Acceptance(accepted, fields)


def post_verdict(body: kopf.Body, verdict: Verdict) -> None:
    """An Event saying the verdict: Normal when accepted, Warning when not."""
    post = kopf.info if verdict.accepted else kopf.warn
    post(body, reason=verdict.reason, message=verdict.message)


def record_verdict(
    verdict: Verdict,
    *,
    body: kopf.Body,
    status: kopf.Status,
    patch: kopf.Patch,
    accepted_phase: str,
) -> None:
    """For kopf handlers: the verdict into the handler's status patch, and an Event on change."""
    fields, transition = verdict_status(
        verdict,
        status=status,
        generation=body.metadata.get("generation"),
        accepted_phase=accepted_phase,
    )
    for key, value in fields.items():
        patch.status[key] = value
    if transition:
        post_verdict(body, verdict)


def phase_after(verdict: Verdict, current: str | None, accepted_phase: str) -> str:
    """A rejected object is Invalid; an accepted one keeps the phase its reconciler set, or
    starts at ``accepted_phase``."""
    if not verdict.accepted:
        return REJECTED_PHASE
    if current is None or current == REJECTED_PHASE:
        return accepted_phase
    return current
