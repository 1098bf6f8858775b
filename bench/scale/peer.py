"""The dask-kubernetes operator (kopf, from PyPI) at one size, measured the same way: N
DaskClusters in one namespace, each with a default worker group scaled from 0 to
``--pods-per-pool`` at once (``spec.worker.replicas``), the operator as a process of its own
(``kopf run -m dask_kubernetes.operator.controller``) under its own ServiceAccount.

It runs from a virtual environment of its own under ``~/.cache/peer/dask-kubernetes-<version>``
(``ensure_peer`` makes it with pip once). KWOK runs no container, so the Dask schedulers never
answer: the phases measured (idle, ramp, steady) are the ones that need no scheduler; the
operator's worker groups create one Deployment per worker (a ReplicaSet and a Pod follow)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.bench_scaling import create_namespace, placement, wait_until
from bench.scale.common import (
    SizeResult,
    WorkerPodWatch,
    delete_namespace_pods,
    labelled,
    remove_namespace,
    wait_pods,
)
from bench.scale.infra import Phase, ProcessMeter
from bench.scale.ours import Context

PEER_VERSION = "2026.3.0"
PEER_HOME = Path.home() / ".cache" / "peer" / f"dask-kubernetes-{PEER_VERSION}"
PEER_PYTHON = PEER_HOME / "bin" / "python"
CRDS = (
    "lib/python{v}/site-packages/dask_kubernetes/operator/deployment/helm/"
    "dask-kubernetes-operator/crds"
)
IMAGE = "ghcr.io/dask/dask:2026.3.0"


def ensure_peer() -> Path:
    """The peer's venv (made with pip on first use); its CRD directory."""
    if not PEER_PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_HOME)], check=True)
        subprocess.run(
            [str(PEER_HOME / "bin" / "pip"), "install", "-q", f"dask-kubernetes=={PEER_VERSION}"],
            check=True,
            timeout=1800,
        )
    version = subprocess.run(
        [str(PEER_PYTHON), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return PEER_HOME / CRDS.format(v=version)


def peer_version() -> str:
    out = subprocess.run(
        [str(PEER_PYTHON), "-m", "pip", "show", "dask-kubernetes", "kopf"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    fields = [
        line.split(":", 1)[1].strip()
        for line in out.splitlines()
        if line[:8] in ("Name: da", "Version:", "Name: ko")
    ]
    return " ".join(fields)


class PeerProcess:
    def __init__(self, kubeconfig: Path, namespace: str, log_path: Path) -> None:
        env = dict(os.environ) | {"KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
        env.pop("PYTHONPATH", None)
        with log_path.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    str(PEER_HOME / "bin" / "kopf"),
                    "run",
                    "--standalone",
                    "--namespace",
                    namespace,
                    "-m",
                    "dask_kubernetes.operator.controller",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=PEER_HOME,
                start_new_session=True,
            )
        self.pid = self.process.pid
        self.log_path = log_path

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def dask_cluster(name: str, run_id: str) -> dict[str, Any]:
    where = placement(run_id)
    return {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskCluster",
        "metadata": {"name": name},
        "spec": {
            "worker": {
                "replicas": 0,
                "spec": {
                    **where,
                    "containers": [
                        {
                            "name": "worker",
                            "image": IMAGE,
                            "args": ["dask-worker", "--name", "$(DASK_WORKER_NAME)"],
                            "resources": {
                                "requests": {"cpu": "1", "memory": "512Mi"},
                                "limits": {"cpu": "1", "memory": "512Mi"},
                            },
                        }
                    ],
                },
            },
            "scheduler": {
                "spec": {
                    **where,
                    "containers": [
                        {
                            "name": "scheduler",
                            "image": IMAGE,
                            "args": ["dask-scheduler"],
                            "ports": [
                                {"name": "tcp-comm", "containerPort": 8786},
                                {"name": "http-dashboard", "containerPort": 8787},
                            ],
                        }
                    ],
                },
                "service": {
                    "type": "ClusterIP",
                    "selector": {
                        "dask.org/cluster-name": name,
                        "dask.org/component": "scheduler",
                    },
                    "ports": [
                        {"name": "tcp-comm", "port": 8786, "targetPort": "tcp-comm"},
                        {"name": "http-dashboard", "port": 8787, "targetPort": "http-dashboard"},
                    ],
                },
            },
        },
    }


def run_size(ctx: Context, pools: int) -> SizeResult:
    result = SizeResult("dask-kubernetes", pools, ctx.args.pods_per_pool)
    with contextlib.ExitStack() as stack:
        _run(ctx, pools, result, stack)
    return result


def _run(ctx: Context, pools: int, result: SizeResult, stack: contextlib.ExitStack) -> None:
    kube, args = ctx.kube, ctx.args
    per_pool = args.pods_per_pool
    namespace = f"scale-{ctx.run_id}-peer-{pools}"
    create_namespace(kube, namespace)
    stack.callback(remove_namespace, kube, namespace)
    stack.callback(delete_namespace_pods, kube, namespace)

    def delete_clusters() -> None:
        kube.cluster.kubectl(
            "delete", "daskclusters", "--all", "--wait=false", namespace=namespace, check=False
        )

    stack.callback(delete_clusters)
    work = ctx.work / f"peer-{pools}"
    work.mkdir(parents=True, exist_ok=True)
    watch = WorkerPodWatch(kube.core, namespace, labelled("dask.org/component", "worker"))
    watch.start()
    stack.callback(watch.stop)
    peer = PeerProcess(ctx.kubeconfig, namespace, work / "peer.log")
    stack.callback(peer.stop)
    meter = ProcessMeter(peer.pid)
    stack.callback(meter.stop)
    names = [f"c{index:03d}" for index in range(pools)]
    body = json.dumps(
        {"apiVersion": "v1", "kind": "List", "items": [dask_cluster(n, ctx.run_id) for n in names]}
    )
    kube.cluster.kubectl("apply", "-f", "-", namespace=namespace, input=body, timeout=300)

    def groups_ready() -> bool:
        found = kube.custom.list_namespaced_custom_object(
            "kubernetes.dask.org", "v1", namespace, "daskworkergroups"
        )
        return len(found["items"]) >= pools

    wait_until(groups_ready, timeout=600, interval=1, what=f"{pools} dask worker groups")
    result.notes.append(f"peer log: {peer.log_path}")

    def measure(name: str, seconds: float | None = None) -> Phase:
        with meter.phase(name) as phase:
            if seconds is not None:
                time.sleep(seconds)
            else:
                watch.reset()
                t0 = time.monotonic()
                patch = {"spec": {"worker": {"replicas": per_pool}}}
                with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
                    list(
                        pool.map(
                            lambda n: kube.custom.patch_namespaced_custom_object(
                                "kubernetes.dask.org", "v1", namespace, "daskclusters", n, patch
                            ),
                            names,
                        )
                    )
                result.ramp = wait_pods(watch, pools * per_pool, t0, timeout=args.ramp_timeout)
        phase.requests = dict(ctx.audit.requests(ctx.user, phase.start, phase.end))
        ctx.on_phase(name, phase, {})
        result.phases[name] = phase
        if not peer.alive():
            raise RuntimeError(f"the peer operator exited; see {peer.log_path}")
        return phase

    time.sleep(args.settle)
    measure("idle", args.window)
    measure("ramp")
    time.sleep(args.settle)
    measure("steady", args.window)
    counts = {
        kind: len(
            json.loads(
                kube.cluster.kubectl(
                    "get", kind, "-o", "json", namespace=namespace, timeout=300
                ).stdout
            )["items"]
        )
        for kind in ("deployments", "replicasets", "pods")
    }
    result.notes.append(f"objects in the namespace after the ramp: {counts}")
    workers = max(pools * per_pool, 1)
    result.objects_per_worker = (
        counts["deployments"] - pools + counts["replicasets"] - pools + counts["pods"] - pools
    ) / workers
