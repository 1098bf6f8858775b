"""Connected workers, keyed by the pod they run in, and how long each has been idle."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from workqueue_operator.scaling.inputs import WorkerView


def worker_host_key(hostname: str) -> str:
    """The pod name a worker's reported hostname stands for: its first DNS label, lowercased.

    The worker reports its hostname after a reverse lookup, which in a pod may add a domain
    (``wq-pool-c4m8192d16384-x2k9f.pods.example``); the pod name never contains a dot.
    """
    return hostname.split(".", 1)[0].lower()


@dataclass(frozen=True, slots=True)
class WorkerState:
    """All connections of one host key merged: busy if any of them is."""

    key: str
    connections: int
    tasks_running: int
    busy: bool


def workers_by_host(workers: Iterable[WorkerView]) -> dict[str, WorkerState]:
    """Connected workers by host key. A host with several connections (a worker that
    reconnected before the manager dropped its old connection) is busy if any of them is."""
    merged: dict[str, WorkerState] = {}
    for worker in workers:
        key = worker_host_key(worker.hostname)
        before = merged.get(key)
        merged[key] = WorkerState(
            key=key,
            connections=(before.connections if before else 0) + 1,
            tasks_running=(before.tasks_running if before else 0) + max(0, worker.tasks_running),
            busy=(before.busy if before else False) or worker.busy,
        )
    return merged


def track_idle_since(
    previous: Mapping[str, float], workers: Iterable[WorkerView], now: float
) -> dict[str, float]:
    """When each connected worker became idle, carried from one poll to the next.

    An idle worker keeps its earlier time (or gets ``now`` when it was not idle before); a busy
    or disconnected worker is dropped, so its idle time starts again from zero. Keys are host
    keys (:func:`worker_host_key`). Pure: returns a new dict, sorted by key.
    """
    return {
        key: previous.get(key, now)
        for key, state in sorted(workers_by_host(workers).items())
        if not state.busy
    }
