"""A Parsl workflow whose workers come from a WorkerPool.

Parsl's WorkQueueExecutor (``--executor workqueue``) or TaskVineExecutor (``--executor
taskvine``) runs the manager for this program; either is configured to start no workers of its
own. A WorkerPool (and the operator) provides them — ``work_queue_worker`` or ``vine_worker``
pods, as the WorkQueueManager's ``framework`` says: it sees the backlog on the manager's port,
creates worker pods, and removes them when they go idle.

The workflow estimates pi by Monte Carlo, in two phases of different width, so that the pool
has something to follow:

1. wide: ``--tasks`` @python_app tasks, each counting the random points of its own seed that
   fall inside the unit circle (and holding its worker ``--task-seconds``);
2. narrow: one @python_app adds the counts up (it depends on every task of phase 1), then one
   @bash_app turns the sum into digits of pi in a file that the manager brings back
   (``--reduce-seconds`` long: meanwhile the pool lets its idle workers go).

Every count is checked against the same computation done here; the program prints JSON lines
on stdout (``{"event": "listening", "port": ...}``, then ``{"event": "done", "ok": ...}`` with
the results) and exits 0 only if everything matches. Then Parsl stops its manager (its workers
leave after their ``--timeout`` without one); ``--hold-after-done`` keeps the program up after
that (``-1``: until SIGTERM), so that a Deployment (an InCluster WorkQueueManager) does not
start the workflow again. (Keeping Parsl's manager up would not help the pool: an idle Parsl
manager never enters ``wait()``, so it answers neither the operator's status queries nor a
``vine_worker``'s request to leave.)

Which manager, and where it listens, from the same environment variables an InCluster
WorkQueueManager sets (options win over them):

    WORKQUEUE_FRAMEWORK       WorkQueue or TaskVine (--executor workqueue|taskvine)
    WORKQUEUE_PORT            the port (--port; 0: any free port, printed on stdout)
    WORKQUEUE_PASSWORD_FILE   the password file (--password-file)
    WORKQUEUE_PROJECT_NAME    the project name, advertised to the catalog (--project-name)
    WORKQUEUE_TRANSACTIONS_LOG  Work Queue: where the telemetry sidecar reads the transactions
                              log; Parsl writes its own under the run directory, so a link is
                              made here (--transactions-log)
    WORKQUEUE_RUN_INFO_PATH   TaskVine: the manager's run-info directory, where the sidecar
                              reads most-recent/vine-logs/transactions (--run-info-path)

Needs Parsl and CCTools' ``ndcctools`` package (``work_queue``, ``taskvine``; the latter
imports cloudpickle and packaging). Workers need a ``python3`` with the same Python minor
version and the same Parsl (tasks are pickled functions run by Parsl's
``exec_parsl_function.py``); ``--worker-init`` is a shell command run before each task, e.g. to
put such a ``python3`` first on the PATH.

    python3 parsl_app.py --port 9123 --tasks 8
    python3 parsl_app.py --executor taskvine --port 9123 --tasks 8
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import parsl
import psutil
from parsl import bash_app, python_app
from parsl.config import Config
from parsl.executors import WorkQueueExecutor
from parsl.executors.taskvine import TaskVineExecutor, TaskVineManagerConfig
from parsl.providers import LocalProvider

# What one task may use: declared so that the manager packs tasks into workers by size, and
# the WorkerPool sizes its backlog the same way (MB, as Work Queue and TaskVine count). Parsl
# takes it from the keyword argument `parsl_resource_specification`, which an app must have in
# its signature.
TASK_RESOURCES = {"cores": 1, "memory": 100, "disk": 100}

EXECUTORS = ("workqueue", "taskvine")  # also WORKQUEUE_FRAMEWORK's WorkQueue / TaskVine, lowered


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
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=env.get("WORKQUEUE_FRAMEWORK", "WorkQueue").lower(),
        help="Parsl's WorkQueueExecutor or TaskVineExecutor (default: WORKQUEUE_FRAMEWORK)",
    )
    parser.add_argument("--port", type=int, default=int(env.get("WORKQUEUE_PORT", "9123")))
    parser.add_argument("--password-file", default=env.get("WORKQUEUE_PASSWORD_FILE"))
    parser.add_argument("--project-name", default=env.get("WORKQUEUE_PROJECT_NAME"))
    parser.add_argument("--transactions-log", default=env.get("WORKQUEUE_TRANSACTIONS_LOG"))
    parser.add_argument(
        "--run-info-path",
        default=env.get("WORKQUEUE_RUN_INFO_PATH"),
        help="TaskVine's run-info directory (default: Parsl's, beside --run-dir)",
    )
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
        help="stay up this long after the results, Parsl stopped (-1: until SIGTERM)",
    )
    args = parser.parse_args(argv)
    if args.executor == "taskvine" and args.port == 0:
        # Parsl's TaskVineExecutor runs its manager in a process that does not report the port
        # it got, and names a manager of port 0 after a random project (for the catalog): the
        # program picks the free port itself instead.
        args.port = free_port()
    return args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        port: int = s.getsockname()[1]
        return port


def make_executor(args: argparse.Namespace) -> WorkQueueExecutor | TaskVineExecutor:
    """Parsl's manager for this program, starting no workers of its own: the WorkerPool's pods
    connect to its port. Each app is a category of its own (the pool sees each one's backlog);
    workers share no file system with this program (inputs, results and the bash app's stdout
    go through the manager)."""
    if args.executor == "workqueue":
        return WorkQueueExecutor(
            label="workqueue",
            port=args.port,
            project_name=args.project_name,
            project_password_file=args.password_file,
            provider=LocalProvider(init_blocks=0, min_blocks=0, max_blocks=0),  # no workers
            shared_fs=False,
            autocategory=True,
            init_command=args.worker_init,  # Parsl adds "; " before its command
        )
    init = args.worker_init.strip()
    if init and not init.endswith((";", "&&")):
        init += ";"  # TaskVine's Parsl joins "<init_command> python3 ..." with a bare space
    return TaskVineExecutor(
        label="taskvine",
        worker_launch_method="manual",  # neither a TaskVine factory nor a Parsl provider
        manager_config=TaskVineManagerConfig(
            port=args.port,
            project_name=args.project_name,
            project_password_file=args.password_file,
            shared_fs=False,
            autocategory=True,
            init_command=init,
            vine_log_dir=args.run_info_path,
        ),
    )


def make_config(args: argparse.Namespace) -> Config:
    # strategy "none": no scaling of blocks either.
    return Config(executors=[make_executor(args)], strategy="none", run_dir=args.run_dir)


def manager_port(executor: WorkQueueExecutor | TaskVineExecutor, timeout: float = 60) -> int:
    """The port Parsl's manager listens on, once it does."""
    if isinstance(executor, WorkQueueExecutor):
        # The port the manager got (the one asked for, or any with --port 0), reported by its
        # process once it listens.
        return int(executor._chosen_port)
    # TaskVine's process reports nothing: wait until it listens (psutil comes with Parsl).
    port = int(executor.manager_config.port)
    process = executor._submit_process
    deadline = time.monotonic() + timeout
    while process.is_alive() and time.monotonic() < deadline:
        sockets = psutil.Process(process.pid).net_connections(kind="tcp")
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in sockets):
            return port
        time.sleep(0.1)
    raise RuntimeError(
        f"Parsl's TaskVine manager is not listening on port {port} "
        f"(its process {'is alive' if process.is_alive() else 'ended'}; see {executor.run_dir})"
    )


def transactions_log(executor: WorkQueueExecutor | TaskVineExecutor) -> Path:
    """The transactions log of Parsl's manager."""
    if isinstance(executor, WorkQueueExecutor):
        return Path(executor.wq_log_dir).resolve() / "transaction_log"
    # TaskVine writes each run under its run-info path and points most-recent at the newest.
    run_info = Path(executor.manager_config.vine_log_dir).resolve()
    return run_info / "most-recent" / "vine-logs" / "transactions"


def link_transactions_log(executor: WorkQueueExecutor | TaskVineExecutor, link: str | None) -> None:
    """Point WORKQUEUE_TRANSACTIONS_LOG (read by an InCluster manager's telemetry sidecar) at
    the transactions log Parsl's manager writes under its run directory."""
    if not link:
        return
    path = Path(link)
    if path.is_symlink() or path.exists():
        return  # never replace a file someone else made
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(transactions_log(executor))


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


class Termination:
    """The SIGTERM handler. During the workflow it raises :class:`TerminatedError`, so that
    ``run()``'s ``finally`` stops Parsl; once Parsl is stopping it only records the request,
    which ends the hold: Parsl's cleanup is never cut short."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.interrupts = True

    def __call__(self, signum: int, frame: object) -> None:
        self.requested.set()
        if self.interrupts:
            raise TerminatedError


def hold(seconds: float, stop: threading.Event) -> None:
    """Stay up after the results (Parsl and its manager have stopped), so that a program run
    by a Deployment is not started again. Negative: until SIGTERM or SIGINT, which end the hold
    normally."""
    deadline = math.inf if seconds < 0 else time.monotonic() + seconds
    with contextlib.suppress(KeyboardInterrupt):
        while not stop.is_set() and time.monotonic() < deadline:
            stop.wait(min(1.0, deadline - time.monotonic()))


def run(args: argparse.Namespace, termination: Termination) -> bool:
    started = time.monotonic()
    dfk = parsl.load(make_config(args))
    try:
        executor = dfk.executors[args.executor]
        assert isinstance(executor, WorkQueueExecutor | TaskVineExecutor)
        link_transactions_log(executor, args.transactions_log)
        emit(
            "listening",
            executor=args.executor,
            port=manager_port(executor),
            run_dir=executor.run_dir,
            transactions_log=str(transactions_log(executor)),
        )

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
        termination.interrupts = False  # the results are in: a SIGTERM now ends the hold
        emit("done", seconds=round(time.monotonic() - started, 1), **outcome)
    finally:
        # Parsl stops its manager in one piece (a SIGTERM from now on ends the hold instead):
        # the workers leave after their --timeout without it.
        termination.interrupts = False
        dfk.cleanup()
        parsl.clear()
    hold(args.hold_after_done, termination.requested)
    return bool(outcome["ok"])


def main(argv: list[str] | None = None) -> int:
    # Exit 143 on SIGTERM during the workflow, the workflow's own status after the results.
    termination = Termination()
    signal.signal(signal.SIGTERM, termination)
    try:
        return 0 if run(parse_args(argv), termination) else 1
    except TerminatedError:
        return 128 + signal.SIGTERM


if __name__ == "__main__":
    sys.exit(main())
