"""``python -m e2e.hostrunner --kubeconfig K [--selector S] [--namespace N]`` (test harness).

Runs the host runner in the foreground until Ctrl-C or SIGTERM, then kills every process it
started and lets go of the pods it held.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path

from e2e.hostrunner.runner import DEFAULT_SELECTOR, HostRunner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m e2e.hostrunner",
        description="Test harness: run selected, scheduled pods of the local control plane as "
        "local processes (a stand-in for kubelet + container runtime).",
    )
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=os.environ.get("KUBECONFIG"),
        required=os.environ.get("KUBECONFIG") is None,
        help="kubeconfig of the cluster (default: $KUBECONFIG)",
    )
    parser.add_argument("--selector", default=DEFAULT_SELECTOR, help="pod label selector")
    parser.add_argument("--namespace", default=None, help="one namespace (default: all)")
    parser.add_argument(
        "--base-dir", type=Path, default=None, help="per-pod directories (default: a temp dir)"
    )
    parser.add_argument(
        "--max-grace", type=float, default=5.0, help="cap of the SIGTERM->SIGKILL grace (s)"
    )
    parser.add_argument(
        "--no-hold-deletion",
        action="store_true",
        help="no finalizer: deleted pods vanish at once (KWOK) instead of staying Terminating",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    runner = HostRunner(
        args.kubeconfig,
        args.selector,
        args.namespace,
        base_dir=args.base_dir,
        max_grace_seconds=args.max_grace,
        hold_deletion=not args.no_hold_deletion,
    )
    with runner:
        logging.info("running; Ctrl-C to stop (kills every process started)")
        done.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
