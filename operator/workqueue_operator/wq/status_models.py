"""Typed views of the manager's status answers, limited to the fields the operator uses.

Unknown fields are ignored and missing counts default to 0, so managers of neighbouring
CCTools versions parse alike. Field names follow the manager's JSON: Work Queue's
``work_queue.c`` (``queue_status``, ``worker_status``, ``task_status``, ``wable_status``) and
TaskVine's ``vine_manager.c`` (``manager_status`` for the queue; the same other three). Where
the two spell a field differently both are read: ``address_port``/``addrport``,
``taskid``/``task_id``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

WHOLE_QUEUE = "whole queue"
_CURRENT_TASK_ID = re.compile(r"^current_task_(\d+)_id$")


class _Status(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class BoundKind(StrEnum):
    """What a category's ``max_*`` string says about the resource."""

    DECLARED = "declared"  # "300": the category's declared maximum (or the largest worker's)
    MEASURED = "measured"  # "~259": the largest value measured so far (monitoring on)
    EXCEEDED = "exceeded"  # ">258": a task went over a limit; more than this is needed
    UNKNOWN = "unknown"  # "na" or anything unrecognised


class ResourceBound(_Status):
    """A ``max_cores``/``max_memory``/``max_disk``/``max_gpus`` figure of ``wable_status``."""

    value: float | None = None
    kind: BoundKind = BoundKind.UNKNOWN
    raw: str = ""

    @classmethod
    def parse(cls, raw: Any) -> ResourceBound:
        text = str(raw).strip() if raw is not None else ""
        kind = BoundKind.DECLARED
        number = text
        if text[:1] == "~":
            kind, number = BoundKind.MEASURED, text[1:]
        elif text[:1] == ">":
            kind, number = BoundKind.EXCEEDED, text[1:]
        try:
            value = float(number)
        except ValueError:
            return cls(value=None, kind=BoundKind.UNKNOWN, raw=text)
        return cls(value=value, kind=kind, raw=text)


def _bound(value: Any) -> Any:
    if isinstance(value, ResourceBound | dict):
        return value
    return ResourceBound.parse(value)


def _unset_as_none(value: Any) -> Any:
    """The manager reports an undeclared resource as -1."""
    try:
        return None if value is None or float(value) < 0 else value
    except (TypeError, ValueError):
        return None


class CategoryStatus(_Status):
    """A row of ``wable_status`` (also ``queue_status.categories``)."""

    category: str
    tasks_waiting: int = 0
    tasks_running: int = 0
    tasks_on_workers: int = 0
    tasks_dispatched: int = 0
    tasks_done: int = 0
    tasks_failed: int = 0
    tasks_cancelled: int = 0
    workers_able: int = 0
    max_cores: ResourceBound = Field(default_factory=ResourceBound)
    max_memory: ResourceBound = Field(default_factory=ResourceBound)
    max_disk: ResourceBound = Field(default_factory=ResourceBound)
    max_gpus: ResourceBound = Field(default_factory=ResourceBound)

    @field_validator("max_cores", "max_memory", "max_disk", "max_gpus", mode="before")
    @classmethod
    def _parse_bound(cls, value: Any) -> Any:
        return _bound(value)

    @property
    def is_whole_queue(self) -> bool:
        return self.category == WHOLE_QUEUE


class _Resources(_Status):
    """What the queue's, the workers' and each worker's status share: every resource's total
    and the part in use (memory and disk in MB)."""

    cores_total: float = 0
    cores_inuse: float = 0
    memory_total: float = 0
    memory_inuse: float = 0
    disk_total: float = 0
    disk_inuse: float = 0
    gpus_total: float = 0
    gpus_inuse: float = 0


class QueueStatus(_Resources):
    """``queue_status`` (Work Queue) or ``manager_status`` (TaskVine): the manager's queue and
    worker figures."""

    type: str | None = None
    """``wq_master`` (Work Queue) or ``vine_manager`` (TaskVine)."""
    project: str | None = None
    port: int | None = None
    version: str | None = None
    starttime: int | None = None
    tasks_waiting: int = 0
    tasks_running: int = 0
    tasks_on_workers: int = 0
    tasks_with_results: int = 0
    tasks_done: int = 0
    tasks_failed: int = 0
    tasks_cancelled: int = 0
    tasks_submitted: int = 0
    tasks_left: int = 0
    tasks_exhausted_attempts: int = 0
    workers_connected: int = 0
    workers_init: int = 0
    workers_idle: int = 0
    workers_busy: int = 0
    workers_able: int = 0
    workers_joined: int = 0
    workers_removed: int = 0
    workers_lost: int = 0
    workers_idled_out: int = 0
    categories: list[CategoryStatus] = Field(default_factory=list)


class ResourcesStatus(_Resources):
    """``resources_status``: resources of the connected workers and of the queued tasks."""

    project: str | None = None
    tasks_total_cores: float = 0
    tasks_total_memory: float = 0
    tasks_total_disk: float = 0
    tasks_total_gpus: float = 0


class WorkerStatus(_Resources):
    """A row of ``worker_status``."""

    hostname: str = ""
    address: str = Field(default="", validation_alias=AliasChoices("address_port", "addrport"))
    tasks_running: int = Field(default=0, alias="total_tasks_running")
    tasks_complete: int = Field(default=0, alias="total_tasks_complete")
    start_time_us: int | None = Field(default=None, alias="start_time")
    current_task_ids: list[int] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _collect_current_tasks(cls, data: Any) -> Any:
        """``current_task_NNN_id`` fields become ``current_task_ids``."""
        if not isinstance(data, dict) or "current_task_ids" in data:
            return data
        ids = []
        for key, value in data.items():
            match = _CURRENT_TASK_ID.match(key)
            if match:
                ids.append((int(match.group(1)), value))
        return {**data, "current_task_ids": [value for _, value in sorted(ids)]}

    @property
    def is_idle(self) -> bool:
        return self.tasks_running == 0


class TaskStatus(_Status):
    """A row of ``task_status``; resources are None when not set (-1)."""

    task_id: int = Field(validation_alias=AliasChoices("taskid", "task_id"))
    state: str = ""
    category: str | None = None
    tag: str | None = None
    command: str = ""
    host: str | None = None
    address: str | None = Field(
        default=None, validation_alias=AliasChoices("address_port", "addrport")
    )
    cores: float | None = None
    memory: float | None = None
    disk: float | None = None
    gpus: float | None = None
    time_when_submitted_us: int | None = Field(default=None, alias="time_when_submitted")

    @field_validator("cores", "memory", "disk", "gpus", mode="before")
    @classmethod
    def _unset(cls, value: Any) -> Any:
        return _unset_as_none(value)
