"""Where observations go: the metrics and the per-category sample window."""

from __future__ import annotations

from workqueue_operator.agent.metrics import TaskMetrics
from workqueue_operator.agent.window import SampleWindow
from workqueue_operator.wq.transactions import Observation


class Telemetry:
    def __init__(self, metrics: TaskMetrics, window: SampleWindow) -> None:
        self.metrics = metrics
        self.window = window
        self.observations = 0

    def record(self, observation: Observation) -> None:
        self.observations += 1
        self.metrics.observe(observation)
        if observation.sample is not None:
            self.window.add(observation.sample)
