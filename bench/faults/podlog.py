"""Every worker pod of a pool as the apiserver showed it, from one watch: when each pod was
first seen, when it became Running, when its deletion began and in which phase, and how many
pods were live (not finished, not being deleted) at every change."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.podwatch import PodTracker

FINISHED = ("Succeeded", "Failed")


@dataclass
class PodLife:
    name: str
    uid: str
    created: float
    """Local time the watch first saw it."""
    running: float | None = None
    deleted: float | None = None
    """Local time its deletion was first seen (deletionTimestamp, or gone)."""
    phase_at_deletion: str = ""
    owner_uids: tuple[str, ...] = ()


class PodLog(PodTracker):
    """A :class:`PodTracker` that also keeps each pod's life and the live count over time."""

    def __init__(self, kubeconfig: Path, namespace: str, label_selector: str) -> None:
        super().__init__(kubeconfig, namespace, label_selector)
        self.lives: dict[str, PodLife] = {}
        self.live_series: list[tuple[float, int]] = []
        self._live: set[str] = set()

    def _record(self, pod: dict[str, Any], *, gone: bool = False) -> None:
        super()._record(pod, gone=gone)
        now = time.time()
        meta, status = pod["metadata"], pod.get("status") or {}
        name, phase = str(meta["name"]), str(status.get("phase") or "Pending")
        life = self.lives.get(name)
        if life is None or life.uid != meta.get("uid"):
            owners = tuple(str(o.get("uid")) for o in meta.get("ownerReferences") or [])
            life = self.lives[name] = PodLife(name, str(meta.get("uid")), now, owner_uids=owners)
        if phase == "Running" and life.running is None:
            life.running = now
        ending = gone or bool(meta.get("deletionTimestamp"))
        if ending and life.deleted is None:
            life.deleted, life.phase_at_deletion = now, phase
        if ending or phase in FINISHED:
            self._live.discard(name)
        else:
            self._live.add(name)
        if not self.live_series or self.live_series[-1][1] != len(self._live):
            self.live_series.append((now, len(self._live)))

    def _relist(self) -> str:
        version = super()._relist()
        now = time.time()
        with self._changed:
            for name in self._deleted:  # gone while the watch was down
                life = self.lives.get(name)
                if life is not None and life.deleted is None:
                    life.deleted, life.phase_at_deletion = now, "gone"
                self._live.discard(name)
        return version

    def live_count(self) -> int:
        with self._changed:
            return len(self._live)

    def peak(self, since: float = 0.0, until: float | None = None) -> int:
        """Most pods live at once between ``since`` and ``until`` (local times)."""
        with self._changed:
            series = list(self.live_series)
        before = [n for t, n in series if t < since]
        inside = [n for t, n in series if since <= t <= (until or float("inf"))]
        return max([*before[-1:], *inside, 0])

    def created_between(self, since: float, until: float | None = None) -> list[PodLife]:
        with self._changed:
            return [
                life
                for life in self.lives.values()
                if since <= life.created <= (until or float("inf"))
            ]

    def snapshot(self) -> list[PodLife]:
        with self._changed:
            return list(self.lives.values())
