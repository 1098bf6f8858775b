"""PonchoEnv handlers: glue between kopf and the pure checks."""

from __future__ import annotations

from typing import Any

import kopf

from workqueue_operator.acceptance import Verdict, judge_env, parse_spec
from workqueue_operator.api.env import PonchoEnvSpec
from workqueue_operator.controllers.conditions import record_verdict
from workqueue_operator.controllers.kinds import ENVS, RECHECK_SECONDS


@kopf.index(*ENVS)
def env_names(*, namespace: str | None, name: str, **_: Any) -> dict[str, str]:
    """Names of PonchoEnvs by namespace, for WorkerPools' envRef checks."""
    return {namespace or "": name}


@kopf.on.resume(*ENVS)
@kopf.on.create(*ENVS)
@kopf.on.update(*ENVS, field="spec")
@kopf.timer(*ENVS, interval=RECHECK_SECONDS, initial_delay=RECHECK_SECONDS)
def accept_env(
    *,
    spec: kopf.Spec,
    namespace: str | None,
    body: kopf.Body,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: Any,
    **_: Any,
) -> None:
    parsed = parse_spec(PonchoEnvSpec, spec)
    verdict = (
        parsed
        if isinstance(parsed, Verdict)
        else judge_env(parsed, lambda name: memo.kube.claim_exists(namespace or "", name))
    )
    record_verdict(verdict, body=body, status=status, patch=patch, accepted_phase="Pending")
