"""Prometheus view of the manager's last polled status (a custom collector, read at scrape)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from workqueue_operator.wq.measurements import BYTES_PER_MB
from workqueue_operator.wq.status_models import BoundKind, CategoryStatus, QueueStatus

POLL_OUTCOMES = ("ok", "unreachable", "malformed", "unauthorized")


@dataclass
class ManagerSnapshot:
    """What the poller last saw; ``queue`` is None until the first successful poll."""

    address: str
    queue: QueueStatus | None = None
    categories: list[CategoryStatus] = field(default_factory=list)
    up: bool = False
    last_success_s: float = 0.0
    polls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(POLL_OUTCOMES, 0))


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels or [])


class ManagerCollector(Collector):
    def __init__(self, snapshot: ManagerSnapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        labels = [snap.address]
        up = _gauge("workqueue_manager_up", "1 if the last status poll answered.", ["manager"])
        up.add_metric(labels, 1.0 if snap.up else 0.0)
        yield up
        polls = CounterMetricFamily(
            "workqueue_manager_polls", "Status polls by outcome.", labels=["manager", "outcome"]
        )
        for outcome, count in snap.polls.items():
            polls.add_metric([snap.address, outcome], count)
        yield polls
        last = _gauge(
            "workqueue_manager_last_poll_success_timestamp_seconds",
            "When the manager last answered a status poll.",
            ["manager"],
        )
        last.add_metric(labels, snap.last_success_s)
        yield last
        if snap.queue is not None:
            yield from self._queue(snap.address, snap.queue)
        yield from self._categories(snap.address, snap.categories)

    def _queue(self, address: str, q: QueueStatus) -> Iterator[Metric]:
        tasks = _gauge("workqueue_manager_tasks", "Tasks by state.", ["manager", "state"])
        for state, value in (
            ("waiting", q.tasks_waiting),
            ("running", q.tasks_running),
            ("on_workers", q.tasks_on_workers),
            ("with_results", q.tasks_with_results),
            ("left", q.tasks_left),
        ):
            tasks.add_metric([address, state], value)
        yield tasks
        for name, value, doc in (
            ("submitted", q.tasks_submitted, "Tasks submitted since the manager started."),
            ("done", q.tasks_done, "Tasks returned to the application."),
            ("failed", q.tasks_failed, "Tasks returned with a result other than success."),
            (
                "exhausted_attempts",
                q.tasks_exhausted_attempts,
                "Attempts that exhausted resources.",
            ),
        ):
            counter = CounterMetricFamily(
                f"workqueue_manager_tasks_{name}", doc, labels=["manager"]
            )
            counter.add_metric([address], value)
            yield counter
        workers = _gauge("workqueue_manager_workers", "Workers by state.", ["manager", "state"])
        for state, value in (
            ("connected", q.workers_connected),
            ("init", q.workers_init),
            ("idle", q.workers_idle),
            ("busy", q.workers_busy),
            ("able", q.workers_able),
        ):
            workers.add_metric([address, state], value)
        yield workers
        for resource, unit, scale, total, inuse in (
            ("cores", "", 1, q.cores_total, q.cores_inuse),
            ("memory", "_bytes", BYTES_PER_MB, q.memory_total, q.memory_inuse),
            ("disk", "_bytes", BYTES_PER_MB, q.disk_total, q.disk_inuse),
            ("gpus", "", 1, q.gpus_total, q.gpus_inuse),
        ):
            gauge = _gauge(
                f"workqueue_manager_{resource}{unit}",
                f"{resource.capitalize()} of the connected workers: total or in use.",
                ["manager", "kind"],
            )
            gauge.add_metric([address, "total"], total * scale)
            gauge.add_metric([address, "inuse"], inuse * scale)
            yield gauge

    def _categories(self, address: str, rows: list[CategoryStatus]) -> Iterator[Metric]:
        keys = ["manager", "category"]
        tasks = _gauge(
            "workqueue_category_tasks", "Tasks of a category by state.", [*keys, "state"]
        )
        done = CounterMetricFamily("workqueue_category_tasks_done", "Tasks done.", labels=keys)
        failed = CounterMetricFamily(
            "workqueue_category_tasks_failed", "Tasks failed.", labels=keys
        )
        able = _gauge("workqueue_category_workers_able", "Workers able to run its tasks.", keys)
        bounds = {
            "cores": _gauge("workqueue_category_max_cores", _BOUND_DOC, [*keys, "kind"]),
            "memory": _gauge("workqueue_category_max_memory_bytes", _BOUND_DOC, [*keys, "kind"]),
            "disk": _gauge("workqueue_category_max_disk_bytes", _BOUND_DOC, [*keys, "kind"]),
        }
        for row in rows:
            if row.is_whole_queue:
                continue
            key = [address, row.category]
            for state, value in (
                ("waiting", row.tasks_waiting),
                ("running", row.tasks_running),
                ("on_workers", row.tasks_on_workers),
            ):
                tasks.add_metric([*key, state], value)
            done.add_metric(key, row.tasks_done)
            failed.add_metric(key, row.tasks_failed)
            able.add_metric(key, row.workers_able)
            for resource, bound, scale in (
                ("cores", row.max_cores, 1),
                ("memory", row.max_memory, BYTES_PER_MB),
                ("disk", row.max_disk, BYTES_PER_MB),
            ):
                if bound.value is not None and bound.kind is not BoundKind.UNKNOWN:
                    bounds[resource].add_metric([*key, bound.kind.value], bound.value * scale)
        yield from (tasks, done, failed, able, *bounds.values())


_BOUND_DOC = (
    "Largest value of a category as the manager reports it; kind: declared (its maximum), "
    "measured (largest seen), exceeded (a task needed more than this)."
)
