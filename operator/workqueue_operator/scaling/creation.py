"""The PodsCreated condition: whether the apiserver took the pods a scaling decision asked for."""

from __future__ import annotations

import re
from dataclasses import dataclass

from workqueue_operator.api.acceptance import Verdict

PODS_CREATED = "PodsCreated"
FAILED_CREATE = "FailedCreate"

_POD_NAME = re.compile(r'\bpods? "[^"]*"', re.IGNORECASE)


@dataclass(frozen=True)
class CreationOutcome:
    """What happened to one decision's pod creations."""

    attempted: int
    created: int
    refusal: str | None = None
    """The apiserver's message for the first pod it refused (quota, admission, invalid)."""
    refused: int = 0
    """How many creations it refused (those already sent when the first refusal came back)."""


def creation_verdict(outcome: CreationOutcome) -> Verdict | None:
    """The PodsCreated condition after a decision's creations, None when none was attempted.

    The refusal message names no pod (each attempt has a new pod name), so that the same cause
    keeps the same condition and does not post an Event per attempt.
    """
    if outcome.refusal is not None:
        message, named = _POD_NAME.subn("the worker pod", outcome.refusal, count=1)
        if not named:
            message = f"creating a worker pod: {message}"
        return Verdict(False, FAILED_CREATE, message)
    if outcome.attempted:
        return Verdict(True, "Created", "the apiserver takes the worker pods the pool decides")
    return None
