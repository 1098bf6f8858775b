"""One reconcile loop for the three kinds: the supervisor runs ``run_object`` per object.

The objects' watch events (kopf's low-level ``on.event`` handlers) start an object's loop, wake
it when its spec changes and stop it when the object is deleted. Nothing is written on the
objects to do that: no finalizer (owner references remove what the operator made, so objects
and namespaces are deleted even while the operator is stopped) and no kopf annotations.

Every pass: take the object as last seen (``controllers.objects``: the newest of the watch
events and the answers to the operator's own status patches, so a lagging event never brings
an old status back; read from the apiserver only when none is held), parse and judge its spec
(the Accepted condition, an Event when the verdict changes), hand an accepted spec to the
kind's ``reconcile`` (gather, plan, apply), write only the status fields that differ from the
stored ones, post the pass's Events, count the pass in
``workqueue_operator_reconciles_total`` (and its end in
``workqueue_operator_last_reconcile_timestamp_seconds``, its patches in
``workqueue_operator_status_patches_total``), and sleep until the recheck time or until the spec
changes; a kind may leave a ``Probe`` that looks cheaply every few seconds meanwhile and ends
the sleep when what the pass saw has moved (a quiet WorkerPool: ``scaling.cadence``). A pass
that fails (the apiserver restarting, a manager's DNS name not resolving yet) is logged and
retried with a growing delay; the loop does not die. When the object is deleted its metric
series are forgotten.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import kopf
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from workqueue_operator.api.acceptance import (
    Event,
    SpecT,
    Verdict,
    parse_spec,
    verdict_condition,
)
from workqueue_operator.api.common import status_changes
from workqueue_operator.api.ready import READY, ReadyRule, ready_verdict
from workqueue_operator.controllers import metrics
from workqueue_operator.controllers.conditions import verdict_status
from workqueue_operator.controllers.objects import ObjectStore
from workqueue_operator.k8s.client import KubeApi
from workqueue_operator.values.cadence import next_probe_in

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
    objects: ObjectStore | None = None
    """The operator's objects as last seen (watch events, patch answers); None: always read
    them from the apiserver."""

    def names(self, index: str) -> set[str]:
        """Names an index holds for this namespace (none before the index is filled)."""
        found = self.indexes.get(index)
        return set(found.get(self.namespace, [])) if found is not None else set()

    def read(self, plural: str, name: str) -> dict[str, Any] | None:
        """One of the operator's objects in this namespace: the copy last seen, or from the
        apiserver when none is held. Blocking (call it from a thread)."""
        if self.objects is not None:
            held = self.objects.get(plural, self.namespace, name)
            if held is not None:
                return held
        obj = self.kube.get_custom(plural, self.namespace, name)
        if obj is not None and self.objects is not None:
            self.objects.offer(plural, self.namespace, obj)
        return obj


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
class Probe:
    """A cheap look between passes: every ``every_seconds`` while the loop waits for its next
    pass, ``changed`` says whether what the last pass saw has moved (True starts the pass at
    once; so does a probe that raises)."""

    every_seconds: float
    changed: Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class Outcome(Generic[MemoryT]):
    """What a kind's pass leaves: status fields, Events, its memory, when to look again."""

    status: Mapping[str, Any]
    memory: MemoryT
    recheck_seconds: float
    events: Sequence[Event] = ()
    probe: Probe | None = None


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
    ready: ReadyRule
    """The conditions that make an object of the kind Ready (``api.ready``)."""
    rejected_status: Callable[[str], Mapping[str, Any]] = lambda _name: {}
    """Status fields a rejected object still gets (a pool keeps its selector)."""
    forget: Callable[[str, str], None] = lambda _namespace, _name: None
    """Drops a deleted object's metric series."""
    release: Callable[[KubeApi, str, str], None] = lambda _kube, _namespace, _name: None
    """Lets go of what the API layer keeps for a deleted object (a pool's pod watch)."""


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
    fields = acceptance | dict(outcome.status)
    status = stored | fields
    fields["conditions"], _ = verdict_condition(
        status,
        type_=READY,
        verdict=ready_verdict(kind.ready, status.get("conditions") or []),
        generation=generation,
    )  # no Event: the condition that does not hold has posted its own
    return status_changes(stored, fields), events, outcome


async def wait_for_next_pass(
    wakeup: asyncio.Event,
    stop: asyncio.Event,
    seconds: float,
    probe: Probe | None,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    *,
    count: Callable[[bool], None] = lambda _changed: None,
) -> None:
    """Wait until the next pass is due: ``seconds``, or less when the loop is woken (its spec
    changed) or stopped, or when ``probe`` (run every ``probe.every_seconds`` meanwhile) sees a
    change; ``count`` is told each probe's result (a probe that raises counts as a change). One
    pair of waiters serves every probe of the wait."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    waiters = {asyncio.ensure_future(wakeup.wait()), asyncio.ensure_future(stop.wait())}
    try:
        while True:
            left = deadline - loop.time()
            step = (
                left
                if probe is None
                else min(left, next_probe_in(loop.time(), probe.every_seconds))
            )
            done, _ = await asyncio.wait(
                waiters, timeout=max(step, 0.0), return_when=asyncio.FIRST_COMPLETED
            )
            if done or probe is None or step >= left:
                return
            try:
                changed = await probe.changed()
            except Exception as error:  # a probe that fails hands over to the pass
                logger.warning(f"probe failed, looking again now: {error}")
                changed = True
            count(changed)
            if changed:
                return
    finally:
        for waiter in waiters:
            waiter.cancel()
        wakeup.clear()


def transient(error: Exception) -> bool:
    """Whether an error is the apiserver or the network asking to be retried (a 429 while the
    apiserver's storage initialises, a restart, a dropped connection)."""
    if isinstance(error, ApiException):
        return (error.status or 0) in TRANSIENT_STATUSES
    return isinstance(error, OSError | urllib3.exceptions.HTTPError | TimeoutError)


def post(obj: Mapping[str, Any], event: Event) -> None:
    body = kopf.Body(cast(kopf.RawBody, dict(obj)))
    kopf.event(body, type=event.type.value, reason=event.reason, message=event.message[:1000])


async def run_object(
    kind: Kind[SpecT, MemoryT],
    *,
    name: str,
    context: Context,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    stop: asyncio.Event,
    wakeup: asyncio.Event,
) -> None:
    """The loop of one object (see the module docstring), until ``stop`` is set or the object
    is gone."""
    ns = context.namespace
    memory = kind.new_memory()
    retry = RETRY_FIRST_SECONDS
    while not stop.is_set():
        wait, probe = retry, None
        try:
            with metrics.reconcile(kind.name):
                obj = await asyncio.to_thread(context.read, kind.plural, name)
                if obj is None:
                    break
                changes, events, outcome = await reconcile_object(
                    kind, obj, memory, context, logger
                )
                if changes:
                    patched = await asyncio.to_thread(
                        context.kube.patch_custom_status, kind.plural, ns, name, changes
                    )
                    if patched is not None and context.objects is not None:
                        context.objects.offer(kind.plural, ns, patched)
                    metrics.record_status_patch(kind.name, ns, name)
                for event in events:
                    post(obj, event)
            metrics.record_pass(kind.name, ns, name)
            memory, wait, probe = outcome.memory, outcome.recheck_seconds, outcome.probe
            retry = RETRY_FIRST_SECONDS
        except Exception as error:
            if transient(error):
                logger.warning(f"{kind.name} pass failed, retrying in {retry:g}s: {error}")
            else:
                logger.exception(f"{kind.name} pass failed, retrying in {retry:g}s")
            retry = min(retry * 2, RETRY_MAX_SECONDS)
        await wait_for_next_pass(
            wakeup,
            stop,
            wait,
            probe,
            logger,
            count=lambda changed: metrics.record_probe(kind.name, ns, name, changed=changed),
        )


@dataclass
class ObjectLoop:
    """One object's running loop, and what wakes or stops it."""

    task: asyncio.Task[None]
    wakeup: asyncio.Event
    stop: asyncio.Event
    generation: int


OLD_FINALIZER = "workqueue.dev/finalizer"
"""The finalizer operators before this loop put on every object (kopf daemons require one).
Nothing needs it: owner references remove what the operator made. It is taken off objects as
they are seen, so that a namespace deleted while the operator is down can finish."""


class Supervisor:
    """One loop per object of every kind, started, woken and stopped from the objects' watch
    events (kopf's low-level ``on.event``: no finalizer and no annotations on the objects, so
    objects can be deleted while the operator is stopped or uninstalled)."""

    def __init__(self) -> None:
        self.loops: dict[tuple[str, str, str], ObjectLoop] = {}
        self.objects = ObjectStore()

    async def observe(
        self,
        kind: Kind[SpecT, MemoryT],
        *,
        type: str | None,
        body: Mapping[str, Any],
        context: Context,
        logger: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        """Start the object's loop, wake it when its spec changed, stop it when the object is
        deleted."""
        meta = body.get("metadata") or {}
        name = str(meta.get("name", ""))
        key = (kind.name, context.namespace, name)
        running = self.loops.get(key)
        if type == "DELETED":
            self.objects.forget(kind.plural, context.namespace, name)
        else:
            self.objects.offer(kind.plural, context.namespace, body)
        if type == "DELETED" or meta.get("deletionTimestamp"):
            if running is not None:
                running.stop.set()
                del self.loops[key]
                kind.forget(context.namespace, name)
                kind.release(context.kube, context.namespace, name)
                metrics.forget_object(kind.name, context.namespace, name)
            if OLD_FINALIZER in (meta.get("finalizers") or []):
                await asyncio.to_thread(
                    context.kube.remove_finalizer, kind.plural, context.namespace, name,
                    OLD_FINALIZER,
                )  # fmt: skip
            return
        if OLD_FINALIZER in (meta.get("finalizers") or []):
            await asyncio.to_thread(
                context.kube.remove_finalizer, kind.plural, context.namespace, name, OLD_FINALIZER
            )
        generation = int(meta.get("generation") or 0)
        if running is not None and not running.task.done():
            if generation != running.generation:
                running.generation = generation
                running.wakeup.set()
            return
        stop, wakeup = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(
            run_object(kind, name=name, context=context, logger=logger, stop=stop, wakeup=wakeup),
            name=f"{kind.name}/{context.namespace}/{name}",
        )
        self.loops[key] = ObjectLoop(task, wakeup, stop, generation)

    async def shutdown(self) -> None:
        """Stop every loop and wait for them (the operator is stopping)."""
        for loop in self.loops.values():
            loop.stop.set()
        tasks = [loop.task for loop in self.loops.values()]
        self.loops.clear()
        if tasks:
            await asyncio.wait(tasks, timeout=10)


async def on_event(
    kind: Kind[SpecT, MemoryT],
    *,
    type: str | None,
    body: Mapping[str, Any],
    namespace: str | None,
    memo: Any,
    logger: logging.Logger | logging.LoggerAdapter[Any],
    indexes: Mapping[str, kopf.Index[str, str] | None] | None = None,
    **_: Any,
) -> None:
    """What a kind's ``@kopf.on.event`` handler does: hand the event to the supervisor."""
    context = Context(
        kube=memo.kube,
        namespace=namespace or "",
        indexes=indexes or {},
        objects=memo.supervisor.objects,
    )
    await memo.supervisor.observe(kind, type=type, body=body, context=context, logger=logger)
