"""What the operator costs at scale, beside a peer operator, on a control plane of its own.

For each size of ``--pools`` (default 5, 10, 25, 50) pools x ``--pods-per-pool`` (100) worker
pods on KWOK nodes, two systems in turn, each as a process of its own under its own
ServiceAccount:

* **workqueue-operator**: N real Work Queue 7.17.1 managers (``ndcctools``, one process each,
  ``tests/cctools/manager.py``), N External WorkQueueManagers and N WorkerPools (poll
  ``--poll-interval``, maximum ``--pods-per-pool``); ``--agents`` telemetry agents beside the
  first managers;
* **dask-kubernetes** (``--skip-peer`` to leave out): its operator 2026.3.0 from PyPI, in a venv
  under ~/.cache/peer, with N DaskClusters whose default worker group goes from 0 to
  ``--pods-per-pool`` replicas.

Phases, each measured on the operator process: **idle** (objects there, no backlog, no pod,
``--window`` s), **ramp** (every manager gets ``--pods-per-pool`` tasks at once / every
DaskCluster its replicas, until every pod exists and Runs), **steady** (``--window`` s, every
pool full, nothing changing), and for this operator **reaction** rounds (``--rounds``) of one
more, idle pool while the others stay steady: tasks submitted -> its first pod exists.

Figures: CPU (/proc utime+stime) and RSS (sampled every 0.25 s) of the operator process; API
requests by verb and resource of the operator's identity from the apiserver's audit log (the
control plane is started with an audit policy that logs only the bench's ServiceAccounts); status
writes, passes and probes (manager status requests between passes) through PromQL from a real
Prometheus scraping the operator and the agents every ``--scrape-interval`` s (15; the chart's
monitors scrape every 30 s, and a scrape is part of the operator's CPU) and the apiserver every
2 s. Every figure at every size, and its slope over the
sizes (least squares, per pool).

    .venv/bin/python bench/bench_scale.py [--pools 5,10,25,50] [--pods-per-pool 100]
        [--window 60] [--rounds 10] [--skip-peer] [--skip-ours] [--json out.json]
        [--keep-cluster]

The control plane: ``e2e/cluster/up.sh`` with its own state dir
(``~/.cache/workqueue-operator/scale-bench/cluster``) and ports (apiserver 16443, etcd 22379,
...; ``--port-offset``), never the shared one; stopped at the end unless ``--keep-cluster``.
Everything the run made (processes, namespaces, nodes) goes at the end, also on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from types import FrameType

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_scaling import PODS_PER_NODE, create_nodes, delete_nodes, kube_clients  # noqa: E402
from bench.scale import ours, peer  # noqa: E402
from bench.scale.common import SizeResult  # noqa: E402
from bench.scale.infra import (  # noqa: E402
    DEFAULT_PORTS,
    AuditLog,
    ControlPlane,
    Phase,
    admin_tls,
    identity_kubeconfig,
    load_average,
)
from bench.scale.report import table  # noqa: E402
from tests.cctools.install import missing_cctools, use_cctools_build  # noqa: E402
from tests.prometheus import Prometheus, ScrapeJob, missing_prometheus  # noqa: E402

STATE = Path.home() / ".cache" / "workqueue-operator" / "scale-bench"

PROMQL = {
    "status_patches": "sum(increase(workqueue_operator_status_patches_total[{w}s]))",
    "passes": "sum(increase(workqueue_operator_reconciles_total[{w}s]))",
    "probes": "sum(increase(workqueue_operator_probes_total[{w}s]))",
    "probes_changed": ('sum(increase(workqueue_operator_probes_total{{result="changed"}}[{w}s]))'),
    "apiserver_requests_all_clients": (
        'sum(increase(apiserver_request_total{{job="apiserver"}}[{w}s]))'
    ),
    "agent_tasks": "sum(workqueue_manager_tasks)",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--pools", default="5,10,25,50", help="sizes, comma-separated")
    parser.add_argument("--pods-per-pool", type=int, default=100)
    parser.add_argument("--poll-interval", type=int, default=1, help="pools' pollIntervalSeconds")
    parser.add_argument("--window", type=float, default=60.0, help="seconds of idle and steady")
    parser.add_argument(
        "--scrape-interval",
        type=float,
        default=15.0,
        help="seconds between Prometheus scrapes of the operator and agents (chart default: 30)",
    )
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before a window")
    parser.add_argument("--rounds", type=int, default=10, help="reaction rounds (ours)")
    parser.add_argument("--agents", type=int, default=2, help="telemetry agents (ours)")
    parser.add_argument("--ramp-timeout", type=float, default=1800.0)
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--skip-ours", action="store_true")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the steady window, one more under py-spy: where the operator's CPU goes",
    )
    parser.add_argument("--keep-cluster", action="store_true")
    parser.add_argument("--port-offset", type=int, default=0, help="added to every port")
    return parser.parse_args(argv)


class StopRequestedError(Exception):
    pass


def on_signal(signum: int, _frame: FrameType | None) -> None:
    raise StopRequestedError(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [int(s) for s in args.pools.split(",") if s]
    for problem in (missing_cctools(), missing_prometheus()):
        if problem:
            print(problem, file=sys.stderr)
            return 2
    use_cctools_build()
    signal.signal(signal.SIGTERM, on_signal)
    run_id = uuid.uuid4().hex[:5]
    work = Path(tempfile.mkdtemp(prefix=f"bench-scale-{run_id}-"))
    ports = {k: str(int(v) + args.port_offset) for k, v in DEFAULT_PORTS.items()}
    plane = ControlPlane(STATE / "cluster", ports)
    results: list[SizeResult] = []
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    log(f"run {run_id}, work dir {work}, load average {load_average()}")
    with contextlib.ExitStack() as stack:
        cluster = plane.up()
        if not args.keep_cluster:
            stack.callback(plane.down)
        kube = kube_clients(cluster)
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
        nodes = -(-max(sizes) * args.pods_per_pool // PODS_PER_NODE) + 1
        create_nodes(kube, run_id, nodes)
        stack.callback(delete_nodes, kube, run_id)
        log(f"{nodes} bench nodes Ready")
        targets_file = work / "targets.json"
        targets_file.write_text("[]")
        prometheus = Prometheus(
            work / "prometheus",
            [
                ScrapeJob("workqueue", file_sd=targets_file, interval=f"{args.scrape_interval:g}s"),
                ScrapeJob(
                    "apiserver",
                    [plane.apiserver],
                    scheme="https",
                    tls=admin_tls(plane.pki),
                    metric_relabel_keep="apiserver_request_total|etcd_.*object_counts|apiserver_storage_objects",
                ),
            ],
        )
        stack.callback(prometheus.stop)
        log(f"prometheus on {prometheus.url}")

        def on_phase(name: str, phase: Phase, targets: dict[str, str]) -> None:
            time.sleep(args.scrape_interval + 2)  # one more scrape after the phase's end
            window = max(int(phase.seconds), 10)
            for key, expr in PROMQL.items():
                try:
                    phase.prometheus[key] = prometheus.value(expr.format(w=window), at=phase.end)
                except Exception as error:  # a figure missing is reported, not fatal
                    phase.prometheus[key] = None
                    log(f"promql {key}: {error}")
            log(
                f"  {name}: {phase.seconds:.0f} s, CPU {phase.cpu_s:.2f} s, RSS peak "
                f"{phase.rss_peak_mb:.0f} MB, {phase.requests_total} requests, load {phase.load}; "
                f"prometheus {json.dumps(phase.prometheus)}"
            )

        def set_targets(targets: dict[str, str]) -> None:
            groups = [{"targets": [t], "labels": {"instance_name": n}} for n, t in targets.items()]
            targets_file.write_text(json.dumps(groups))

        systems: list[tuple[str, Callable[[ours.Context, int], SizeResult]]] = []
        if not args.skip_ours:
            systems.append(("workqueue-operator", ours.run_size))
        if not args.skip_peer:
            peer_crds = peer.ensure_peer()
            cluster.kubectl("apply", "--server-side", "-f", str(peer_crds))
            log(f"peer: {peer.peer_version()}")
            systems.append(("dask-kubernetes", peer.run_size))
        identities = {
            "workqueue-operator": identity_kubeconfig(cluster, "workqueue-operator", work),
            "dask-kubernetes": identity_kubeconfig(cluster, "dask-kubernetes-operator", work),
        }
        for size in sizes:
            for system, run in systems:
                kubeconfig, user = identities[system]
                ctx = ours.Context(
                    kube=kube,
                    args=args,
                    run_id=run_id,
                    work=work,
                    kubeconfig=kubeconfig,
                    user=user,
                    audit=AuditLog(plane.audit_log),
                    on_phase=on_phase,
                    later=stack.callback,
                    set_targets=set_targets,
                )
                log(f"{system}: {size} pools x {args.pods_per_pool} pods, load {load_average()}")
                result = run(ctx, size)
                results.append(result)
                log(f"{system} {size}: ramp {result.ramp}, reaction {result.reaction_s}")
                set_targets({})
    print()
    print(f"bench_scale {started}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    print(f"load average at the end: {load_average()}")
    for result in results:
        for name, phase in result.phases.items():
            print(f"load {result.system} {result.pools} {name}: {phase.load}")
        for note in result.notes:
            print(f"note {result.system} {result.pools}: {note}")
    print()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
