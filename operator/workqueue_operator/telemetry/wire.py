"""The JSON form of samples served at ``/v1/samples`` (field names are ``Sample``'s)."""

from __future__ import annotations

from typing import Any

from workqueue_operator.values.samples import Sample, TaskResult
from workqueue_operator.wq.measurements import RM_SAMPLING_INTERVAL_S, is_under_measured

API_VERSION = "v1"


def sample_to_json(sample: Sample) -> dict[str, Any]:
    return {
        "task_id": sample.task_id,
        "category": sample.category,
        "cores": sample.cores,
        "memory_mb": sample.memory_mb,
        "disk_mb": sample.disk_mb,
        "wall_time_s": sample.wall_time_s,
        "result": sample.result.value,
        "timestamp": sample.timestamp,
        "under_measured": is_under_measured(sample),
    }


def sample_from_json(data: dict[str, Any]) -> Sample:
    """Inverse of ``sample_to_json``; raises KeyError/ValueError on bad input."""
    return Sample(
        category=str(data["category"]),
        cores=float(data["cores"]),
        memory_mb=float(data["memory_mb"]),
        disk_mb=float(data["disk_mb"]),
        wall_time_s=float(data["wall_time_s"]),
        result=TaskResult(data.get("result", TaskResult.SUCCESS.value)),
        timestamp=float(data.get("timestamp", 0.0)),
        task_id=str(data.get("task_id", "")),
    )


def category_json(category: str, samples: list[Sample], window: int) -> dict[str, Any]:
    return {
        "category": category,
        "window": window,
        "count": len(samples),
        "under_measured": sum(1 for s in samples if is_under_measured(s)),
        "samples": [sample_to_json(s) for s in samples],
    }


def envelope(categories: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "api_version": API_VERSION,
        "sampling_interval_s": RM_SAMPLING_INTERVAL_S,
        "categories": categories,
    }
