"""``PodTracker``: follows one label selector's pods in one namespace from a background watch, so
a test sees every pod that ever existed (not only those a poll happened to catch) and can act
within milliseconds of a change (test harness, not product code)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from e2e.hostrunner.kube import KubeClient


@dataclass(frozen=True)
class PodCounts:
    """What the tracker knows at one moment."""

    live: frozenset[str]
    """Pods that exist and are not being deleted."""
    created: tuple[str, ...]
    """Every pod seen since the tracker started, in the order first seen."""
    deleted: frozenset[str]
    """Pods seen being deleted (deletionTimestamp) or gone."""
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The last version of every pod seen, by name."""


class PodTracker:
    """Pods matching ``label_selector`` in ``namespace``, kept up to date by a watch thread."""

    def __init__(self, kubeconfig: Path, namespace: str, label_selector: str) -> None:
        self._client = KubeClient(kubeconfig)
        self._namespace = namespace
        self._selector = label_selector
        self._changed = threading.Condition()
        self._objects: dict[str, dict[str, Any]] = {}
        self._order: list[str] = []
        self._deleted: set[str] = set()
        self._stop = threading.Event()
        self._synced = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pod-tracker", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> PodTracker:
        self._thread.start()
        if not self._synced.wait(30):
            self.__exit__(None, None, None)
            raise AssertionError(f"the pod tracker could not list pods: {self._error!r}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._client.close_streams()
        self._thread.join(timeout=10)

    # -- reading -----------------------------------------------------------------------------

    def counts(self) -> PodCounts:
        with self._changed:
            return self._snapshot()

    def wait_until(
        self, predicate: Callable[[PodCounts], bool], *, timeout: float, what: str
    ) -> PodCounts:
        """Block until ``predicate`` holds for the pods (checked at every change)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                snapshot = self._snapshot()
                if predicate(snapshot):
                    return snapshot
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out after {timeout:.0f}s waiting for {what} "
                        f"(live {len(snapshot.live)}, created {len(snapshot.created)}, "
                        f"deleted {len(snapshot.deleted)}; watch error {self._error!r})"
                    )
                self._changed.wait(min(left, 1.0))

    def _snapshot(self) -> PodCounts:
        live = frozenset(
            name
            for name, pod in self._objects.items()
            if name not in self._deleted and not pod["metadata"].get("deletionTimestamp")
        )
        return PodCounts(
            live=live,
            created=tuple(self._order),
            deleted=frozenset(self._deleted),
            objects=dict(self._objects),
        )

    # -- the watch thread --------------------------------------------------------------------

    def _record(self, pod: dict[str, Any], *, gone: bool = False) -> None:
        name = str(pod["metadata"]["name"])
        if name not in self._objects:
            self._order.append(name)
        self._objects[name] = pod
        if gone or pod["metadata"].get("deletionTimestamp"):
            self._deleted.add(name)

    def _relist(self) -> str:
        listed = self._client.list_pods(self._namespace, self._selector)
        with self._changed:
            present = set()
            for pod in listed.get("items", []):
                present.add(pod["metadata"]["name"])
                self._record(pod)
            for name in set(self._objects) - present:
                self._deleted.add(name)
            self._changed.notify_all()
        self._synced.set()
        return str(listed["metadata"]["resourceVersion"])

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                version = self._relist()
                for event in self._client.watch_pods(self._namespace, self._selector, version):
                    if self._stop.is_set():
                        return
                    kind, pod = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        break  # e.g. 410 Gone: relist
                    if kind not in ("ADDED", "MODIFIED", "DELETED"):
                        continue  # bookmarks
                    with self._changed:
                        self._record(pod, gone=kind == "DELETED")
                        self._changed.notify_all()
            except Exception as error:  # the watch breaks: note it, relist
                self._error = error
                if self._stop.is_set():
                    return
                with contextlib.suppress(Exception):
                    self._stop.wait(0.5)
