"""Which pod each worker is, from the manager itself: its ``worker_status`` names every
connected worker's hostname (the pod's name) and address, and the tasks it runs. Polled in the
background, so that a worker seen once is known after it is gone."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from workqueue_operator.api.common import Framework
from workqueue_operator.wq.status import StatusClient, StatusError

POLL_SECONDS = 0.5


class WorkerRoster:
    """address:port -> hostname of every worker the manager has reported."""

    def __init__(self, address: str, framework: Framework, *, password: str | None = None) -> None:
        self._client = StatusClient.for_address(
            address, framework=framework, password=password, timeout=5.0
        )
        self._lock = threading.Lock()
        self._hosts: dict[str, str] = {}
        self._busy_seen: dict[str, float] = {}
        self._latest: dict[str, bool] = {}
        self.polls = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-roster", daemon=True)

    def start(self) -> WorkerRoster:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    def hostname(self, address: str) -> str | None:
        with self._lock:
            return self._hosts.get(address)

    def hosts(self) -> dict[str, str]:
        with self._lock:
            return dict(self._hosts)

    def last_busy(self, hostname: str) -> float | None:
        """When the manager last reported this worker running a task (local time)."""
        with self._lock:
            return self._busy_seen.get(hostname)

    def latest(self) -> dict[str, bool]:
        """hostname -> busy, as the manager's last answer said."""
        with self._lock:
            return dict(self._latest)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                workers = asyncio.run(self._client.worker_status())
            except (StatusError, OSError):
                self.failures += 1
            else:
                self.polls += 1
                now = time.time()
                with self._lock:
                    self._latest = {
                        w.hostname: bool(w.tasks_running or w.current_task_ids) for w in workers
                    }
                    for worker in workers:
                        if worker.address and worker.hostname:
                            self._hosts[worker.address] = worker.hostname
                        if worker.tasks_running or worker.current_task_ids:
                            self._busy_seen[worker.hostname] = now
            with contextlib.suppress(Exception):
                self._stop.wait(POLL_SECONDS)
