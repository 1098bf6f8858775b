"""The faults themselves: deleting worker pods through the apiserver, SIGKILLing a worker
process on its node (here, the host runner's process for the pod), SIGKILLing the operator.
Each records what it hit, so that the figures can tell the scenario's doing from the
operator's."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from dataclasses import dataclass, field

from e2e.hostrunner import HostRunner
from e2e.hostrunner.procs import children
from tests.harness import Cluster


@dataclass
class Injector:
    cluster: Cluster
    namespace: str
    rng: random.Random = field(default_factory=lambda: random.Random(14))
    deleted: list[str] = field(default_factory=list)
    sigkilled: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    @property
    def hit(self) -> set[str]:
        return set(self.deleted) | set(self.sigkilled)

    @property
    def last(self) -> float | None:
        return self.times[-1] if self.times else None

    def delete_pods(self, names: list[str]) -> None:
        if not names:
            return
        self.cluster.kubectl(
            "delete", "pod", *names, "--wait=false", namespace=self.namespace, check=False
        )
        self.deleted += names
        self.times.append(time.time())

    def sigkill_worker(self, runner: HostRunner, name: str) -> bool:
        """SIGKILL the worker process of pod ``name`` (its container's PID 1), as the node's
        OOM killer or an admin would; True when there was one to kill."""
        info = runner.process(self.namespace, name)
        if info is None or info.state != "running" or info.pid is None:
            return False
        targets = children(info.pid) or [info.pid]
        for pid in targets:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.sigkilled.append(name)
        self.times.append(time.time())
        return True

    def pick(self, names: list[str], fraction: float) -> list[str]:
        """A random ``fraction`` of ``names`` (at least one when there is any)."""
        if not names:
            return []
        count = max(1, round(fraction * len(names)))
        return self.rng.sample(sorted(names), min(count, len(names)))

    def describe(self) -> str:
        parts = []
        if self.deleted:
            parts.append(f"{len(self.deleted)} pods deleted")
        if self.sigkilled:
            parts.append(f"{len(self.sigkilled)} workers SIGKILLed")
        return ", ".join(parts) or "none"
