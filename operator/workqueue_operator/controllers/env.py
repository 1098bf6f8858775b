"""PonchoEnv: hash the spec, find a build of that hash or run one (a Job), and hand what was
found to the reconcile loop. Glue only: the decision is :func:`workqueue_operator.envs.decision.
decide`, the Job is :mod:`workqueue_operator.k8s.jobs`."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import kopf

from workqueue_operator.api.acceptance import ACCEPTED, Event, EventType, judge_env
from workqueue_operator.api.common import now
from workqueue_operator.api.env import DOCKER_CONFIG_KEY, PonchoEnvSpec
from workqueue_operator.api.ready import ReadyRule
from workqueue_operator.controllers.kinds import ENVS
from workqueue_operator.controllers.loop import Kind, Outcome, Pass, on_event
from workqueue_operator.envs.decision import (
    BUILT,
    Action,
    Decision,
    Facts,
    decide,
    job_refused,
)
from workqueue_operator.envs.normalize import SpecError, normalize_spec, spec_hash
from workqueue_operator.envs.observe import JobState, JobView, find_donor
from workqueue_operator.envs.result import parse_report
from workqueue_operator.k8s.client import KubeApi, RefusedError
from workqueue_operator.k8s.job_view import job_view
from workqueue_operator.k8s.jobs import (
    BUILDER_CONTAINER,
    RESULT_ANNOTATION,
    artifact_location,
    build_job,
    build_job_name,
    image_target,
)

PLURAL = ENVS[2]
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


@kopf.index(*ENVS)
def env_names(*, namespace: str | None, name: str, **_: Any) -> dict[str, str]:
    """Names of PonchoEnvs by namespace, for WorkerPools' envRef checks."""
    return {namespace or "": name}


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
    envs = kube.list_custom(PLURAL, None if spec.share_across_namespaces else namespace)
    image = spec.output.image
    donor = find_donor(
        envs,
        namespace=namespace,
        name=name,
        env_hash=env_hash,
        share=spec.share_across_namespaces,
        image=None if image is None else image_target(image, env_hash),
    )
    job = _observe_job(kube, namespace, build_job_name(spec, env_hash))
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


async def reconcile_env(p: Pass[PonchoEnvSpec, None]) -> Outcome[None]:
    """One pass over an accepted PonchoEnv: find or run the build of its hash."""
    kube, ns = p.kube, p.namespace
    facts, normal = await asyncio.to_thread(_facts, kube, ns, p.name, p.spec, p.generation)
    decision = decide(p.status, facts)
    obj = {"metadata": {"namespace": ns, "name": p.name, "uid": p.uid}}
    act = functools.partial(_act, spec=p.spec, facts=facts, normal=normal)
    try:
        await asyncio.to_thread(act, decision, kube, obj)
    except RefusedError as error:
        if decision.action is not Action.CREATE_JOB or facts.env_hash is None:
            raise
        job_name = build_job_name(p.spec, facts.env_hash)
        decision = job_refused(p.status, facts, job_name, error.message)
    if decision.action is not Action.NONE:
        p.logger.info(f"{decision.action.value} for hash {facts.env_hash}")
    events = []
    if decision.event is not None:
        kind = EventType.WARNING if decision.event.warning else EventType.NORMAL
        events.append(Event(kind, decision.event.reason, decision.event.message))
    return Outcome(decision.status, None, decision.wait_seconds, events)


ENV = Kind(
    name="PonchoEnv",
    plural=PLURAL,
    spec_model=PonchoEnvSpec,
    accepted_phase="Pending",
    judge=lambda spec, context: judge_env(
        spec,
        claim_exists=lambda claim: context.kube.claim_exists(context.namespace, claim),
        secret_exists=lambda secret: context.kube.secret_exists(context.namespace, secret),
        docker_config=lambda secret: context.kube.secret_value(
            context.namespace, secret, DOCKER_CONFIG_KEY
        ),
        config_map_value=lambda name, key: context.kube.config_map_value(
            context.namespace, name, key
        ),
    ),
    reconcile=reconcile_env,
    new_memory=lambda: None,
    ready=ReadyRule((ACCEPTED, BUILT)),
)


@kopf.on.event(*ENVS)
async def watch(**kwargs: Any) -> None:
    """Each PonchoEnv's watch events start, wake and stop its loop."""
    await on_event(ENV, **kwargs)
