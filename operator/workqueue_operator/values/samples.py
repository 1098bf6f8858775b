"""The one normalised telemetry sample type that every source is parsed into."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TaskResult(StrEnum):
    """How a task attempt ended, as far as sizing cares."""

    SUCCESS = "success"
    RESOURCE_EXHAUSTION = "resource_exhaustion"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Sample:
    """What one finished task attempt really used.

    Units: cores (peak, may be fractional); memory and disk in MB as CCTools counts them, which
    are MiB (2^20 bytes: resource_monitor reads 100 MiB held as 100 plus the interpreter); wall
    time in seconds. ``timestamp`` is seconds since the epoch when the attempt ended (0 when the
    source has no clock, e.g. a trace file).
    """

    category: str
    cores: float
    memory_mb: float
    disk_mb: float
    wall_time_s: float
    result: TaskResult = TaskResult.SUCCESS
    timestamp: float = 0.0
    task_id: str = ""

    def in_category(self, category: str) -> Sample:
        """This attempt under another category (``dataclasses.replace``, built directly: a replay
        makes one for every attempt it pools)."""
        return Sample(
            category,
            self.cores,
            self.memory_mb,
            self.disk_mb,
            self.wall_time_s,
            self.result,
            self.timestamp,
            self.task_id,
        )

    def stopped_at(self, cores: float, memory_mb: float, disk_mb: float) -> Sample:
        """This attempt stopped at its limits, having used ``cores``, ``memory_mb`` and
        ``disk_mb`` (result ``RESOURCE_EXHAUSTION``)."""
        return Sample(
            self.category,
            cores,
            memory_mb,
            disk_mb,
            self.wall_time_s,
            TaskResult.RESOURCE_EXHAUSTION,
            self.timestamp,
            self.task_id,
        )
