"""One reconcile loop for the three kinds: a kopf daemon per object runs ``run_daemon``.

Every pass: re-read the object (read-your-writes: the daemon's ``body`` may lag the operator's
own patches), parse and judge its spec (the Accepted condition, an Event when the verdict
changes), hand an accepted spec to the kind's ``reconcile`` (gather, plan, apply), write only
the status fields that differ from the stored ones, post the pass's Events, count the pass in
``workqueue_operator_reconciles_total`` (and its end in
``workqueue_operator_last_reconcile_timestamp_seconds``, its patches in
``workqueue_operator_status_patches_total``), and sleep until the recheck time or until the spec
changes. A pass that fails (the apiserver restarting, a manager's DNS name not resolving yet)
is logged and retried with a growing delay; the daemon does not die. When the object is
deleted its metric series are forgotten.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import kopf
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from workqueue_operator.api.acceptance import Event, SpecT, Verdict, parse_spec
from workqueue_operator.controllers import metrics
from workqueue_operator.controllers.conditions import verdict_status
from workqueue_operator.k8s.client import KubeApi

MemoryT = TypeVar("MemoryT")

RECHECK_REJECTED_SECONDS = 10.0
"""How soon a rejected object is judged again (a missing Secret or manager may appear)."""
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 30.0
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    """What a pass may look up besides its object: the API and kopf's name indexes."""

    kube: KubeApi
    namespace: str
    indexes: Mapping[str, kopf.Index[str, str] | None] = field(default_factory=dict)

    def names(self, index: str) -> set[str]:
        """Names an index holds for this namespace (none before the index is filled)."""
        found = self.indexes.get(index)
        return set(found.get(self.namespace, [])) if found is not None else set()


@dataclass(frozen=True)
class Pass(Generic[SpecT, MemoryT]):
    """One pass over an accepted object, as its kind's ``reconcile`` gets it."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: SpecT
    status: Mapping[str, Any]
    """The stored status with this pass's acceptance fields merged in."""
    memory: MemoryT
    context: Context
    logger: logging.Logger | logging.LoggerAdapter[Any]

    @property
    def kube(self) -> KubeApi:
        return self.context.kube


@dataclass(frozen=True)
class Outcome(Generic[MemoryT]):
    """What a kind's pass leaves: status fields, Events, its memory, when to look again."""

    status: Mapping[str, Any]
    memory: MemoryT
    recheck_seconds: float
    events: Sequence[Event] = ()


@dataclass(frozen=True)
class Kind(Generic[SpecT, MemoryT]):
    """What the loop needs to know about one kind."""

    name: str
    """The kind, as metrics and logs name it (WorkerPool, ...)."""
    plural: str
    spec_model: type[SpecT]
    accepted_phase: str
    """The phase an object starts in once accepted."""
    judge: Callable[[SpecT, Context], Verdict]
    """The checks the schema cannot make (blocking: run in a thread)."""
    reconcile: Callable[[Pass[SpecT, MemoryT]], Awaitable[Outcome[MemoryT]]]
    new_memory: Callable[[], MemoryT]
    rejected_status: Callable[[str], Mapping[str, Any]] = lambda _name: {}
    """Status fields a rejected object still gets (a pool keeps its selector)."""
    forget: Callable[[str, str], None] = lambda _namespace, _name: None
    """Drops a deleted object's metric series."""


def status_changes(stored: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields whose value differs from the stored status: the only ones worth a patch."""
    return {key: value for key, value in fields.items() if stored.get(key) != value}


async def reconcile_object(
    kind: Kind[SpecT, MemoryT],
    obj: Mapping[str, Any],
    memory: MemoryT,
    context: Context,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> tuple[dict[str, Any], list[Event], Outcome[MemoryT]]:
    """One pass over a stored object: (status fields to patch, Events to post, outcome)."""
    meta = obj.get("metadata") or {}
    name, generation = str(meta.get("name", "")), int(meta.get("generation") or 0)
    stored = dict(obj.get("status") or {})
    parsed = parse_spec(kind.spec_model, obj.get("spec") or {})
    verdict = (
        parsed
        if isinstance(parsed, Verdict)
        else await asyncio.to_thread(kind.judge, parsed, context)
    )
    acceptance, transition = verdict_status(
        verdict, status=stored, generation=generation, accepted_phase=kind.accepted_phase
    )
    events = [verdict.event()] if transition else []
    if isinstance(parsed, Verdict) or not verdict.accepted:
        outcome = Outcome(kind.rejected_status(name), memory, RECHECK_REJECTED_SECONDS)
    else:
        outcome = await kind.reconcile(
            Pass(
                name=name,
                namespace=context.namespace,
                uid=str(meta.get("uid", "")),
                generation=generation,
                spec=parsed,
                status=stored | acceptance,
                memory=memory,
                context=context,
                logger=logger,
            )
        )
    events += outcome.events
    return status_changes(stored, acceptance | dict(outcome.status)), events, outcome


def wakeup_event(memo: Any, kind: str, namespace: str, name: str) -> asyncio.Event:
    """The event that cuts an object's sleep short (set when its spec changes)."""
    events: dict[tuple[str, str, str], asyncio.Event] = memo.setdefault("wakeups", {})
    return events.setdefault((kind, namespace, name), asyncio.Event())


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


def transient(error: Exception) -> bool:
    """Whether an error is the apiserver or the network asking to be retried (a 429 while the
    apiserver's storage initialises, a restart, a dropped connection)."""
    if isinstance(error, ApiException):
        return (error.status or 0) in TRANSIENT_STATUSES
    return isinstance(error, OSError | urllib3.exceptions.HTTPError | TimeoutError)


def post(body: kopf.Body, event: Event) -> None:
    kopf.event(body, type=event.type.value, reason=event.reason, message=event.message[:1000])


async def run_daemon(
    kind: Kind[SpecT, MemoryT],
    *,
    stopped: kopf.DaemonStopped,
    name: str,
    namespace: str | None,
    body: kopf.Body,
    memo: Any,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    indexes: Mapping[str, kopf.Index[str, str] | None] | None = None,
    **_: Any,
) -> None:
    """The loop of one object's daemon (see the module docstring); takes kopf's daemon
    keyword arguments as they come."""
    ns = namespace or ""
    context = Context(kube=memo.kube, namespace=ns, indexes=indexes or {})
    wakeup = wakeup_event(memo, kind.name, ns, name)
    memory = kind.new_memory()
    retry = RETRY_FIRST_SECONDS
    gone = False
    while not stopped:
        wait = retry
        try:
            with metrics.reconcile(kind.name):
                obj = await asyncio.to_thread(context.kube.get_custom, kind.plural, ns, name)
                if obj is None:
                    gone = True
                    break
                changes, events, outcome = await reconcile_object(
                    kind, obj, memory, context, logger
                )
                if changes:
                    await asyncio.to_thread(
                        context.kube.patch_custom_status, kind.plural, ns, name, changes
                    )
                    metrics.record_status_patch(kind.name, ns, name)
                for event in events:
                    post(body, event)
            metrics.record_pass(kind.name, ns, name)
            memory, wait, retry = outcome.memory, outcome.recheck_seconds, RETRY_FIRST_SECONDS
        except Exception as error:
            if transient(error):
                logger.warning(f"{kind.name} pass failed, retrying in {retry:g}s: {error}")
            else:
                logger.exception(f"{kind.name} pass failed, retrying in {retry:g}s")
            retry = min(retry * 2, RETRY_MAX_SECONDS)
        await _sleep(wakeup, stopped, wait)
    if gone or (
        stopped.reason is not None and kopf.DaemonStoppingReason.RESOURCE_DELETED in stopped.reason
    ):
        kind.forget(ns, name)
        metrics.forget_object(kind.name, ns, name)
