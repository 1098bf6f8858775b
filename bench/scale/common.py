"""What both systems' phases share: a pod watch that counts only worker pods, the size's result,
the node set, waits."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.bench_scaling import Kube, PodWatch, wait_until
from bench.scale.infra import Phase
from kubernetes.client.exceptions import ApiException


class WorkerPodWatch(PodWatch):
    """``PodWatch`` counting only the pods ``keep`` accepts (worker pods, not a peer's
    scheduler pods; one pool's pods for the reaction rounds)."""

    def __init__(self, core: Any, namespace: str, keep: Callable[[dict[str, Any]], bool]) -> None:
        super().__init__(core, namespace)
        self.keep = keep

    def _record(self, kind: str, obj: dict[str, Any], received: float) -> None:
        if self.keep(obj):
            super()._record(kind, obj, received)

    def _list(self) -> str:
        raw = self._core.list_namespaced_pod(self.namespace, _preload_content=False)
        listing = json.loads(raw.data)
        with self._lock:
            self._live = {i["metadata"]["name"] for i in listing["items"] if self.keep(i)}
        self._ready.set()
        version: str = listing["metadata"]["resourceVersion"]
        return version


def labelled(key: str, value: str | None = None) -> Callable[[dict[str, Any]], bool]:
    def keep(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return key in labels and (value is None or labels[key] == value)

    return keep


@dataclass
class Ramp:
    pods: int
    all_exist_s: float | None = None
    all_running_s: float | None = None


@dataclass
class SizeResult:
    """One system at one size."""

    system: str
    pools: int
    pods_per_pool: int
    phases: dict[str, Phase] = field(default_factory=dict)
    ramp: Ramp | None = None
    reaction_s: list[float | None] = field(default_factory=list)
    objects_per_worker: float | None = None
    notes: list[str] = field(default_factory=list)


def wait_pods(watch: PodWatch, count: int, t0: float, timeout: float) -> Ramp:
    """Until ``count`` pods exist, then until they are Running (monotonic times from t0)."""
    ramp = Ramp(pods=count)
    last = watch.nth_added(count, timeout)
    if last is not None:
        ramp.all_exist_s = last - t0
        running = watch.nth_running(count, max(1.0, t0 + timeout - time.monotonic()))
        ramp.all_running_s = None if running is None else running - t0
    return ramp


def delete_namespace_pods(kube: Kube, namespace: str, timeout: float = 600) -> None:
    """Every pod of the namespace gone (collection deletes), bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ApiException):
            kube.core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
        if not kube.core.list_namespaced_pod(namespace, limit=1).items:
            return
        time.sleep(2)


def remove_namespace(kube: Kube, namespace: str) -> None:
    with contextlib.suppress(ApiException):
        kube.core.delete_namespace(namespace)


__all__ = ["Ramp", "SizeResult", "WorkerPodWatch", "labelled", "wait_pods", "wait_until"]
