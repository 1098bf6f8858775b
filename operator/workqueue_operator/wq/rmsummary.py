"""resource_monitor summaries (JSON, values as ``[value, "unit"]``) into ``Sample``s.

A ``.summary`` file holds one pretty-printed object; Work Queue's monitor directory holds
``wq-PID.summaries`` with one compact object per line: first the manager's own summary
(``"type": "work_queue"``, skipped), then one per task attempt with its ``category``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workqueue_operator.values.samples import Sample, TaskResult
from workqueue_operator.wq import cctools_json
from workqueue_operator.wq.measurements import MeasurementError, sample_from_measured

log = logging.getLogger(__name__)

DEFAULT_CATEGORY = "default"
_EXIT_TYPES = {"normal": TaskResult.SUCCESS, "limits": TaskResult.RESOURCE_EXHAUSTION}


class MalformedSummaryError(ValueError):
    """Text that is not a resource_monitor summary."""


def summary_result(summary: Mapping[str, Any]) -> TaskResult:
    """``exit_type`` normal -> success, limits -> resource exhaustion, else other."""
    if summary.get("limits_exceeded"):
        return TaskResult.RESOURCE_EXHAUSTION
    return _EXIT_TYPES.get(str(summary.get("exit_type", "normal")), TaskResult.OTHER)


def is_task_summary(summary: Mapping[str, Any]) -> bool:
    """False for the Work Queue manager's own summary, which describes the manager process."""
    return summary.get("type") not in {"work_queue", "wq_master", "wq_manager"}


def sample_from_summary(
    summary: Mapping[str, Any], *, default_category: str = DEFAULT_CATEGORY
) -> Sample | None:
    """The ``Sample`` of a task summary; None for non-task summaries or missing figures.

    Raises ``MalformedSummaryError`` for unusable values.
    """
    if not is_task_summary(summary):
        return None
    category = summary.get("category")
    task_id = summary.get("taskid", summary.get("task_id", ""))
    try:
        return sample_from_measured(
            summary,
            category=str(category) if category else default_category,
            result=summary_result(summary),
            task_id=str(task_id),
        )
    except MeasurementError as exc:
        raise MalformedSummaryError(str(exc)) from exc


def iter_objects(text: str) -> Iterator[dict[str, Any]]:
    """The JSON objects in ``text`` (one, or several concatenated or one per line).

    Raises ``MalformedSummaryError`` at the first thing that is not a JSON object.
    """
    repaired = cctools_json.repair(text)
    position, length = 0, len(repaired)
    while True:
        while position < length and repaired[position].isspace():
            position += 1
        if position >= length:
            return
        try:
            value, position = cctools_json.decode_prefix(repaired, position)
        except json.JSONDecodeError as exc:
            raise MalformedSummaryError(str(exc)) from exc
        if not isinstance(value, dict):
            raise MalformedSummaryError(f"expected a JSON object, got {type(value).__name__}")
        yield value


@dataclass
class SummaryStats:
    objects: int = 0
    samples: int = 0
    skipped: int = 0  # manager summaries and objects without memory/wall time
    malformed: int = 0


class SummaryReader:
    """Counts what it reads; never raises on bad input."""

    def __init__(self, default_category: str = DEFAULT_CATEGORY) -> None:
        self.default_category = default_category
        self.stats = SummaryStats()

    def read_text(self, text: str) -> list[Sample]:
        samples: list[Sample] = []
        try:
            for summary in iter_objects(text):
                sample = self._one(summary)
                if sample is not None:
                    samples.append(sample)
        except MalformedSummaryError as exc:
            self._malformed(str(exc))
        return samples

    def read_file(self, path: Path) -> list[Sample]:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            self._malformed(f"{path}: {exc}")
            return []
        return self.read_text(text)

    def _one(self, summary: dict[str, Any]) -> Sample | None:
        self.stats.objects += 1
        try:
            sample = sample_from_summary(summary, default_category=self.default_category)
        except MalformedSummaryError as exc:
            self._malformed(str(exc))
            return None
        if sample is None:
            self.stats.skipped += 1
        else:
            self.stats.samples += 1
        return sample

    def _malformed(self, reason: str) -> None:
        self.stats.malformed += 1
        log.debug("malformed resource_monitor summary", extra={"reason": reason[:200]})
