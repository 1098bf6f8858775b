"""Telemetry sources the agent follows, and the Prometheus view of how reading them goes.

Each source's ``poll()`` is synchronous, bounded and never raises for bad input; the agent
runs it in a worker thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from workqueue_operator.wq.summary_dir import SummaryDirectory
from workqueue_operator.wq.tail import LineTailer
from workqueue_operator.wq.transactions import Observation, TransactionsReader

MAX_LINES_PER_POLL = 20_000


class Source(Protocol):
    name: str

    def poll(self) -> list[Observation]: ...

    def counts(self) -> dict[str, int]:
        """Lines or objects read so far, by outcome (parsed, ignored, malformed, ...)."""
        ...


class TransactionsSource:
    name = "transactions"

    def __init__(self, path: Path, *, from_end: bool = False) -> None:
        self.tailer = LineTailer(path, from_end=from_end)
        self.reader = TransactionsReader()

    def poll(self) -> list[Observation]:
        found: list[Observation] = []
        budget = MAX_LINES_PER_POLL
        while budget > 0 and (lines := self.tailer.poll()):
            budget -= len(lines)
            found += self.reader.feed_all(lines)
        return found

    def counts(self) -> dict[str, int]:
        stats = self.reader.stats
        return {
            "task_record": stats.task_records,
            "ignored": stats.ignored,
            "malformed": stats.malformed,
            "oversized": self.tailer.stats.oversized_lines,
        }


class SummariesSource:
    name = "summaries"

    def __init__(self, directory: Path, *, default_category: str = "default") -> None:
        self.directory = SummaryDirectory(directory, default_category=default_category)

    def poll(self) -> list[Observation]:
        return [
            Observation(
                category=s.category,
                task_id=s.task_id,
                result=s.result.value,
                exit_code=-1,
                time_s=s.timestamp,
                sample=s,
            )
            for s in self.directory.poll()
        ]

    def counts(self) -> dict[str, int]:
        stats = self.directory.reader.stats
        return {
            "sample": stats.samples,
            "ignored": stats.skipped,
            "malformed": stats.malformed,
        }


class IngestCollector(Collector):
    def __init__(self, sources: list[Source]) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        records = CounterMetricFamily(
            "workqueue_telemetry_records",
            "Telemetry lines or objects read, by source and outcome; malformed ones are skipped.",
            labels=["source", "outcome"],
        )
        for source in self.sources:
            for outcome, count in source.counts().items():
                records.add_metric([source.name, outcome], count)
        yield records
