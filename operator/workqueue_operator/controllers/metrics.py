"""The operator's Prometheus metrics: one registry of its own, names ``workqueue_operator_*``.

The controllers call the small functions at the bottom of this module (they act on the
process-wide ``METRICS``); ``serve`` exposes ``REGISTRY`` over HTTP once per process. The task
histograms (``workqueue_task_*``) and the manager's own view (``workqueue_manager_*``) are the
telemetry agent's, in ``workqueue_operator.agent``; dashboards use both. ``docs/metrics.md``
lists every series with example PromQL.

Two families of series:

* per kind (``reconciles_total``, ``reconcile_errors_total``, ``reconcile_duration_seconds``):
  plain prometheus-client metrics, labelled by kind only;
* per object (scale actions, pods, manager figures, buckets, waste): kept as the last value
  each controller set, rendered at scrape time by a collector, so that a pool's or manager's
  series are replaced as a whole by each ``set_*`` call and dropped by ``forget_*`` when the
  object is deleted (no stale shapes, phases, categories or buckets).

Every function is thread-safe: controllers call them from kopf's event loop or from worker
threads while the HTTP server's thread scrapes.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from workqueue_operator.api.manager import QueueFigures
from workqueue_operator.api.pool import CategoryRecommendation
from workqueue_operator.scaling.inputs import PodPhase
from workqueue_operator.scaling.plan import PoolFigures
from workqueue_operator.values.pod_trouble import LIVE_POD_TROUBLE_REASONS
from workqueue_operator.wq.measurements import BYTES_PER_MB

log = logging.getLogger(__name__)

PREFIX = "workqueue_operator"
KINDS = ("WorkQueueManager", "WorkerPool", "PonchoEnv")
"""The ``kind`` label's values (series for them exist from the start, at zero)."""
RESULT_OK = "ok"
RESULT_ERROR = "error"
UP = "up"
DOWN = "down"
DIRECTIONS = (UP, DOWN)
TASK_STATES = ("waiting", "running", "done", "failed")
WORKER_STATES = ("connected", "busy", "idle")
PROBE_RESULTS = ("unchanged", "changed")
# Phases of pods_stuck's zero series (a stuck pod in phase Unknown adds its own).
ZERO_FILLED_PHASES = (str(PodPhase.PENDING), str(PodPhase.RUNNING))
RECONCILE_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

PORT_ENV = "WORKQUEUE_OPERATOR_METRICS_PORT"
DEFAULT_PORT = 8080
DEFAULT_HOST = "0.0.0.0"

ObjectKey = tuple[str, str]
"""(namespace, name) of a WorkerPool or WorkQueueManager."""


def queue_tasks(queue: QueueFigures) -> dict[str, int]:
    """A manager's tasks by the ``state`` label's values."""
    figures = (queue.tasks_waiting, queue.tasks_running, queue.tasks_done, queue.tasks_failed)
    return dict(zip(TASK_STATES, figures, strict=True))


def queue_workers(queue: QueueFigures) -> dict[str, int]:
    """A manager's workers by the ``state`` label's values."""
    figures = (queue.workers_connected, queue.workers_busy, queue.workers_idle)
    return dict(zip(WORKER_STATES, figures, strict=True))


@dataclass(frozen=True, slots=True)
class BucketFigure:
    """One recommended worker shape of a category, in base units."""

    category: str
    bucket: str
    """The bucket's index within its category, smallest first: "0", "1", ..."""
    memory_bytes: float
    cores: float
    disk_bytes: float
    share: float
    """Share of the category's tasks that this bucket covers (0-1)."""


def buckets_from_recommendations(
    recommendations: Iterable[CategoryRecommendation],
) -> list[BucketFigure]:
    """``status.recommendations`` of a WorkerPool as ``BucketFigure``s for ``set_buckets``."""
    return [
        BucketFigure(
            category=rec.category,
            bucket=str(index),
            memory_bytes=shape.memory_mb * BYTES_PER_MB,
            cores=shape.cores,
            disk_bytes=shape.disk_mb * BYTES_PER_MB,
            share=shape.share,
        )
        for rec in recommendations
        for index, shape in enumerate(rec.buckets)
    ]


@dataclass(frozen=True, slots=True)
class _Manager:
    reachable: bool
    queue: QueueFigures | None


class _Families(NamedTuple):
    """Empty metric families of the per-object series, filled by one scrape."""

    scale_actions: CounterMetricFamily
    pods_refused: CounterMetricFamily
    pod_resizes: CounterMetricFamily
    pods: GaugeMetricFamily
    pods_stuck: GaugeMetricFamily
    manager_tasks: GaugeMetricFamily
    manager_workers: GaugeMetricFamily
    manager_reachable: GaugeMetricFamily
    bucket_memory: GaugeMetricFamily
    bucket_cores: GaugeMetricFamily
    bucket_disk: GaugeMetricFamily
    bucket_share: GaugeMetricFamily
    waste_memory: GaugeMetricFamily
    waste_cores: GaugeMetricFamily
    last_pass: GaugeMetricFamily
    status_patches: CounterMetricFamily
    probes: CounterMetricFamily

    @classmethod
    def empty(cls) -> _Families:
        pool = ["namespace", "pool"]
        manager = ["namespace", "manager"]
        bucket = [*pool, "category", "bucket"]
        return cls(
            scale_actions=CounterMetricFamily(
                f"{PREFIX}_scale_actions",
                "Worker pods created (up) or deleted to scale down (down), by decision reason.",
                labels=[*pool, "direction", "reason"],
            ),
            pods_refused=CounterMetricFamily(
                f"{PREFIX}_pods_refused",
                "Worker pod creations the apiserver refused (quota, admission, invalid).",
                labels=pool,
            ),
            pod_resizes=CounterMetricFamily(
                f"{PREFIX}_pod_resizes",
                "In-place resizes of worker pods (updateMode InPlace) by result: requested, "
                "done, deferred, infeasible, timed_out, cancelled.",
                labels=[*pool, "result"],
            ),
            pods=GaugeMetricFamily(
                f"{PREFIX}_pods",
                "Worker pods of a pool by shape and phase, as the last reconcile saw them.",
                labels=[*pool, "shape", "phase"],
            ),
            pods_stuck=GaugeMetricFamily(
                f"{PREFIX}_pods_stuck",
                "Live worker pods of a pool that say they cannot run, by cause (Unschedulable, "
                "ImagePullBackOff, CrashLoopBackOff, ...) and phase, as the last reconcile saw "
                "them.",
                labels=[*pool, "reason", "phase"],
            ),
            manager_tasks=GaugeMetricFamily(
                f"{PREFIX}_manager_tasks",
                "Tasks of a manager by state (done and failed: since the manager started).",
                labels=[*manager, "state"],
            ),
            manager_workers=GaugeMetricFamily(
                f"{PREFIX}_manager_workers",
                "Workers connected to a manager, and how many of them are busy or idle.",
                labels=[*manager, "state"],
            ),
            manager_reachable=GaugeMetricFamily(
                f"{PREFIX}_manager_reachable",
                "1 if the manager answered the operator's last status poll, else 0.",
                labels=manager,
            ),
            bucket_memory=GaugeMetricFamily(
                f"{PREFIX}_bucket_memory_bytes",
                "Memory of a recommended worker shape (bucket) of a task category.",
                labels=bucket,
            ),
            bucket_cores=GaugeMetricFamily(
                f"{PREFIX}_bucket_cores",
                "Cores of a recommended worker shape (bucket) of a task category.",
                labels=bucket,
            ),
            bucket_disk=GaugeMetricFamily(
                f"{PREFIX}_bucket_disk_bytes",
                "Disk of a recommended worker shape (bucket) of a task category.",
                labels=bucket,
            ),
            bucket_share=GaugeMetricFamily(
                f"{PREFIX}_bucket_share_ratio",
                "Share (0-1) of a category's tasks that a recommended bucket covers.",
                labels=bucket,
            ),
            waste_memory=GaugeMetricFamily(
                f"{PREFIX}_pool_waste_memory_bytes",
                "Memory allocated to a pool's running workers minus memory in use (estimated).",
                labels=pool,
            ),
            waste_cores=GaugeMetricFamily(
                f"{PREFIX}_pool_waste_cores",
                "Cores allocated to a pool's running workers minus cores in use (estimated).",
                labels=pool,
            ),
            last_pass=GaugeMetricFamily(
                f"{PREFIX}_last_reconcile_timestamp_seconds",
                "When an object's last reconcile pass ended without an error (Unix time).",
                labels=["kind", "namespace", "name"],
            ),
            status_patches=CounterMetricFamily(
                f"{PREFIX}_status_patches",
                "Status patches the operator sent for an object (only passes that changed it).",
                labels=["kind", "namespace", "name"],
            ),
            probes=CounterMetricFamily(
                f"{PREFIX}_probes",
                "Probes between a quiet object's passes (one manager status request each), by "
                "result: unchanged, or changed (which starts a pass at once).",
                labels=["kind", "namespace", "name", "result"],
            ),
        )


class _ObjectCollector(Collector):
    """Per-object series: the last values the controllers set, rendered at scrape."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.scale_actions: dict[ObjectKey, dict[tuple[str, str], float]] = {}
        self.pods_refused: dict[ObjectKey, float] = {}
        self.pod_resizes: dict[ObjectKey, dict[str, float]] = {}
        self.pods: dict[ObjectKey, dict[tuple[str, str], int]] = {}
        self.pods_stuck: dict[ObjectKey, dict[tuple[str, str], int]] = {}
        self.managers: dict[ObjectKey, _Manager] = {}
        self.buckets: dict[ObjectKey, list[BucketFigure]] = {}
        self.waste: dict[ObjectKey, tuple[float, float]] = {}
        self.last_pass: dict[tuple[str, str, str], float] = {}
        self.status_patches: dict[tuple[str, str, str], float] = {}
        self.probes: dict[tuple[str, str, str, str], float] = {}

    def describe(self) -> Iterator[Metric]:
        yield from _Families.empty()

    def collect(self) -> Iterator[Metric]:
        f = _Families.empty()
        with self.lock:
            for (ns, pool), actions in sorted(self.scale_actions.items()):
                for (direction, reason), count in sorted(actions.items()):
                    f.scale_actions.add_metric([ns, pool, direction, reason], count)
            for (ns, pool), refused in sorted(self.pods_refused.items()):
                f.pods_refused.add_metric([ns, pool], refused)
            for (ns, pool), results in sorted(self.pod_resizes.items()):
                for result, count in sorted(results.items()):
                    f.pod_resizes.add_metric([ns, pool, result], count)
            for (ns, pool), counts in sorted(self.pods.items()):
                for (shape, phase), n in sorted(counts.items()):
                    f.pods.add_metric([ns, pool, shape, phase], n)
            for (ns, pool), stuck in sorted(self.pods_stuck.items()):
                for (reason, phase), n in sorted(stuck.items()):
                    f.pods_stuck.add_metric([ns, pool, reason, phase], n)
            for (ns, name), manager in sorted(self.managers.items()):
                f.manager_reachable.add_metric([ns, name], 1.0 if manager.reachable else 0.0)
                if manager.queue is not None:
                    for state, value in queue_tasks(manager.queue).items():
                        f.manager_tasks.add_metric([ns, name, state], value)
                    for state, value in queue_workers(manager.queue).items():
                        f.manager_workers.add_metric([ns, name, state], value)
            for (ns, pool), figures in sorted(self.buckets.items()):
                for b in figures:
                    labels = [ns, pool, b.category, b.bucket]
                    f.bucket_memory.add_metric(labels, b.memory_bytes)
                    f.bucket_cores.add_metric(labels, b.cores)
                    f.bucket_disk.add_metric(labels, b.disk_bytes)
                    f.bucket_share.add_metric(labels, b.share)
            for (ns, pool), (memory, cores) in sorted(self.waste.items()):
                f.waste_memory.add_metric([ns, pool], memory)
                f.waste_cores.add_metric([ns, pool], cores)
            for (kind, ns, name), at in sorted(self.last_pass.items()):
                f.last_pass.add_metric([kind, ns, name], at)
            for (kind, ns, name), count in sorted(self.status_patches.items()):
                f.status_patches.add_metric([kind, ns, name], count)
            for (kind, ns, name, result), count in sorted(self.probes.items()):
                f.probes.add_metric([kind, ns, name, result], count)
        yield from f

    def forget_pool(self, key: ObjectKey) -> None:
        with self.lock:
            self.scale_actions.pop(key, None)
            self.pods_refused.pop(key, None)
            self.pod_resizes.pop(key, None)
            self.pods.pop(key, None)
            self.pods_stuck.pop(key, None)
            self.buckets.pop(key, None)
            self.waste.pop(key, None)


class OperatorMetrics:
    """The operator's metrics on a registry of their own (``registry``)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconciles = Counter(
            f"{PREFIX}_reconciles",
            "Reconcile passes by kind and result (ok or error).",
            ["kind", "result"],
            registry=self.registry,
        )
        self.reconcile_errors = Counter(
            f"{PREFIX}_reconcile_errors",
            "Reconcile passes that ended in an error, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.reconcile_duration = Histogram(
            f"{PREFIX}_reconcile_duration_seconds",
            "Duration of one reconcile pass, by kind.",
            ["kind"],
            buckets=RECONCILE_BUCKETS_S,
            registry=self.registry,
        )
        for kind in KINDS:
            for result in (RESULT_OK, RESULT_ERROR):
                self.reconciles.labels(kind, result)
            self.reconcile_errors.labels(kind)
            self.reconcile_duration.labels(kind)
        self._objects = _ObjectCollector()
        self.registry.register(self._objects)

    # --- per kind --------------------------------------------------------------------------
    def observe_reconcile(self, kind: str, seconds: float, ok: bool) -> None:
        """One reconcile pass of ``kind`` ("WorkQueueManager", "WorkerPool", "PonchoEnv")
        took ``seconds``; ``ok`` False counts it in ``reconcile_errors_total`` as well.

        Call it once per pass of a daemon's loop (or per handler call), e.g.
        ``metrics.observe_reconcile("WorkerPool", time.monotonic() - started, ok=True)``;
        ``reconcile(kind)`` does the timing and the ok/error verdict for a ``with`` block."""
        result = RESULT_OK if ok else RESULT_ERROR
        self.reconciles.labels(kind, result).inc()
        if not ok:
            self.reconcile_errors.labels(kind).inc()
        self.reconcile_duration.labels(kind).observe(max(0.0, seconds))

    @contextmanager
    def reconcile(self, kind: str) -> Iterator[None]:
        """Time the ``with`` block as one reconcile pass of ``kind``: an ``Exception`` leaving
        it counts as an error (and goes on); cancellation (a daemon stopping) counts nothing."""
        started = time.monotonic()
        try:
            yield
        except Exception:
            self.observe_reconcile(kind, time.monotonic() - started, ok=False)
            raise
        self.observe_reconcile(kind, time.monotonic() - started, ok=True)

    def record_pass(self, kind: str, namespace: str, name: str, at: float | None = None) -> None:
        """An object's reconcile pass ended without an error (at ``at``, default now)."""
        with self._objects.lock:
            self._objects.last_pass[(kind, namespace, name)] = time.time() if at is None else at

    def record_status_patch(self, kind: str, namespace: str, name: str) -> None:
        """The operator sent a status patch for an object."""
        with self._objects.lock:
            key = (kind, namespace, name)
            self._objects.status_patches[key] = self._objects.status_patches.get(key, 0.0) + 1

    def record_probe(self, kind: str, namespace: str, name: str, *, changed: bool) -> None:
        """A probe between a quiet object's passes found what the last pass saw (``changed``
        False) or found it moved (True)."""
        with self._objects.lock:
            key = (kind, namespace, name, PROBE_RESULTS[changed])
            self._objects.probes[key] = self._objects.probes.get(key, 0.0) + 1

    def probes(self, kind: str, namespace: str, name: str, *, changed: bool) -> int:
        """Probes of an object so far with that result."""
        with self._objects.lock:
            key = (kind, namespace, name, PROBE_RESULTS[changed])
            return int(self._objects.probes.get(key, 0))

    def status_patches(self, kind: str, namespace: str, name: str) -> int:
        """Status patches sent for an object so far."""
        with self._objects.lock:
            return int(self._objects.status_patches.get((kind, namespace, name), 0))

    def last_pass(self, kind: str, namespace: str, name: str) -> float | None:
        """When an object's last pass ended without an error, if one has."""
        with self._objects.lock:
            return self._objects.last_pass.get((kind, namespace, name))

    def forget_object(self, kind: str, namespace: str, name: str) -> None:
        """Drop a deleted object's last-pass, status-patch and probe series."""
        with self._objects.lock:
            self._objects.last_pass.pop((kind, namespace, name), None)
            self._objects.status_patches.pop((kind, namespace, name), None)
            for result in PROBE_RESULTS:
                self._objects.probes.pop((kind, namespace, name, result), None)

    # --- WorkerPools -----------------------------------------------------------------------
    def record_scale(
        self, namespace: str, pool: str, direction: str, reason: str, count: int = 1
    ) -> None:
        """``count`` worker pods created (``direction`` "up") or deleted to scale down
        ("down") by one decision. ``reason`` must be of bounded cardinality: pass the
        decision's kind (``str(decision.kind)``: ScaleUp, ScaleDown, Rebalance, ...), never
        its human-readable text. A Rebalance is two calls, one per direction. Deleting
        finished pods (clean-up) is not a scale action."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
        if count < 0:
            raise ValueError(f"count must be >= 0, not {count}")
        if count == 0:
            return
        with self._objects.lock:
            actions = self._objects.scale_actions.setdefault((namespace, pool), {})
            actions[(direction, reason)] = actions.get((direction, reason), 0.0) + count

    def record_refused_pods(self, namespace: str, pool: str, count: int) -> None:
        """``count`` worker pod creations of a pool that the apiserver refused."""
        if count < 0:
            raise ValueError(f"count must be >= 0, not {count}")
        if count == 0:
            return
        with self._objects.lock:
            key = (namespace, pool)
            self._objects.pods_refused[key] = self._objects.pods_refused.get(key, 0.0) + count

    def record_resizes(self, namespace: str, pool: str, results: Mapping[str, int]) -> None:
        """In-place resizes of a pool's pods by result (``requested``, ``done``,
        ``deferred``, ``infeasible``, ``timed_out``, ``cancelled``)."""
        if any(n < 0 for n in results.values()):
            raise ValueError(f"counts must be >= 0, not {dict(results)}")
        with self._objects.lock:
            counts = self._objects.pod_resizes.setdefault((namespace, pool), {})
            for result, n in results.items():
                if n:
                    counts[result] = counts.get(result, 0.0) + n

    def set_pool_pods(
        self, namespace: str, pool: str, counts: Mapping[tuple[str, str], int]
    ) -> None:
        """A pool's worker pods now: ``{(shape id, phase): count}`` with phases as the scaler
        names them (``str(PodPhase...)``: Pending, Running, Terminating, Succeeded, Failed,
        Unknown). Replaces the pool's previous figures: pairs left out are dropped."""
        with self._objects.lock:
            self._objects.pods[(namespace, pool)] = {
                (shape, phase): int(n) for (shape, phase), n in counts.items()
            }

    def set_stuck_pods(
        self, namespace: str, pool: str, counts: Mapping[tuple[str, str], int]
    ) -> None:
        """A pool's live pods that say they cannot run now, ``{(reason, phase): count}``; every
        cause a live pod can give is a series in phases Pending and Running, 0 when no pod
        gives it (so a query has a series to show before anything goes wrong, an alert on a
        cause resolves when it is mended, and Pending pods minus those stuck has both sides)."""
        with self._objects.lock:
            self._objects.pods_stuck[(namespace, pool)] = {
                **dict.fromkeys(itertools.product(LIVE_POD_TROUBLE_REASONS, ZERO_FILLED_PHASES), 0),
                **{key: int(n) for key, n in counts.items()},
            }

    def set_buckets(self, namespace: str, pool: str, buckets: Iterable[BucketFigure]) -> None:
        """A pool's bucket recommendations now (``buckets_from_recommendations(recs)``);
        replaces the previous ones. An empty iterable (sizing mode Fixed) drops them."""
        figures = list(buckets)
        with self._objects.lock:
            if figures:
                self._objects.buckets[(namespace, pool)] = figures
            else:
                self._objects.buckets.pop((namespace, pool), None)

    def set_waste(self, namespace: str, pool: str, *, memory_bytes: float, cores: float) -> None:
        """A pool's estimated waste now: what its running workers were allocated (the pods'
        worker resources) minus what they use (the manager's in-use figures for those workers,
        or the tasks' measured peaks). Negative estimates (measurement noise) count as 0."""
        with self._objects.lock:
            self._objects.waste[(namespace, pool)] = (max(0.0, memory_bytes), max(0.0, cores))

    def record_pool(
        self,
        namespace: str,
        pool: str,
        figures: PoolFigures,
        recommendations: Iterable[CategoryRecommendation],
    ) -> None:
        """Everything one pass of a pool leaves: its scale actions by (direction, reason), its
        refused creations, its pods (and those stuck), buckets and waste."""
        for (direction, reason), count in figures.scaled.items():
            self.record_scale(namespace, pool, direction, reason, count)
        self.record_refused_pods(namespace, pool, figures.refused)
        self.record_resizes(namespace, pool, figures.resizes)
        self.set_pool_pods(namespace, pool, figures.pods)
        self.set_stuck_pods(namespace, pool, figures.stuck)
        self.set_buckets(namespace, pool, buckets_from_recommendations(recommendations))
        self.set_waste(
            namespace,
            pool,
            memory_bytes=figures.waste_memory_mb * BYTES_PER_MB,
            cores=figures.waste_cores,
        )

    def forget_pool(self, namespace: str, pool: str) -> None:
        """Drop every series of a deleted WorkerPool (call it from its delete handler or
        when its daemon stops because the object is gone)."""
        self._objects.forget_pool((namespace, pool))

    # --- WorkQueueManagers -----------------------------------------------------------------
    def set_manager_figures(
        self, namespace: str, manager: str, *, reachable: bool, queue: QueueFigures | None
    ) -> None:
        """What the last status poll of a WorkQueueManager found: ``reachable``, and its queue
        (as its status shows it) or None when the poll got no answer, which drops the task and
        worker series until the next answer (no stale figures)."""
        with self._objects.lock:
            self._objects.managers[(namespace, manager)] = _Manager(reachable, queue)

    def forget_manager(self, namespace: str, manager: str) -> None:
        """Drop every series of a deleted WorkQueueManager."""
        with self._objects.lock:
            self._objects.managers.pop((namespace, manager), None)

    # --- exposition ------------------------------------------------------------------------
    def render(self) -> bytes:
        """The registry in the Prometheus text format, as ``/metrics`` serves it."""
        return generate_latest(self.registry)


METRICS = OperatorMetrics()
"""The process-wide metrics that the controllers update and ``serve`` exposes."""
REGISTRY = METRICS.registry

observe_reconcile = METRICS.observe_reconcile
reconcile = METRICS.reconcile
record_scale = METRICS.record_scale
record_refused_pods = METRICS.record_refused_pods
record_resizes = METRICS.record_resizes
set_pool_pods = METRICS.set_pool_pods
set_buckets = METRICS.set_buckets
set_waste = METRICS.set_waste
record_pool = METRICS.record_pool
record_pass = METRICS.record_pass
last_pass = METRICS.last_pass
record_status_patch = METRICS.record_status_patch
status_patches = METRICS.status_patches
record_probe = METRICS.record_probe
probes = METRICS.probes
forget_object = METRICS.forget_object
forget_pool = METRICS.forget_pool
set_manager_figures = METRICS.set_manager_figures
forget_manager = METRICS.forget_manager


# --- the HTTP endpoint -------------------------------------------------------------------------
def port_from_env(environ: Mapping[str, str]) -> int:
    """The metrics port from ``WORKQUEUE_OPERATOR_METRICS_PORT`` (default 8080; 0 = off)."""
    text = environ.get(PORT_ENV, "").strip()
    if not text:
        return DEFAULT_PORT
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"{PORT_ENV}={text!r} is not a port number") from None
    if not 0 <= port < 65536:
        raise ValueError(f"{PORT_ENV}={text!r} is out of range (0 turns metrics off)")
    return port


_serving_lock = threading.Lock()
_serving_port: int | None = None


def serve(port: int, host: str = DEFAULT_HOST) -> bool:
    """Serve ``REGISTRY`` at ``http://host:port/metrics`` from a daemon thread, once per
    process: later calls (an operator restarted in the same process, as kopf's KopfRunner
    does in tests) do nothing. Port 0 does nothing. A port in use is logged and tried again
    by the next call. Returns whether the endpoint is up after the call."""
    global _serving_port  # noqa: PLW0603 - one server per process, by design
    if port == 0:
        return False
    with _serving_lock:
        if _serving_port is not None:
            if _serving_port != port:
                log.warning(
                    "metrics already served on port %d; not moving to %d", _serving_port, port
                )
            return True
        try:
            start_http_server(port, addr=host, registry=REGISTRY)
        except OSError as error:
            log.warning("cannot serve metrics on %s:%d: %s", host, port, error)
            return False
        _serving_port = port
        log.info("serving metrics on http://%s:%d/metrics", host, port)
        return True
