"""``workqueue-operator run``: the operator itself."""

from __future__ import annotations

import argparse
import logging
from typing import Any


class RetriedRequestsAreWarnings(logging.Filter):
    """kopf logs every API request it is about to retry at ERROR, e.g. the apiserver's 429
    "storage is (re)initializing" while it starts. A request that will be retried is a
    warning; the last attempt's failure ("escalating") stays an error."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and "failed; will retry:" in record.getMessage():
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "run",
        help="run the operator",
        description="Reconcile WorkQueueManagers, WorkerPools and PonchoEnvs (kopf).",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch this namespace (repeatable; glob patterns allowed)",
    )
    scope.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        help="watch every namespace (the default when no --namespace is given)",
    )
    parser.add_argument(
        "--liveness",
        metavar="URL",
        default=None,
        help="serve kopf's health endpoint, e.g. http://0.0.0.0:8080/healthz",
    )
    parser.add_argument(
        "--log-format",
        choices=("json", "plain", "full"),
        default="full",
        help="log format; json writes one structured object a line",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import kopf  # noqa: PLC0415 - heavy import only for this command

    import workqueue_operator.controllers  # noqa: F401, PLC0415 - registers the handlers

    log_format = {
        "json": kopf.LogFormat.JSON,
        "plain": kopf.LogFormat.PLAIN,
        "full": kopf.LogFormat.FULL,
    }[args.log_format]
    kopf.configure(verbose=args.verbose, log_format=log_format)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RetriedRequestsAreWarnings())
    kopf.run(
        standalone=True,
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness,
    )
    return 0
