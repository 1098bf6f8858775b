"""The operator's worker pods in memory, from one label-selected watch per namespace, so that a
pool's pass reads its pods without a request to the apiserver.

A namespace's watch starts when a pool there first asks for its pods, and stops when its last
pool is forgotten. It lists the pods carrying the pool label once, then follows a watch from
that list's resource version (bookmarks keep the version fresh; a 410 Gone or any failure
lists again after a short wait). Each pod is kept as its ``PodView``, made once per change.

Read-your-writes: the operator's own pod writes (create, delete, metadata patch, resize) offer
the apiserver's answer here at once (``offer``), so the next pass counts a pod it created a
moment ago even before the watch delivers it. A copy replaces the one held only when its
resource version is newer (``k8s.versions``), and a deleted pod is not brought back by a copy
from before its deletion, whether a late answer or a watch event that lags the operator's own
delete (a short memory of deleted names, each with the newest resource version known when it
went). Until a namespace's first list is in,
``pods`` answers None and the caller lists from the apiserver itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes.watch.watch import iter_resp_lines

from workqueue_operator.k8s.labels import POOL_LABEL
from workqueue_operator.k8s.observe import pod_view
from workqueue_operator.k8s.versions import (
    is_newer_version,
    resource_version,
    revision,
    version_number,
)
from workqueue_operator.scaling import PodView

log = logging.getLogger(__name__)

WATCH_TIMEOUT_S = 300
"""How long one watch request lasts before it is renewed (from the last version seen)."""
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0
TOMBSTONES = 10_000
"""Names of deleted pods remembered per namespace (an older copy does not bring them back)."""

Lister = Callable[..., Any]
"""``CoreV1Api.list_namespaced_pod``: called with ``_preload_content=False``."""


@dataclass
class _Held:
    version: str
    """Only the pod's metadata.resourceVersion: the pod itself is not kept, its view is enough."""
    view: PodView
    pool: str


@dataclass
class _Namespace:
    """One namespace's pods and its watch."""

    pools: set[str] = field(default_factory=set)
    pods: dict[str, _Held] = field(default_factory=dict)
    by_pool: dict[str, dict[str, _Held]] = field(default_factory=dict)
    """The same pods by pool, then name (a pass reads its pool's without going through all)."""
    deleted: OrderedDict[str, int] = field(default_factory=OrderedDict)
    """Deleted pods' names, each with the newest resource version known when it went."""
    newest: int = 0
    """The newest resource version seen in this namespace (lists, events, answers)."""
    synced: bool = False
    changes: dict[str, int] = field(default_factory=dict)
    """A counter per pool, moved by every change to its pods."""
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    response: Any = None


def _pool_of(pod: Mapping[str, Any]) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get(POOL_LABEL, ""))


def _name_of(pod: Mapping[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("name", ""))


class PodCache:
    """Worker pods by namespace and pool (see the module docstring). Thread-safe."""

    def __init__(self, list_pods: Lister) -> None:
        self._list = list_pods
        self._lock = threading.Lock()
        self._namespaces: dict[str, _Namespace] = {}

    # --- what passes read ----------------------------------------------------------------
    def pods(self, namespace: str, pool: str) -> list[PodView] | None:
        """The pool's pods (by name), or None while the namespace's first list is not in (the
        namespace's watch starts on the first call)."""
        with self._lock:
            space = self._namespaces.get(namespace)
            if space is None:
                space = self._namespaces[namespace] = _Namespace()
                self._start(namespace, space)
            space.pools.add(pool)
            if not space.synced:
                return None
            return [h.view for _, h in sorted(space.by_pool.get(pool, {}).items())]

    def changes(self, namespace: str, pool: str) -> int:
        """A number that moves whenever the pool's pods change."""
        with self._lock:
            space = self._namespaces.get(namespace)
            return 0 if space is None else space.changes.get(pool, 0)

    def forget_pool(self, namespace: str, pool: str) -> None:
        """The pool is gone: stop the namespace's watch when it was the last one there."""
        with self._lock:
            space = self._namespaces.get(namespace)
            if space is None:
                return
            space.pools.discard(pool)
            if space.pools:
                return
            del self._namespaces[namespace]
        self._halt(space)

    def stop(self) -> None:
        with self._lock:
            spaces = list(self._namespaces.values())
            self._namespaces.clear()
        for space in spaces:
            self._halt(space)

    # --- the operator's own writes ---------------------------------------------------------
    def offer(self, namespace: str, pod: Mapping[str, Any]) -> None:
        """A pod as the apiserver answered one of the operator's writes."""
        if pod.get("kind") not in (None, "Pod") or not _name_of(pod):
            return
        with self._lock:
            space = self._namespaces.get(namespace)
            if space is not None:
                self._put(space, pod)

    def gone(self, namespace: str, name: str) -> None:
        """A pod the apiserver says does not exist (a delete answered 404, or at once)."""
        with self._lock:
            space = self._namespaces.get(namespace)
            if space is not None:
                self._drop(space, name)

    # --- inside, under the lock ------------------------------------------------------------
    def _put(self, space: _Namespace, pod: Mapping[str, Any]) -> None:
        name = _name_of(pod)
        held = space.pods.get(name)
        version = revision(pod)
        if version is not None:
            space.newest = max(space.newest, version)
        went = space.deleted.get(name)
        if held is None and went is not None and (version is None or version <= went):
            return  # a copy from before the pod was deleted
        if held is not None and not is_newer_version(resource_version(pod), held.version):
            return
        pool = _pool_of(pod)
        if held is not None and held.pool != pool:
            space.by_pool[held.pool].pop(name, None)
            space.changes[held.pool] = space.changes.get(held.pool, 0) + 1
        space.pods[name] = space.by_pool.setdefault(pool, {})[name] = _Held(
            resource_version(pod), pod_view(pod), pool
        )
        space.changes[pool] = space.changes.get(pool, 0) + 1

    def _drop(self, space: _Namespace, name: str, version: int | None = None) -> None:
        held = space.pods.pop(name, None)
        space.newest = max(space.newest, version or 0)
        space.deleted[name] = space.newest
        space.deleted.move_to_end(name)
        while len(space.deleted) > TOMBSTONES:
            space.deleted.popitem(last=False)
        if held is not None:
            space.by_pool[held.pool].pop(name, None)
            space.changes[held.pool] = space.changes.get(held.pool, 0) + 1

    # --- the watch -------------------------------------------------------------------------
    def _start(self, namespace: str, space: _Namespace) -> None:
        space.thread = threading.Thread(
            target=self._run, args=(namespace, space), name=f"pods-{namespace}", daemon=True
        )
        space.thread.start()

    def _halt(self, space: _Namespace) -> None:
        space.stop.set()
        response = space.response
        if response is not None:
            with contextlib.suppress(Exception):  # a stream that may be closed already
                response.shutdown()  # wakes the thread blocked reading it

    def _run(self, namespace: str, space: _Namespace) -> None:
        version: str | None = None
        retry = RETRY_FIRST_S
        while not space.stop.is_set():
            try:
                if version is None:
                    version = self._relist(namespace, space)
                version = self._follow(namespace, space, version)
                retry = RETRY_FIRST_S
            except Exception as error:  # the watch must outlive any failure
                if space.stop.is_set():
                    return
                log.warning(
                    f"pod watch in {namespace} failed, listing again in {retry:g}s: {error}"
                )
                version = None
                space.stop.wait(retry)
                retry = min(retry * 2, RETRY_MAX_S)

    def _relist(self, namespace: str, space: _Namespace) -> str:
        response = self._list(namespace, label_selector=POOL_LABEL, _preload_content=False)
        try:
            listing = json.loads(response.data)
        finally:
            response.release_conn()
        version: str = listing["metadata"]["resourceVersion"]
        with self._lock:
            fresh = {_name_of(p): p for p in listing.get("items") or []}
            # A pod missing from the list is gone, unless the copy held is newer than the list
            # (the operator made it while the list was on its way: the watch will bring it).
            for name in [n for n in space.pods if n not in fresh]:
                if not is_newer_version(space.pods[name].version, version):
                    self._drop(space, name)
            for pod in fresh.values():
                self._put(space, pod)
            space.synced = True
            space.newest = max(space.newest, version_number(version) or 0)
        return version

    def _follow(self, namespace: str, space: _Namespace, version: str) -> str | None:
        """Follow one watch request; the last version seen, or None to list again."""
        response = self._list(
            namespace,
            label_selector=POOL_LABEL,
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=WATCH_TIMEOUT_S,
            _preload_content=False,
            _request_timeout=(10, WATCH_TIMEOUT_S + 30),
        )
        space.response = response
        try:
            for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                if space.stop.is_set():
                    return version
                if not line:
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    return None  # 410 Gone (the version is too old) and the like
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind == "BOOKMARK":
                    continue
                with self._lock:
                    if kind == "DELETED":
                        self._drop(space, _name_of(obj), revision(obj))
                    else:
                        self._put(space, obj)
        finally:
            space.response = None
            response.release_conn()
        return version
