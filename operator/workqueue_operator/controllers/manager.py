"""WorkQueueManager handlers: glue between kopf and the pure checks."""

from __future__ import annotations

from typing import Any

import kopf

from workqueue_operator.acceptance import Verdict, judge_manager, parse_spec
from workqueue_operator.api.manager import WorkQueueManagerSpec
from workqueue_operator.controllers.conditions import record_verdict
from workqueue_operator.controllers.kinds import MANAGERS, RECHECK_SECONDS


@kopf.index(*MANAGERS)
def manager_names(*, namespace: str | None, name: str, **_: Any) -> dict[str, str]:
    """Names of WorkQueueManagers by namespace, for WorkerPools' managerRef checks."""
    return {namespace or "": name}


@kopf.on.resume(*MANAGERS)
@kopf.on.create(*MANAGERS)
@kopf.on.update(*MANAGERS, field="spec")
@kopf.timer(*MANAGERS, interval=RECHECK_SECONDS, initial_delay=RECHECK_SECONDS)
def accept_manager(
    *,
    spec: kopf.Spec,
    namespace: str | None,
    body: kopf.Body,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: Any,
    **_: Any,
) -> None:
    parsed = parse_spec(WorkQueueManagerSpec, spec)
    verdict = (
        parsed
        if isinstance(parsed, Verdict)
        else judge_manager(parsed, lambda name: memo.kube.secret_exists(namespace or "", name))
    )
    record_verdict(verdict, body=body, status=status, patch=patch, accepted_phase="Accepted")
