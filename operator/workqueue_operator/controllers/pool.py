"""WorkerPool handlers: glue between kopf and the pure checks."""

from __future__ import annotations

from typing import Any

import kopf

from workqueue_operator.acceptance import Verdict, judge_pool, parse_spec
from workqueue_operator.api.pool import WorkerPoolSpec
from workqueue_operator.controllers.conditions import record_verdict
from workqueue_operator.controllers.kinds import POOLS, RECHECK_SECONDS
from workqueue_operator.k8s.labels import pool_selector


@kopf.on.resume(*POOLS)
@kopf.on.create(*POOLS)
@kopf.on.update(*POOLS, field="spec")
@kopf.timer(*POOLS, interval=RECHECK_SECONDS, initial_delay=RECHECK_SECONDS)
def accept_pool(
    *,
    spec: kopf.Spec,
    name: str,
    namespace: str | None,
    body: kopf.Body,
    status: kopf.Status,
    patch: kopf.Patch,
    manager_names: kopf.Index[str, str] | None = None,
    env_names: kopf.Index[str, str] | None = None,
    **_: Any,
) -> None:
    parsed = parse_spec(WorkerPoolSpec, spec)
    verdict = (
        parsed
        if isinstance(parsed, Verdict)
        else judge_pool(
            parsed,
            managers=_names(manager_names, namespace),
            environments=_names(env_names, namespace),
        )
    )
    record_verdict(verdict, body=body, status=status, patch=patch, accepted_phase="Accepted")
    selector = pool_selector(name)
    if status.get("selector") != selector:
        patch.status["selector"] = selector


def _names(index: kopf.Index[str, str] | None, namespace: str | None) -> set[str]:
    """Names an index holds for one namespace (none before the index is filled)."""
    return set(index.get(namespace or "", [])) if index is not None else set()
