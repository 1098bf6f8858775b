"""WorkQueueManager: deploy it (InCluster), poll its status port and hand what the poll means
(``managers.status``) to the reconcile loop. Glue only."""

from __future__ import annotations

import asyncio
import functools
import os
import time
from dataclasses import dataclass, replace
from typing import Any

import kopf

from workqueue_operator.api.acceptance import ACCEPTED, Event, judge_manager
from workqueue_operator.api.common import now
from workqueue_operator.api.manager import ManagerMode, QueueFigures, WorkQueueManagerSpec
from workqueue_operator.api.ready import ReadyRule
from workqueue_operator.controllers import metrics
from workqueue_operator.controllers.kinds import MANAGERS
from workqueue_operator.controllers.loop import Context, Kind, Outcome, Pass, Probe, on_event
from workqueue_operator.controllers.manager_tls import (
    ManagerTlsSecret,
    NotDeployed,
    ensure_manager_tls,
)
from workqueue_operator.controllers.reach import poll_manager, status_client
from workqueue_operator.k8s import labels
from workqueue_operator.k8s.client import RefusedError
from workqueue_operator.k8s.connection import ManagerConnection, manager_connection
from workqueue_operator.k8s.manager_objects import (
    OPERATOR_IMAGE,
    manager_deployment,
    manager_service,
)
from workqueue_operator.k8s.pod_trouble import newest_pod_trouble
from workqueue_operator.managers.status import (
    REACHABLE,
    UNREACHABLE,
    ManagerPoll,
    is_quiet_poll,
    poll_status,
    queue_figures,
)
from workqueue_operator.values.cadence import quiet_backoff
from workqueue_operator.wq.status import StatusClient, StatusError


@kopf.index(*MANAGERS)
def manager_names(*, namespace: str | None, name: str, **_: Any) -> dict[str, str]:
    """Names of WorkQueueManagers by namespace, for WorkerPools' managerRef checks."""
    return {namespace or "": name}


TLS_RECHECK_S = 300.0
"""How often a deployed TLS manager's Secret is read again (renewal, cert-manager's rotation)."""


@dataclass(frozen=True)
class ManagerMemory:
    """What a manager's passes carry: what its Deployment was last applied for (generation and
    TLS certificate), and when its TLS Secret was last read."""

    deployed_generation: int | None = None
    deployed_certificate: str | None = None
    tls_read_at: float | None = None
    quiet_passes: int = 0
    """Passes in a row that changed nothing (``managers.status.is_quiet_poll``): how far the
    next one backs off (``values.cadence``)."""


async def reconcile_manager(p: Pass[WorkQueueManagerSpec, ManagerMemory]) -> Outcome[ManagerMemory]:
    """One pass over an accepted WorkQueueManager. A quiet one (nothing changed) backs off the
    next pass and leaves a probe that asks the manager for its queue every pollIntervalSeconds
    and starts the pass as soon as the queue's figures move."""
    spec, memory = p.spec, p.memory
    events: list[Event] = []
    poll: ManagerPoll | None = None
    connection = manager_connection(p.name, p.namespace, spec)
    if spec.mode is ManagerMode.IN_CLUSTER:
        memory, waiting, events = await deploy_manager(p)
        if waiting is not None:
            poll = ManagerPoll(now(), None, reason=waiting.reason, message=waiting.message)
    if poll is None:
        poll = await poll_manager(connection, p.namespace, p.kube)
    if spec.mode is ManagerMode.IN_CLUSTER and poll.reason == UNREACHABLE:
        poll = poll.because_of_pod(await manager_pod_trouble(p))
    fields, poll_events = poll_status(p.status, poll, p.generation)
    queue = queue_figures(poll.queue) if poll.queue is not None else None
    metrics.set_manager_figures(p.namespace, p.name, reachable=poll.reachable, queue=queue)
    events += poll_events
    quiet = is_quiet_poll(p.status, poll, fields, len(events))
    memory = replace(memory, quiet_passes=memory.quiet_passes + 1 if quiet else 0)
    cadence = quiet_backoff(float(spec.poll_interval_seconds), memory.quiet_passes)
    probe = None
    if cadence.probe_every_seconds is not None and queue is not None:
        probe = queue_probe(p, connection, queue, cadence.probe_every_seconds)
    return Outcome(fields, memory, cadence.pass_after_seconds, events, probe)


async def manager_pod_trouble(p: Pass[WorkQueueManagerSpec, ManagerMemory]) -> str:
    """Why the InCluster manager's newest pod does not run, as it says it ('' if it does not
    say: it may be starting, or its program not listening yet)."""
    selector = labels.selector(labels.manager_labels(p.name))
    pods = await asyncio.to_thread(p.kube.list_pods, p.namespace, selector)
    return newest_pod_trouble(pods, "the manager's pod")


def queue_probe(
    p: Pass[WorkQueueManagerSpec, ManagerMemory],
    connection: ManagerConnection,
    seen: QueueFigures,
    every_seconds: float,
) -> Probe:
    """Between a quiet manager's passes: have its queue's figures moved since this pass? One
    ``queue_status`` (``manager_status``) request per probe; its client (and password) is made
    once, at the first probe."""
    client: StatusClient | None = None

    async def changed() -> bool:
        nonlocal client
        if client is None:
            found = await status_client(connection, p.namespace, p.kube)
            client = found if isinstance(found, StatusClient) else None
        try:
            return client is None or queue_figures(await client.queue_status()) != seen
        except StatusError:
            return True  # the pass says why

    return Probe(every_seconds, changed)


async def deploy_manager(
    p: Pass[WorkQueueManagerSpec, ManagerMemory],
) -> tuple[ManagerMemory, NotDeployed | None, list[Event]]:
    """Apply an InCluster manager's Deployment and Service when its generation or its TLS
    certificate changed; with TLS, first its Secret (or say what it waits for). When the
    apiserver refuses one of them, say so: the next pass applies them again."""
    spec, memory = p.spec, p.memory
    new_generation = memory.deployed_generation != p.generation
    tls: ManagerTlsSecret | None = None
    events: list[Event] = []
    if spec.tls is not None:
        clock = time.monotonic()
        due = memory.tls_read_at is None or clock - memory.tls_read_at >= TLS_RECHECK_S
        if not (new_generation or due or memory.deployed_certificate is None):
            return memory, None, []
        found, events = await ensure_manager_tls(
            p.kube, p.name, p.namespace, p.uid, spec, apply_certificate=new_generation
        )
        if isinstance(found, NotDeployed):
            return replace(memory, tls_read_at=None), found, events
        tls = found
        memory = replace(memory, tls_read_at=clock)
    certificate = tls.fingerprint if tls is not None else None
    if not new_generation and memory.deployed_certificate == certificate:
        return memory, None, events
    agent_image = os.environ.get("WORKQUEUE_OPERATOR_IMAGE", OPERATOR_IMAGE)
    deployment = manager_deployment(
        p.name,
        p.namespace,
        p.uid,
        spec,
        agent_image,
        tls_secret=tls.secret_name if tls is not None else None,
        tls_fingerprint=certificate,
    )
    service = manager_service(p.name, p.namespace, p.uid, spec.port)
    for obj in (deployment, service):
        try:
            await asyncio.to_thread(p.kube.apply, obj)
        except RefusedError as error:
            kind, name = obj["kind"], obj["metadata"]["name"]
            message = f"the apiserver refused the manager's {kind} {name}: {error.message}"
            return memory, NotDeployed(f"{kind}Refused", message), events
    p.logger.info(f"applied the manager's Deployment and Service (generation {p.generation})")
    memory = replace(memory, deployed_generation=p.generation, deployed_certificate=certificate)
    return memory, None, events


def secret_data(context: Context, name: str) -> dict[str, bytes] | None:
    """A Secret's data in the context's namespace; None when it does not exist."""
    stored = context.kube.read_secret(context.namespace, name)
    return None if stored is None else stored.data


MANAGER = Kind(
    name="WorkQueueManager",
    plural=MANAGERS[2],
    spec_model=WorkQueueManagerSpec,
    accepted_phase="Pending",
    judge=lambda spec, context: judge_manager(spec, functools.partial(secret_data, context)),
    reconcile=reconcile_manager,
    new_memory=ManagerMemory,
    ready=ReadyRule((ACCEPTED, REACHABLE)),
    forget=metrics.forget_manager,
)


@kopf.on.event(*MANAGERS)
async def watch(**kwargs: Any) -> None:
    """Each WorkQueueManager's watch events start, wake and stop its loop."""
    await on_event(MANAGER, **kwargs)
