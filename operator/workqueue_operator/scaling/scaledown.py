"""Which pods a scale-down may remove, and in which order.

Safe first: a Pending pod has no worker (newest first: it is furthest from starting); then a
Running pod whose worker never connected within the grace period (it serves nothing); then
idle workers that have been idle at least the idle delay (longest idle first). Never a busy
worker, never a pod whose worker is still within its grace period to connect, never a pod in
phase Unknown (its node is unreachable; the worker may still be running tasks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from workqueue_operator.scaling.inputs import PodPhase, PodView
from workqueue_operator.scaling.workers import WorkerState, worker_host_key


class Removable(StrEnum):
    """Why a pod may be removed (in order of preference)."""

    PENDING = "pending"
    NEVER_CONNECTED = "not connected"
    IDLE = "idle"


class Kept(StrEnum):
    """Why a surplus pod may not be removed."""

    BUSY = "busy"
    IDLE_TOO_SHORT = "idle too short"
    CONNECTING = "not connected yet"
    UNKNOWN_PHASE = "phase Unknown"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A pod that may be removed; lower ``rank`` goes first."""

    name: str
    why: Removable
    rank: tuple[int, float, str]
    seconds: float
    """How long it has been idle (or unconnected); 0 for pending pods."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A pod that must stay, and why."""

    name: str
    why: Kept


@dataclass(frozen=True, slots=True)
class RemovalRules:
    """The delays a removal must respect."""

    idle_delay_seconds: float
    connect_grace_seconds: float


def judge_removal(
    pod: PodView,
    worker: WorkerState | None,
    idle_since: float | None,
    now: float,
    rules: RemovalRules,
) -> Candidate | Refusal:
    """Whether one live pod may be removed; a pod whose worker is connected is judged by the
    worker, whatever the (possibly stale) pod phase says."""
    if worker is not None:
        if worker.busy:
            return Refusal(pod.name, Kept.BUSY)
        if idle_since is None or now - idle_since < rules.idle_delay_seconds:
            return Refusal(pod.name, Kept.IDLE_TOO_SHORT)
        return Candidate(pod.name, Removable.IDLE, (2, idle_since, pod.name), now - idle_since)
    if pod.phase == PodPhase.PENDING:
        return Candidate(pod.name, Removable.PENDING, (0, -pod.created_at, pod.name), 0.0)
    if pod.phase == PodPhase.RUNNING:
        since = pod.started_at if pod.started_at is not None else pod.created_at
        if now - since >= rules.connect_grace_seconds:
            return Candidate(pod.name, Removable.NEVER_CONNECTED, (1, since, pod.name), now - since)
        return Refusal(pod.name, Kept.CONNECTING)
    return Refusal(pod.name, Kept.UNKNOWN_PHASE)


@dataclass(frozen=True, slots=True)
class Removal:
    """The pods chosen for removal from one group, and those that had to stay."""

    chosen: tuple[Candidate, ...]
    refused: tuple[Refusal, ...]


def choose_removals(
    pods: Iterable[PodView],
    count: int,
    *,
    workers: Mapping[str, WorkerState],
    idle_since: Mapping[str, float],
    now: float,
    rules: RemovalRules,
) -> Removal:
    """Up to ``count`` pods of ``pods`` to remove, best first; the refused are all those that
    may not be removed (whether or not enough others were found)."""
    candidates: list[Candidate] = []
    refused: list[Refusal] = []
    for pod in pods:
        key = worker_host_key(pod.name)
        verdict = judge_removal(pod, workers.get(key), idle_since.get(key), now, rules)
        if isinstance(verdict, Candidate):
            candidates.append(verdict)
        else:
            refused.append(verdict)
    candidates.sort(key=lambda candidate: candidate.rank)
    refused.sort(key=lambda refusal: refusal.name)
    return Removal(tuple(candidates[: max(0, count)]), tuple(refused))
