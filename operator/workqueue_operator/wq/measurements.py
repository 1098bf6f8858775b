"""resource_monitor values (``[value, "unit"]``) and their conversion into ``Sample``s.

resource_monitor reports memory and disk in "MB" that are mebibytes (it divides the kernel's
kB figures by 1024: a task holding 100 MiB in Python reads 113 "MB", 13 of them the
interpreter), so ``BYTES_PER_MB`` is 2**20. Times come in "s" or, in older logs, "us".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workqueue_operator.values.samples import Sample, TaskResult

BYTES_PER_MB = 1024 * 1024

# resource_monitor samples a task's processes every 5 s by default and Work Queue's built-in
# monitoring cannot change that: a task shorter than this is measured at most once or twice,
# so its memory/disk peaks are lower bounds (a 2 s task holding 200 MB can read 8 MB).
RM_SAMPLING_INTERVAL_S = 5.0

_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_MB = {
    "B": 1.0 / BYTES_PER_MB,
    "kB": 1.0 / 1024,
    "KB": 1.0 / 1024,
    "KiB": 1.0 / 1024,
    "MB": 1.0,
    "MiB": 1.0,
    "GB": 1024.0,
    "GiB": 1024.0,
    "TB": 1024.0 * 1024,
    "TiB": 1024.0 * 1024,
}

_RESULTS = {
    "SUCCESS": TaskResult.SUCCESS,
    "RESOURCE_EXHAUSTION": TaskResult.RESOURCE_EXHAUSTION,
}


class MeasurementError(ValueError):
    """A resource value is not a number, or carries a unit we cannot convert."""


def _number(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise MeasurementError(f"not a number: {raw!r}")
    try:
        return float(raw)
    except ValueError as exc:
        raise MeasurementError(f"not a number: {raw!r}") from exc


def split_value(raw: Any) -> tuple[float, str | None]:
    """``[value, "unit"]`` -> (value, unit); a bare number -> (value, None)."""
    if isinstance(raw, list | tuple):
        if len(raw) == 2 and isinstance(raw[1], str):
            return _number(raw[0]), raw[1]
        if len(raw) == 1:
            return _number(raw[0]), None
        raise MeasurementError(f"not a [value, unit] pair: {raw!r}")
    return _number(raw), None


def seconds(raw: Any, default_unit: str = "s") -> float:
    value, unit = split_value(raw)
    factor = _SECONDS.get(unit or default_unit)
    if factor is None:
        raise MeasurementError(f"unknown time unit {unit!r}")
    return value * factor


def megabytes(raw: Any) -> float:
    value, unit = split_value(raw)
    factor = _MB.get(unit or "MB")
    if factor is None:
        raise MeasurementError(f"unknown size unit {unit!r}")
    return value * factor


def plain(raw: Any) -> float:
    """A unitless figure such as cores (``[2, "cores"]`` -> 2.0)."""
    return split_value(raw)[0]


def task_result(name: str) -> TaskResult:
    """Work Queue's result name (``SUCCESS``, ``RESOURCE_EXHAUSTION``, ...) for sizing."""
    return _RESULTS.get(name.upper(), TaskResult.OTHER)


def is_under_measured(sample: Sample) -> bool:
    """True when the task ran for less than one resource_monitor sampling interval."""
    return sample.wall_time_s < RM_SAMPLING_INTERVAL_S


def sample_from_measured(
    measured: Mapping[str, Any],
    *,
    category: str,
    result: TaskResult = TaskResult.SUCCESS,
    task_id: str = "",
    fallback_timestamp: float = 0.0,
) -> Sample | None:
    """A ``Sample`` from a ``resources_measured`` / summary object, or None if it has none.

    Memory and wall time are required (no sample without them); cores and disk default to 0.
    The timestamp is the measured ``end`` when present. Raises ``MeasurementError`` when a
    value is present but unusable.
    """
    if "memory" not in measured or "wall_time" not in measured:
        return None
    timestamp = fallback_timestamp
    if "end" in measured:
        # Old logs give absolute times in microseconds, newer ones in seconds.
        timestamp = seconds(measured["end"], default_unit="us")
    return Sample(
        category=category,
        cores=plain(measured["cores"]) if "cores" in measured else 0.0,
        memory_mb=megabytes(measured["memory"]),
        disk_mb=megabytes(measured["disk"]) if "disk" in measured else 0.0,
        wall_time_s=seconds(measured["wall_time"]),
        result=result,
        timestamp=timestamp,
        task_id=task_id,
    )
