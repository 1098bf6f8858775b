"""What a pass's in-place resizes leave once applied: their counts (``status.resizes`` and the
``pod_resizes_total`` metric), their Events, and the refusals the next pass acts on. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workqueue_operator.api.acceptance import Event, EventType
from workqueue_operator.api.pool import PodResizeCounts
from workqueue_operator.scaling.inplace import InPlacePlan, ResizeOutcome, ResizeResult

EVENTS: dict[ResizeResult, tuple[str, EventType]] = {
    ResizeResult.REQUESTED: ("Resize", EventType.NORMAL),
    ResizeResult.DONE: ("Resized", EventType.NORMAL),
    ResizeResult.DEFERRED: ("ResizeDeferred", EventType.NORMAL),
    ResizeResult.INFEASIBLE: ("ResizeInfeasible", EventType.WARNING),
    ResizeResult.TIMED_OUT: ("ResizeTimedOut", EventType.WARNING),
    ResizeResult.CANCELLED: ("ResizeCancelled", EventType.NORMAL),
}
"""The Event (reason, type) of each result."""
MESSAGES_PER_EVENT = 3

_FIELDS = {
    ResizeResult.REQUESTED: "requested",
    ResizeResult.DONE: "done",
    ResizeResult.DEFERRED: "deferred",
    ResizeResult.INFEASIBLE: "infeasible",
    ResizeResult.TIMED_OUT: "timed_out",
    ResizeResult.CANCELLED: "cancelled",
}


@dataclass(frozen=True)
class SettledResizes:
    counts: Mapping[str, int] = field(default_factory=dict)
    """This pass's resizes by result (the metric's ``result`` label)."""
    events: tuple[Event, ...] = ()
    refused: Mapping[str, str] = field(default_factory=dict)
    """New resizes the apiserver refused, with its message: the next pass recreates them."""
    status: dict[str, Any] | None = None
    """``status.resizes``: the stored totals plus this pass's (None: not an InPlace pool)."""


def settle_resizes(
    plan: InPlacePlan,
    outcome: ResizeOutcome,
    stored: Mapping[str, Any] | None,
    *,
    active: bool,
) -> SettledResizes:
    """Count and announce what happened: the resizes the apiserver took (as each one's result
    says), the ones it refused (a new resize refused is infeasible), and the plan's notes."""
    happened: list[tuple[ResizeResult, str]] = []
    refused: dict[str, str] = {}
    for resize in plan.resizes:
        refusal = outcome.refused.get(resize.name)
        if refusal is not None:
            if resize.from_shape is not None:
                refused[resize.name] = refusal
            message = (
                f"pod {resize.name}: the apiserver refused the resize to {resize.shape.id}: "
                f"{refusal}" + ("; the pod will be recreated" if resize.from_shape else "")
            )
            happened.append((ResizeResult.INFEASIBLE, message))
        elif resize.name in outcome.taken and resize.result is not None:
            happened.append((resize.result, resize.message))
    happened += [(note.result, note.message) for note in plan.notes]
    counts = Counter(result for result, _ in happened)
    events = []
    for result, (reason, type_) in EVENTS.items():
        messages = [message for r, message in happened if r is result]
        if messages:
            text = "; ".join(messages[:MESSAGES_PER_EVENT])
            if len(messages) > MESSAGES_PER_EVENT:
                text += f"; and {len(messages) - MESSAGES_PER_EVENT} more"
            events.append(Event(type_, reason, text))
    status = None
    if active:
        totals = PodResizeCounts.model_validate(stored or {})
        updates: dict[str, int] = {
            name: getattr(totals, name) + counts.get(result, 0) for result, name in _FIELDS.items()
        }
        started_refused = sum(1 for r in plan.resizes if r.name in refused)
        updates["in_progress"] = max(0, plan.in_progress - started_refused)
        status = totals.model_copy(update=updates).model_dump(by_alias=True)
    return SettledResizes(
        counts={str(result): n for result, n in sorted(counts.items())},
        events=tuple(events),
        refused=refused,
        status=status,
    )
