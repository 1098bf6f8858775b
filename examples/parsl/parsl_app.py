"""A Parsl workflow whose Work Queue workers come from a WorkerPool.

Parsl's WorkQueueExecutor runs the Work Queue manager inside this program; it is configured to
start no workers of its own. A WorkerPool (and the operator) provides them: it sees the
backlog on the manager's port, creates worker pods, and removes them when they go idle.

The workflow estimates pi by Monte Carlo, in two phases of different width, so that the pool
has something to follow:

1. wide: ``--tasks`` @python_app tasks, each counting the random points of its own seed that
   fall inside the unit circle (and holding its worker ``--task-seconds``);
2. narrow: one @python_app adds the counts up (it depends on every task of phase 1), then one
   @bash_app turns the sum into digits of pi in a file that Work Queue brings back
   (``--reduce-seconds`` long: meanwhile the pool lets its idle workers go).

Every count is checked against the same computation done here; the program prints JSON lines
on stdout (``{"event": "listening", "port": ...}``, then ``{"event": "done", "ok": ...}`` with
the results) and exits 0 only if everything matches. ``--hold-after-done`` keeps the idle
manager up after that (``-1``: until SIGTERM), so that the pool releases its workers through its
idle rule and a Deployment (an InCluster WorkQueueManager) does not start the workflow again.

Where the manager listens, from the same environment variables an InCluster WorkQueueManager
sets (options win over them):

    WORKQUEUE_PORT            the port (--port; 0: any free port, printed on stdout)
    WORKQUEUE_PASSWORD_FILE   the Work Queue password file (--password-file)
    WORKQUEUE_PROJECT_NAME    the project name, advertised to the catalog (--project-name)
    WORKQUEUE_TRANSACTIONS_LOG  where the telemetry sidecar reads the transactions log; Parsl
                              writes its own under the run directory, so a link is made here

Needs Parsl and the CCTools Python bindings (``ndcctools.work_queue``; Debian's
python3-workqueue has them as ``work_queue``: ndcctools_alias.py bridges the two). Workers
need a ``python3`` with the same Python minor version and the same Parsl (tasks are pickled
functions run by Parsl's ``exec_parsl_function.py``); ``--worker-init`` is a shell command run
before each task, e.g. to put such a ``python3`` first on the PATH.

    python3 parsl_app.py --port 9123 --tasks 8
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import parsl
from parsl import bash_app, python_app
from parsl.config import Config
from parsl.executors import WorkQueueExecutor
from parsl.providers import LocalProvider

# What one Work Queue task may use: declared so that Work Queue packs tasks into workers by
# size, and the WorkerPool sizes its backlog the same way (MB, as Work Queue counts). Parsl
# takes it from the keyword argument `parsl_resource_specification`, which an app must have in
# its signature.
TASK_RESOURCES = {"cores": 1, "memory": 100, "disk": 100}


@python_app
def count_inside(
    seed: int,
    samples: int,
    hold_seconds: float,
    parsl_resource_specification: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Points of ``seed``'s sequence inside the unit circle, and where the task ran."""
    import random  # noqa: PLC0415 - runs on a worker: imports go with the function
    import socket  # noqa: PLC0415
    import time  # noqa: PLC0415

    started = time.monotonic()
    rng = random.Random(seed)
    inside = sum(1 for _ in range(samples) if rng.random() ** 2 + rng.random() ** 2 <= 1.0)
    time.sleep(max(0.0, hold_seconds - (time.monotonic() - started)))
    return {"seed": seed, "inside": inside, "samples": samples, "host": socket.gethostname()}


@python_app
def add_up(
    *counts: dict[str, Any], parsl_resource_specification: dict[str, int] | None = None
) -> dict[str, int]:
    """The counts of every task of the wide phase (Parsl passes their results when all are
    done)."""
    return {
        "inside": sum(c["inside"] for c in counts),
        "samples": sum(c["samples"] for c in counts),
    }


@bash_app
def digits_of_pi(
    total: dict[str, int],
    hold_seconds: float,
    stdout: str = "pi.txt",
    stderr: str = "pi.err",
    parsl_resource_specification: dict[str, int] | None = None,
) -> str:
    """4 * inside / samples, to six decimals, by shell arithmetic on the worker."""
    micro = f"$(( 4000000 * {total['inside']} / {total['samples']} ))"
    return f"sleep {hold_seconds}; m={micro}; printf '%d.%06d\\n' $((m / 1000000)) $((m % 1000000))"


def local_count(seed: int, samples: int) -> int:
    """The same count as ``count_inside``, here: what every task's answer must equal."""
    import random  # noqa: PLC0415

    rng = random.Random(seed)
    return sum(1 for _ in range(samples) if rng.random() ** 2 + rng.random() ** 2 <= 1.0)


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout (a test or a log collector reads them)."""
    print(json.dumps({"event": event, **fields}), flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(env.get("WORKQUEUE_PORT", "9123")))
    parser.add_argument("--password-file", default=env.get("WORKQUEUE_PASSWORD_FILE"))
    parser.add_argument("--project-name", default=env.get("WORKQUEUE_PROJECT_NAME"))
    parser.add_argument("--transactions-log", default=env.get("WORKQUEUE_TRANSACTIONS_LOG"))
    parser.add_argument("--tasks", type=int, default=8, help="tasks of the wide phase")
    parser.add_argument("--samples", type=int, default=200_000, help="points per task")
    parser.add_argument("--task-seconds", type=float, default=5.0, help="least task duration")
    parser.add_argument("--reduce-seconds", type=float, default=10.0, help="bash step duration")
    parser.add_argument("--run-dir", default="runinfo", help="Parsl's run directory")
    parser.add_argument(
        "--worker-init",
        default=env.get("PARSL_WORKER_INIT", ""),
        help="shell command run before each task on the worker",
    )
    parser.add_argument(
        "--hold-after-done",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="keep the idle manager up this long after the results (-1: until SIGTERM)",
    )
    return parser.parse_args(argv)


def make_config(args: argparse.Namespace) -> Config:
    executor = WorkQueueExecutor(
        label="workqueue",
        port=args.port,
        project_name=args.project_name,
        project_password_file=args.password_file,
        # No workers from Parsl: the WorkerPool's pods connect to this port.
        provider=LocalProvider(init_blocks=0, min_blocks=0, max_blocks=0),
        shared_fs=False,  # workers share no file system with this program
        autocategory=True,  # a Work Queue category per app: the pool sees each one's backlog
        init_command=args.worker_init,
    )
    return Config(executors=[executor], strategy="none", run_dir=args.run_dir)


def link_transactions_log(executor: WorkQueueExecutor, link: str | None) -> None:
    """Point WORKQUEUE_TRANSACTIONS_LOG (read by an InCluster manager's telemetry sidecar) at
    the transactions log Parsl's manager writes under its run directory."""
    if not link:
        return
    target = Path(executor.wq_log_dir).resolve() / "transaction_log"
    path = Path(link)
    if path.is_symlink() or path.exists():
        return  # never replace a file someone else made
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)


def check(
    args: argparse.Namespace,
    results: list[dict[str, Any]],
    total: dict[str, int],
    digits: str,
    exit_code: int,
) -> dict[str, Any]:
    """What the workflow computed, compared with the same computation done here."""
    mismatches = [r["seed"] for r in results if r["inside"] != local_count(r["seed"], args.samples)]
    pi = 4 * total["inside"] / total["samples"]
    micro = 4_000_000 * total["inside"] // total["samples"]  # what the bash step computes
    return {
        "tasks": len(results),
        "mismatches": mismatches,
        "inside": total["inside"],
        "samples": total["samples"],
        "pi": pi,
        "pi_from_bash": digits,
        "bash_exit_code": exit_code,
        "hosts": sorted({r["host"] for r in results}),
        "ok": (
            not mismatches
            and exit_code == 0
            and abs(pi - math.pi) < 0.01
            and digits == f"{micro // 1_000_000}.{micro % 1_000_000:06d}"
        ),
    }


class TerminatedError(BaseException):
    """SIGTERM arrived (kubectl delete, a Deployment rollout, docker stop). A BaseException, as
    KeyboardInterrupt is, so that no ``except Exception`` on the way swallows it."""


def hold(seconds: float) -> None:
    """Keep the (now idle) manager up: its WorkerPool lets the idle workers go through its
    idle rule, and a program run by a Deployment is not started again. Negative: until
    SIGTERM or SIGINT, which end the hold normally."""
    deadline = math.inf if seconds < 0 else time.monotonic() + seconds
    with contextlib.suppress(TerminatedError, KeyboardInterrupt):
        while time.monotonic() < deadline:
            time.sleep(min(1.0, deadline - time.monotonic()))


def run(args: argparse.Namespace) -> bool:
    started = time.monotonic()
    dfk = parsl.load(make_config(args))
    try:
        executor = dfk.executors["workqueue"]
        assert isinstance(executor, WorkQueueExecutor)
        link_transactions_log(executor, args.transactions_log)
        # _chosen_port: the port the manager got (the one asked for, or any with --port 0).
        emit("listening", port=executor._chosen_port, run_dir=executor.run_dir)

        resources = {"parsl_resource_specification": TASK_RESOURCES}
        counts = [
            count_inside(seed, args.samples, args.task_seconds, **resources)
            for seed in range(args.tasks)
        ]
        total = add_up(*counts, **resources)
        report = digits_of_pi(total, args.reduce_seconds, **resources)

        results = [c.result() for c in counts]
        exit_code = report.result()
        outcome = check(
            args, results, total.result(), Path("pi.txt").read_text().strip(), exit_code
        )
        emit("done", seconds=round(time.monotonic() - started, 1), **outcome)
        hold(args.hold_after_done)
        return bool(outcome["ok"])
    finally:
        dfk.cleanup()
        parsl.clear()


def on_sigterm(signum: int, frame: object) -> None:
    raise TerminatedError


def main(argv: list[str] | None = None) -> int:
    # SIGTERM ends the program through run()'s `finally`, so that Parsl stops its manager
    # process cleanly: exit 143 during the workflow, the workflow's own status during the hold.
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return 0 if run(parse_args(argv)) else 1
    except TerminatedError:
        return 128 + signal.SIGTERM


if __name__ == "__main__":
    sys.exit(main())
