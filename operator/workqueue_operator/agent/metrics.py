"""Prometheus metrics of finished task attempts, per category, in base units.

Every attempt counts in ``workqueue_task_attempts_total`` by result. Attempts that were
measured (monitoring on) also feed the histograms and ``workqueue_task_samples_total``,
labelled ``under_measured`` when shorter than resource_monitor's 5 s sampling interval (their
memory and disk peaks are lower bounds) and ``complete`` otherwise.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from workqueue_operator.values.samples import Sample
from workqueue_operator.wq.measurements import BYTES_PER_MB, is_under_measured
from workqueue_operator.wq.transactions import Observation

MIB = 1 << 20
MEMORY_BUCKETS_BYTES = tuple(float(MIB << i) for i in range(4, 19))  # 16 MiB .. 256 GiB
DISK_BUCKETS_BYTES = tuple(float(MIB << i) for i in range(4, 21))  # 16 MiB .. 1 TiB
CORES_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0)
WALL_TIME_BUCKETS_S = (
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
    7200.0, 14400.0, 28800.0, 86400.0,
)  # fmt: skip

UNDER_MEASURED = "under_measured"
COMPLETE = "complete"


class TaskMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["category"]
        self.memory = Histogram(
            "workqueue_task_memory_bytes",
            "Peak resident memory of a task attempt, measured by resource_monitor.",
            labels,
            buckets=MEMORY_BUCKETS_BYTES,
            registry=registry,
        )
        self.cores = Histogram(
            "workqueue_task_cores",
            "Peak cores used by a task attempt, measured by resource_monitor.",
            labels,
            buckets=CORES_BUCKETS,
            registry=registry,
        )
        self.disk = Histogram(
            "workqueue_task_disk_bytes",
            "Peak sandbox disk use of a task attempt, measured by resource_monitor.",
            labels,
            buckets=DISK_BUCKETS_BYTES,
            registry=registry,
        )
        self.wall_time = Histogram(
            "workqueue_task_wall_time_seconds",
            "Wall time of a task attempt, measured by resource_monitor.",
            labels,
            buckets=WALL_TIME_BUCKETS_S,
            registry=registry,
        )
        self.attempts = Counter(
            "workqueue_task_attempts",
            "Finished task attempts by Work Queue result (success, resource_exhaustion, ...).",
            ["category", "result"],
            registry=registry,
        )
        self.samples = Counter(
            "workqueue_task_samples",
            "Measured task attempts; under_measured: shorter than the 5 s sampling interval.",
            ["category", "measurement"],
            registry=registry,
        )

    def observe(self, observation: Observation) -> None:
        self.attempts.labels(observation.category, observation.result).inc()
        if observation.sample is not None:
            self.observe_sample(observation.sample)

    def observe_sample(self, sample: Sample) -> None:
        category = sample.category
        self.memory.labels(category).observe(sample.memory_mb * BYTES_PER_MB)
        self.cores.labels(category).observe(sample.cores)
        self.disk.labels(category).observe(sample.disk_mb * BYTES_PER_MB)
        self.wall_time.labels(category).observe(sample.wall_time_s)
        kind = UNDER_MEASURED if is_under_measured(sample) else COMPLETE
        self.samples.labels(category, kind).inc()
