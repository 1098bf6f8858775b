"""The Ready condition: one summary of an object's other conditions, the condition that
``kubectl wait --for=condition=Ready`` and GitOps health checks (kstatus) read. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from workqueue_operator.api.acceptance import Verdict

READY = "Ready"


@dataclass(frozen=True)
class ReadyRule:
    """Which conditions make a kind Ready."""

    required: tuple[str, ...]
    """Conditions that must be there and True (every pass of the kind sets them)."""
    when_set: tuple[str, ...] = ()
    """Conditions that must be True once they are there (set only after some event)."""


def ready_verdict(rule: ReadyRule, conditions: Iterable[Mapping[str, Any]]) -> Verdict:
    """Ready when every condition of ``rule`` holds; otherwise not, with the first one that
    does not hold: its reason, and its type and message as the message."""
    by_type = {c.get("type"): c for c in conditions}
    holding = []
    for type_ in (*rule.required, *rule.when_set):
        condition = by_type.get(type_)
        if condition is None:
            if type_ in rule.required:
                return Verdict(False, "Waiting", f"{type_}: not determined yet")
            continue
        if condition.get("status") != "True":
            reason = condition.get("reason") or type_
            return Verdict(False, reason, f"{type_}: {condition.get('message') or reason}")
        holding.append(type_)
    return Verdict(True, READY, f"{', '.join(holding)}: True")
