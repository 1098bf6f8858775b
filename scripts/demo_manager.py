"""The demo's manager: a Work Queue or TaskVine application, as a user would write it with the
``ndcctools`` API and run it on a login node (here: this machine). ``scripts/demo.py`` starts it;
the WorkQueueManager of the demo points at it (``mode: External``) and its WorkerPool's pods
connect to it at the real node's address.

Two categories of tasks, ``small`` and ``big``, each a Python program that takes numpy from the
task's environment (the PonchoEnv the pool's workers run in), holds an array of that many MiB
for HOLD seconds, prints where numpy came from and exits with the array still held
(``os._exit``). Monitoring is on: each task's peak memory is measured and written to the
transactions log, which the telemetry agent beside this program serves to the operator.
resource_monitor samples every 5 s (Work Queue 7.17.1 has no setting for it), and also when a
process it follows exits: it stops the process at ``exit``/``_exit`` and measures it before
letting it go. A Python program that ends normally frees its arrays before that last look (a
500 MiB numpy array held 1 s measured 23 MB here); one that leaves by ``os._exit`` is measured
with its array (523 MB), so a task of ~2 s is measured as exactly as one that outlives a 5 s
sample.

* Round 1: TASKS tasks of each category, declaring nothing (each takes a whole worker).
* Then it waits until the pool has no worker left (the operator removes idle workers).
* Round 2: as many again, each declaring the memory its category measured in round 1 plus
  DECLARE_MARGIN percent (less than the pool's marginPercent, so that a task fits the pod
  shape the operator made for its category, and a big task never fits a small pod).

Standard output: one JSON object a line (``event``: ready, submitted, done, round, idle,
finished), which the demo narrates. It keeps serving (an idle manager) until SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from pathlib import Path
from typing import Any

CATEGORIES = ("small", "big")
DECLARE_MARGIN = 4
"""Percent above the measured peak that round-2 tasks declare (the pool adds marginPercent,
10 in examples/demo.yaml, to the pods of each category)."""


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, "t": round(time.time(), 1), **fields}), flush=True)


def command(mib: int, hold: float) -> str:
    program = (
        "import os, sys, time, numpy as np; "
        f"a = np.ones({mib} << 17); time.sleep({hold}); "
        "print(np.__version__, np.__file__.split('/lib/')[0], sys.prefix); "
        "sys.stdout.flush(); os._exit(0)"  # with the array held: resource_monitor's last look
    )
    return f'python3 -c "{program}"'


class Manager:
    """What differs between ndcctools.work_queue and ndcctools.taskvine, and nothing more."""

    def __init__(self, framework: str, port: int, logs: Path) -> None:
        self.framework = framework
        if framework == "WorkQueue":
            import ndcctools.work_queue as wq  # noqa: PLC0415

            self.api: Any = wq
            q = wq.WorkQueue(port=port)
            q.specify_transactions_log(str(logs / "transactions"))
            q.enable_monitoring(str(logs / "monitor"), True)
            q.specify_keepalive_interval(5)
            q.specify_keepalive_timeout(10)
            self.q = q
            self.transactions = logs / "transactions"
        else:
            import ndcctools.taskvine as vine  # noqa: PLC0415

            self.api = vine
            m = vine.Manager(
                port=port, run_info_path=str(logs), run_info_template="run", staging_path=str(logs)
            )
            m.enable_monitoring(watchdog=True)
            m.set_keepalive_interval(5)
            m.set_keepalive_timeout(10)
            # TaskVine 7.17.1 gives measured categories that declare nothing a 1 MB allocation
            # (docs/troubleshooting.md): undeclared resources are the whole worker again.
            m.tune("proportional-resources", 0)
            self.q = m
            self.transactions = logs / "run" / "vine-logs" / "transactions"

    def submit(self, category: str, mib: int, hold: float, memory_mb: int | None) -> None:
        if self.framework == "WorkQueue":
            t = self.api.Task(command(mib, hold))
            t.specify_category(category)
            t.specify_tag(category)
            if memory_mb is not None:
                t.specify_memory(memory_mb)
        else:
            t = self.api.Task(command(mib, hold))
            t.set_category(category)
            t.set_tag(category)
            if memory_mb is not None:
                t.set_memory(memory_mb)
        self.q.submit(t)

    def wait(self, seconds: int) -> dict[str, Any] | None:
        t = self.q.wait(seconds)
        if t is None:
            return None
        measured = t.resources_measured
        if self.framework == "WorkQueue":
            ok, host = t.result == 0 and t.return_status == 0, t.host
        else:
            ok, host = t.successful(), t.addrport
        return {
            "category": t.category,
            "ok": bool(ok),
            "result": str(t.result_str if self.framework == "WorkQueue" else t.result),
            "memory_mb": measured.memory if measured is not None else None,
            "host": host,
            "output": (t.output or "").strip()[-300:],
        }

    def workers(self) -> int:
        return int(self.q.stats.workers_connected)

    def empty(self) -> bool:
        return bool(self.q.empty())


def run_round(m: Manager, args: argparse.Namespace, memory: dict[str, int] | None) -> list[Any]:
    sizes = {"small": args.small_mib, "big": args.big_mib}
    for _ in range(args.tasks):
        for category in CATEGORIES:
            m.submit(
                category, sizes[category], args.hold, None if memory is None else memory[category]
            )
    emit(
        "submitted",
        tasks=args.tasks * len(CATEGORIES),
        categories={c: args.tasks for c in CATEGORIES},
        declared=memory,
    )
    done = []
    while not m.empty():
        result = m.wait(2)
        if result is not None:
            done.append(result)
            emit("done", **result)
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--framework", choices=("WorkQueue", "TaskVine"), default="WorkQueue")
    parser.add_argument("--port", type=int, default=9123)
    parser.add_argument("--logs", type=Path, required=True)
    parser.add_argument("--tasks", type=int, default=3, help="tasks per category per round")
    parser.add_argument("--small-mib", type=int, default=50)
    parser.add_argument("--big-mib", type=int, default=500)
    parser.add_argument("--hold", type=float, default=1, help="seconds a task holds its array")
    parser.add_argument("--idle-timeout", type=int, default=180)
    args = parser.parse_args()

    stop = False

    def on_term(_signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    args.logs.mkdir(parents=True, exist_ok=True)
    m = Manager(args.framework, args.port, args.logs)
    emit("ready", framework=args.framework, port=args.port, transactions=str(m.transactions))

    first = run_round(m, args, None)
    failed = [r for r in first if not r["ok"]]
    peaks = {c: max((r["memory_mb"] or 0) for r in first if r["category"] == c) for c in CATEGORIES}
    emit("round", round=1, peaks=peaks, failed=len(failed))

    # The pool's idle workers go; round 2 then starts from no worker at all.
    deadline = time.monotonic() + args.idle_timeout
    while m.workers() > 0 and time.monotonic() < deadline and not stop:
        m.wait(1)
    emit("idle", workers=m.workers())

    declare = {c: math.ceil(peaks[c] * (1 + DECLARE_MARGIN / 100)) for c in CATEGORIES}
    second = run_round(m, args, declare)
    failed = [r for r in second if not r["ok"]]
    emit("round", round=2, declared=declare, failed=len(failed))
    emit("finished", tasks=len(first) + len(second))

    while not stop:  # an idle manager, until the demo stops it
        m.wait(1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
