"""PonchoEnv: one daemon per object that checks it, hashes its spec, finds a build of that hash
or runs one (a Job), and writes what it found. Glue only: the decision is
:func:`workqueue_operator.envs.decision.decide`, the Job is :mod:`workqueue_operator.k8s.jobs`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import kopf

from workqueue_operator.api.acceptance import judge_env
from workqueue_operator.api.common import now
from workqueue_operator.api.env import PonchoEnvSpec
from workqueue_operator.controllers.conditions import accept_spec
from workqueue_operator.controllers.kinds import ENVS
from workqueue_operator.envs.decision import Action, Decision, Facts, decide
from workqueue_operator.envs.normalize import SpecError, normalize_spec, spec_hash
from workqueue_operator.envs.observe import JobState, JobView, find_donor
from workqueue_operator.envs.result import parse_report
from workqueue_operator.k8s.client import KubeApi
from workqueue_operator.k8s.job_view import job_view
from workqueue_operator.k8s.jobs import (
    BUILDER_CONTAINER,
    RESULT_ANNOTATION,
    artifact_location,
    build_job,
    job_name,
    output_problem,
)

PLURAL = ENVS[2]
INVALID_RECHECK_S = 10.0
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


@kopf.index(*ENVS)
def env_names(*, namespace: str | None, name: str, **_: Any) -> dict[str, str]:
    """Names of PonchoEnvs by namespace, for WorkerPools' envRef checks."""
    return {namespace or "": name}


def _wakeup(memo: Any, namespace: str, name: str) -> asyncio.Event:
    events: dict[tuple[str, str], asyncio.Event] = memo.setdefault("env_wakeups", {})
    return events.setdefault((namespace, name), asyncio.Event())


@kopf.on.update(*ENVS, field="spec")
def spec_changed(*, namespace: str | None, name: str, memo: Any, **_: Any) -> None:
    """Wake the object's daemon at once: a new spec may mean a new hash."""
    _wakeup(memo, namespace or "", name).set()


def _observe_job(kube: KubeApi, namespace: str, name: str) -> JobView | None:
    job = kube.get_job(namespace, name)
    if job is None:
        return None
    pods = kube.list_pods(namespace, f"{JOB_NAME_LABEL}={name}")
    view = job_view(job, pods)
    if view is not None and view.state is JobState.FAILED and view.report is None:
        failed = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
        if failed:  # no termination message: the log's tail, if a kubelet can give it
            log = kube.pod_log(namespace, failed[-1]["metadata"]["name"], BUILDER_CONTAINER)
            view = dataclasses.replace(view, report=parse_report(log))
    return view


def _facts(
    kube: KubeApi, namespace: str, name: str, spec: PonchoEnvSpec, generation: int | None
) -> tuple[Facts, Mapping[str, Any] | None]:
    """What one pass needs from the cluster (blocking), and the spec's normal form."""
    try:
        normal = normalize_spec(spec.spec.to_api())
    except SpecError as error:
        return Facts(None, ("InvalidSpec", str(error)), None, None, None, generation, now()), None
    env_hash = spec_hash(normal)
    problem = output_problem(spec)
    if problem is not None:
        facts = Facts(
            env_hash, ("OutputNotSupported", problem), None, None, None, generation, now()
        )
        return facts, normal
    envs = kube.list_custom(PLURAL, None if spec.share_across_namespaces else namespace)
    donor = find_donor(
        envs,
        namespace=namespace,
        name=name,
        env_hash=env_hash,
        share=spec.share_across_namespaces,
    )
    job = _observe_job(kube, namespace, job_name(env_hash))
    expected = artifact_location(spec, env_hash)
    return Facts(env_hash, None, expected, job, donor, generation, now()), normal


def _act(
    decision: Decision,
    kube: KubeApi,
    obj: Mapping[str, Any],
    *,
    spec: PonchoEnvSpec,
    facts: Facts,
    normal: Mapping[str, Any] | None,
) -> None:
    """Carry out the decision's action (blocking)."""
    meta = obj["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    if decision.action is Action.CREATE_JOB:
        assert facts.env_hash is not None and normal is not None
        job = build_job(
            name, namespace, meta["uid"], spec=spec, env_hash=facts.env_hash, normal=normal
        )
        kube.create_job(namespace, job)  # False: another PonchoEnv of the hash made it
    elif decision.action is Action.DELETE_JOB and facts.job is not None:
        kube.delete_job(namespace, facts.job.name)
    elif decision.action is Action.RECORD_REPORT and facts.job is not None and decision.record:
        kube.annotate_job(namespace, facts.job.name, {RESULT_ANNOTATION: decision.record})


async def _sleep(wakeup: asyncio.Event, stopped: kopf.DaemonStopped, seconds: float) -> None:
    """Wait ``seconds``, or less when the spec changes or the daemon is stopped."""
    waiters = {
        asyncio.ensure_future(wakeup.wait()),
        asyncio.ensure_future(stopped.wait(seconds)),
    }
    _, pending = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for waiter in pending:
        waiter.cancel()
    wakeup.clear()


@kopf.daemon(*ENVS, cancellation_timeout=10, backoff=10)
async def build_env(
    *,
    stopped: kopf.DaemonStopped,
    name: str,
    namespace: str | None,
    body: kopf.Body,
    memo: Any,
    logger: kopf.Logger,
    **_: Any,
) -> None:
    kube: KubeApi = memo.kube
    ns = namespace or ""
    wakeup = _wakeup(memo, ns, name)
    while not stopped:
        # The object as stored now (read-your-writes): the daemon's body may lag our patches.
        obj = await asyncio.to_thread(kube.get_custom, PLURAL, ns, name)
        if obj is None:
            return
        generation = obj["metadata"].get("generation")
        status = dict(obj.get("status") or {})
        acceptance = await accept_spec(
            PonchoEnvSpec,
            obj.get("spec") or {},
            lambda spec: judge_env(spec, lambda claim: kube.claim_exists(ns, claim)),
            body=body,
            status=status,
            generation=generation,
            accepted_phase="Pending",
        )
        fields, parsed = acceptance.fields, acceptance.spec
        status |= fields
        if parsed is None:
            if fields:
                await asyncio.to_thread(kube.patch_custom_status, PLURAL, ns, name, fields)
            await _sleep(wakeup, stopped, INVALID_RECHECK_S)
            continue

        facts, normal = await asyncio.to_thread(_facts, kube, ns, name, parsed, generation)
        decision = decide(status, facts)
        await asyncio.to_thread(
            functools.partial(_act, spec=parsed, facts=facts, normal=normal), decision, kube, obj
        )
        if decision.action is not Action.NONE:
            logger.info(f"{decision.action.value} for hash {facts.env_hash}")
        changes = fields | decision.status
        if changes:
            await asyncio.to_thread(kube.patch_custom_status, PLURAL, ns, name, changes)
        if decision.event is not None:
            post: Any = kopf.warn if decision.event.warning else kopf.info
            post(body, reason=decision.event.reason, message=decision.event.message[:1000])
        await _sleep(wakeup, stopped, decision.wait_seconds)
