"""A WorkQueueManager's status from one poll of its status port, and the Events it is worth.
Pure functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from workqueue_operator.api.acceptance import Event, EventType
from workqueue_operator.api.common import merge_condition, status_changes
from workqueue_operator.api.manager import CategoryFigures, QueueFigures
from workqueue_operator.wq.status_models import CategoryStatus, QueueStatus

REACHABLE = "Reachable"
UNREACHABLE = "Unreachable"
"""The Reachable condition's reason when the manager's port does not answer."""
POD_NOT_RUNNING = "ManagerPodNotRunning"
"""The reason when an InCluster manager does not answer and its pod says why it will not run."""
RUNNING_PHASE = "Running"
UNREACHABLE_PHASE = "Unreachable"


@dataclass(frozen=True)
class ManagerPoll:
    """What one poll found: the queue (None when the manager did not answer) and why not."""

    at: datetime
    address: str | None
    queue: QueueStatus | None = None
    categories: Sequence[CategoryStatus] = field(default_factory=tuple)
    reason: str = "StatusAnswered"
    message: str = ""

    @property
    def reachable(self) -> bool:
        return self.queue is not None

    def because_of_pod(self, trouble: str) -> ManagerPoll:
        """This unanswered poll, said by the manager's pod (``trouble``: why it does not run, as
        the pod says it; '' leaves the poll as it is)."""
        if not trouble or self.reachable:
            return self
        return replace(self, reason=POD_NOT_RUNNING, message=f"{trouble} ({self.describe()})")

    def describe(self) -> str:
        """The Reachable condition's message."""
        if self.message:
            return self.message
        if self.reachable:
            return f"the manager at {self.address} answers status queries"
        return f"the manager at {self.address} does not answer"


def queue_figures(queue: QueueStatus) -> QueueFigures:
    return QueueFigures(
        tasks_waiting=queue.tasks_waiting,
        tasks_running=queue.tasks_running,
        tasks_done=queue.tasks_done,
        tasks_failed=queue.tasks_failed,
        workers_connected=queue.workers_connected,
        workers_busy=queue.workers_busy,
        workers_idle=queue.workers_idle,
    )


def category_figures(categories: Sequence[CategoryStatus]) -> list[CategoryFigures]:
    return [
        CategoryFigures(
            category=row.category,
            tasks_waiting=row.tasks_waiting,
            tasks_running=row.tasks_running,
            tasks_done=row.tasks_done,
        )
        for row in categories
        if not row.is_whole_queue
    ]


def poll_status(
    current: Mapping[str, Any], poll: ManagerPoll, generation: int | None
) -> tuple[dict[str, Any], list[Event]]:
    """The status fields a poll sets, and an Event when reachability changed (its status or
    reason; a new message alone is written to the condition without an Event).

    An unreachable manager keeps its last queue figures (they say what was last known) and
    gets phase Unreachable. ``lastPollTime`` moves only with a poll that changes something
    else, so that a manager whose queue stands still costs no status write.
    """
    # One outage is one Event: a manager going away fails one poll with "Connection reset by
    # peer" and the next with "Connect call failed".
    conditions, transition = merge_condition(
        current,
        type_=REACHABLE,
        ok=poll.reachable,
        reason=poll.reason,
        message=poll.describe(),
        generation=generation,
        message_is_news=False,
    )
    fields: dict[str, Any] = {
        "conditions": conditions,
        "phase": RUNNING_PHASE if poll.reachable else UNREACHABLE_PHASE,
    }
    if poll.address is not None:
        fields["address"] = poll.address
    if poll.queue is not None:
        fields["queue"] = queue_figures(poll.queue).to_api()
        fields["categories"] = [c.to_api() for c in category_figures(poll.categories)]
    if any(current.get(key) != value for key, value in fields.items()):
        fields["lastPollTime"] = poll.at.isoformat().replace("+00:00", "Z")
    events = []
    if transition:
        kind = EventType.NORMAL if poll.reachable else EventType.WARNING
        events.append(Event(kind, poll.reason, poll.describe()))
    return fields, events


def is_quiet_poll(
    current: Mapping[str, Any], poll: ManagerPoll, fields: Mapping[str, Any], events: int
) -> bool:
    """Whether a pass changed nothing: the manager answered, no Event, and every status field
    the poll sets equal to the stored one (``values.cadence`` then backs off the next pass)."""
    return poll.reachable and events == 0 and not status_changes(current, fields)
