"""The operator's own objects (WorkQueueManagers, WorkerPools, PonchoEnvs) as last seen: from
the watch events kopf delivers and from the answers to the operator's own status patches, so
that a pass reads its object, and a pool its manager and PonchoEnv, without a request.

A copy replaces the one held only when its resource version is newer (``k8s.versions``): a
watch event that lags a patch the operator already made does not bring the old status back,
which would cost a needless patch on the next pass.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from workqueue_operator.k8s.versions import is_newer

Key = tuple[str, str, str]
"""(plural, namespace, name)."""


class ObjectStore:
    """The last copy of each object; thread-safe (passes read it from worker threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[Key, Mapping[str, Any]] = {}

    def offer(self, plural: str, namespace: str, obj: Mapping[str, Any]) -> None:
        """A copy from a watch event or a write's answer; kept when it is newer."""
        name = str((obj.get("metadata") or {}).get("name", ""))
        key = (plural, namespace, name)
        with self._lock:
            if is_newer(obj, self._objects.get(key)):
                self._objects[key] = _deep(obj)

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A copy of the object (the caller may change it), or None when none is held."""
        with self._lock:
            found = self._objects.get((plural, namespace, name))
        return None if found is None else _copy(found)

    def forget(self, plural: str, namespace: str, name: str) -> None:
        """The object was deleted."""
        with self._lock:
            self._objects.pop((plural, namespace, name), None)


def _copy(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy deep enough for a pass: metadata, spec and status are new dicts (a pass reads
    them, and merges into its own copy of the status)."""
    copied = dict(obj)
    for part in ("metadata", "spec", "status"):
        value = copied.get(part)
        if isinstance(value, Mapping):
            copied[part] = _deep(value)
    return copied


def _deep(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep(v) for v in value]
    return value
