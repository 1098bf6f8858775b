"""``workqueue-operator agent``: serve a manager's task telemetry (see docs/telemetry.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from workqueue_operator.agent import logs
from workqueue_operator.agent.config import DEFAULT_PORT, DEFAULT_WINDOW, AgentConfig, parse_listen
from workqueue_operator.agent.server import run_agent
from workqueue_operator.api.common import Framework


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "agent",
        help="serve a Work Queue or TaskVine manager's task telemetry (Prometheus + JSON samples)",
        description=(
            "Follow a manager's transactions log and/or resource_monitor summaries, poll its "
            "status port, and serve /metrics, /v1/samples, /v1/categories and /healthz."
        ),
    )
    parser.add_argument(
        "--transactions-log",
        type=Path,
        metavar="FILE",
        help="the manager's transactions log: Work Queue's specify_transactions_log file, or "
        "TaskVine's RUN_INFO/most-recent/vine-logs/transactions (followed across runs)",
    )
    parser.add_argument(
        "--summaries",
        type=Path,
        metavar="DIR",
        help="directory of resource_monitor *.summary / *.summaries files",
    )
    parser.add_argument(
        "--summaries-category",
        default="default",
        metavar="NAME",
        help="category of summaries that name none (default: %(default)s)",
    )
    parser.add_argument(
        "--manager", metavar="HOST:PORT", help="poll this manager's status port for queue figures"
    )
    parser.add_argument(
        "--framework",
        default=Framework.WORK_QUEUE.value,
        choices=[f.value for f in Framework],
        help="the manager's framework, for --manager (default: %(default)s)",
    )
    parser.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help="the manager's password file, if it has one",
    )
    parser.add_argument(
        "--tls", action="store_true", help="the manager speaks TLS (its certificate is checked)"
    )
    parser.add_argument(
        "--tls-ca",
        type=Path,
        metavar="FILE",
        help="PEM certificate(s) the manager's is checked against (implies --tls; default: the "
        "system's roots)",
    )
    parser.add_argument(
        "--tls-insecure-skip-verify",
        action="store_true",
        help="TLS without checking the manager's certificate (implies --tls)",
    )
    parser.add_argument(
        "--listen",
        default=f":{DEFAULT_PORT}",
        metavar="[HOST]:PORT",
        help="address to serve on (default: %(default)s)",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=DEFAULT_WINDOW,
        metavar="N",
        help="recent samples kept per category (default: %(default)s)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="manager status poll interval (default: %(default)s)",
    )
    parser.add_argument(
        "--from-end", action="store_true", help="ignore what the transactions log already holds"
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> AgentConfig:
    host, port = parse_listen(args.listen)
    return AgentConfig(
        transactions_log=args.transactions_log,
        summaries_dir=args.summaries,
        summaries_category=args.summaries_category,
        manager=args.manager,
        framework=Framework(args.framework),
        password_file=args.password_file,
        tls=args.tls or args.tls_ca is not None or args.tls_insecure_skip_verify,
        tls_ca=args.tls_ca,
        tls_verify=not args.tls_insecure_skip_verify,
        listen_host=host,
        listen_port=port,
        window=args.window,
        from_end=args.from_end,
        poll_interval_s=args.poll_interval,
    )


def run(args: argparse.Namespace) -> int:
    logs.configure(args.log_level)
    try:
        config = config_from_args(args)
        if config.password_file is not None and not config.password_file.is_file():
            raise ValueError(f"no password file {config.password_file}")
        if config.tls_ca is not None and not config.tls_ca.is_file():
            raise ValueError(f"no CA file {config.tls_ca}")
    except ValueError as exc:
        print(f"workqueue-operator agent: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(run_agent(config))
    except OSError as exc:  # e.g. the listen port is taken
        print(f"workqueue-operator agent: {exc}", file=sys.stderr)
        return 1
    return 0
