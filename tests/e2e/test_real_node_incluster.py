"""Everything in pods on the real node: the operator installed by its Helm chart from the
operator image, an InCluster WorkQueueManager running a Work Queue or a TaskVine program (the
ndcctools API, CCTools 7.17.1) in the manager image (its Deployment, Service and
telemetry-agent sidecar made by that operator), and a WorkerPool's workers from the worker
image reaching the manager through its Service name (CoreDNS) and ClusterIP (kube-proxy).

The local API server listens on 127.0.0.1 only (the ``kubernetes`` Service has no endpoints),
so the operator's pod uses the node's network (chart values ``hostNetwork``, ``dnsPolicy:
ClusterFirstWithHostNet``, ``KUBERNETES_SERVICE_HOST=127.0.0.1``); everything else is as a
cluster user meets it. The namespace is outside the test session's operator's pattern: this
operator is the only one there."""

from __future__ import annotations

import asyncio
import json
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.realnode import (
    NODE_NAME,
    POD_NETWORK_PREFIX,
    REAL_NODE_PLACEMENT,
    node_operator_chart_flags,
    registry_image,
)
from tests.e2e.test_real_node import PodWatch
from tests.harness import REPO, Cluster, json_lines, wait_for
from tests.integration.test_helm_install import helm, run
from workqueue_operator.api.common import Framework
from workqueue_operator.telemetry.client import fetch_samples

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
__all__ = ["helm"]  # the fixture, for pytest

TASKS = 20
# Ports of the operator in the node's network: clear of the test session's operator (8080).
METRICS_PORT, HEALTH_PORT = 18480, 18481

# The programs a user writes, with the ndcctools API, from what the operator tells them in the
# environment (WORKQUEUE_PORT, and where the telemetry sidecar reads the manager's log).
MANAGER_PROGRAMS = {
    Framework.WORK_QUEUE: textwrap.dedent(
        f"""
        import json, os, ndcctools.work_queue as wq
        wq.set_debug_flag("tcp", "ssl")  # on stderr: who connects, for a timeout's account
        tls = os.environ.get("WORKQUEUE_SSL_KEY"), os.environ.get("WORKQUEUE_SSL_CERT")
        q = wq.WorkQueue(port=int(os.environ["WORKQUEUE_PORT"]), ssl=tls if all(tls) else None)
        q.specify_transactions_log(os.environ["WORKQUEUE_TRANSACTIONS_LOG"])
        q.enable_monitoring()
        for i in range({TASKS}):
            t = wq.Task(f"echo task-{{i}} $(hostname -i)")
            t.specify_cores(1)
            q.submit(t)
        ok = 0
        while not q.empty():
            t = q.wait(5)
            if t:
                ok += int(t.result == 0 and t.return_status == 0)
                print(json.dumps({{"task": t.id, "output": t.output.strip()}}), flush=True)
        print(json.dumps({{"all_done": ok}}), flush=True)
        while True:  # stay up, idle, until the WorkQueueManager is deleted
            q.wait(5)
        """
    ),
    Framework.TASKVINE: textwrap.dedent(
        f"""
        import json, os, ndcctools.taskvine as vine
        tls = os.environ.get("WORKQUEUE_SSL_KEY"), os.environ.get("WORKQUEUE_SSL_CERT")
        m = vine.Manager(
            port=int(os.environ["WORKQUEUE_PORT"]),
            run_info_path=os.environ["WORKQUEUE_RUN_INFO_PATH"],
            ssl=tls if all(tls) else None,
        )
        m.enable_monitoring()
        for i in range({TASKS}):
            t = vine.Task(f"echo task-{{i}} $(hostname -i)")
            t.set_cores(1)
            m.submit(t)
        ok = 0
        while not m.empty():
            t = m.wait(5)
            if t:
                ok += int(t.successful())
                print(json.dumps({{"task": t.id, "output": t.output.strip()}}), flush=True)
        print(json.dumps({{"all_done": ok}}), flush=True)
        while True:  # stay up, idle, until the WorkQueueManager is deleted
            m.wait(5)
        """
    ),
}


@pytest.fixture
def own_namespace(cluster: Cluster) -> Iterator[str]:
    name = f"wqnode-incluster-{uuid.uuid4().hex[:6]}"
    cluster.create_namespace(name)
    yield name
    cluster.kubectl("delete", "wqpool,wqm", "--all", "--timeout=60s", namespace=name, check=False)
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def manager_and_pool(
    framework: Framework, worker_image: str, manager_image: str, *, tls: bool = False
) -> str:
    placement = json.dumps(REAL_NODE_PLACEMENT)
    manager: dict[str, Any] = {
        "apiVersion": "workqueue.dev/v1alpha1",
        "kind": "WorkQueueManager",
        "metadata": {"name": "mgr"},
        "spec": {
            "mode": "InCluster",
            "framework": str(framework),
            "image": manager_image,
            "command": ["python3", "-c", MANAGER_PROGRAMS[framework]],
            "pollIntervalSeconds": 1,
            "resources": {"cpu": "100m", "memory": "256Mi"},
            "template": json.loads(placement),
        },
    }
    if tls:
        manager["spec"]["tls"] = {}
    pool: dict[str, Any] = {
        "apiVersion": "workqueue.dev/v1alpha1",
        "kind": "WorkerPool",
        "metadata": {"name": "workers"},
        "spec": {
            "managerRef": {"name": "mgr"},
            "image": worker_image,
            "minWorkers": 0,
            "maxWorkers": 1,
            "worker": {"cores": 1, "memory": "256Mi", "disk": "1Gi"},
            "autoscale": {"pollIntervalSeconds": 1, "idleDelaySeconds": 2, "cooldownSeconds": 2},
            "template": json.loads(placement),
        },
    }
    return json.dumps(manager) + "\n---\n" + json.dumps(pool)


def manager_log_lines(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    out = cluster.kubectl(
        "logs", "deploy/mgr", "-c", "manager", namespace=namespace, check=False
    ).stdout
    return json_lines(out)


@pytest.mark.usefixtures("real_node")
@pytest.mark.parametrize(
    ("framework", "tls"),
    [(Framework.WORK_QUEUE, False), (Framework.TASKVINE, False), (Framework.WORK_QUEUE, True)],
    ids=["WorkQueue", "TaskVine", "WorkQueue-tls"],
)
def test_operator_manager_and_workers_all_run_in_pods_on_the_real_node(
    framework: Framework,
    tls: bool,
    crds: Cluster,
    own_namespace: str,
    helm: tuple[Path, dict[str, str]],
) -> None:
    namespace, cluster = own_namespace, crds
    operator_image = registry_image("operator")
    run(
        helm,
        "install",
        "wq",
        str(REPO / "helm" / "workqueue-operator"),
        "-n",
        namespace,
        "--wait",
        "--timeout=4m",
        *node_operator_chart_flags(
            operator_image, metrics_port=METRICS_PORT, health_port=HEALTH_PORT
        ),
    )
    try:
        cluster.apply(
            manager_and_pool(
                framework, registry_image("worker"), registry_image("manager"), tls=tls
            ),
            namespace,
        )

        def all_done() -> dict[str, Any] | None:
            return next(
                (line for line in manager_log_lines(cluster, namespace) if "all_done" in line), None
            )

        with PodWatch(cluster, namespace) as watch:
            summary = wait_for(
                all_done,
                timeout=300,
                what=f"the manager's {TASKS} tasks done",
                explain=lambda: cluster.namespace_account(namespace, log_lines=30),
            )
        assert summary["all_done"] == TASKS, summary
        results = [line for line in manager_log_lines(cluster, namespace) if "task" in line]
        assert sorted(r["output"].split()[0] for r in results) == sorted(
            f"task-{i}" for i in range(TASKS)
        )
        # Tasks ran in worker pods (pod network), not in the manager's pod.
        manager_pod = json.loads(
            cluster.kubectl(
                "get", "pods", "-l", "workqueue.dev/manager=mgr", "-o", "json", namespace=namespace
            ).stdout
        )["items"][0]
        worker_ips = {r["output"].split()[1] for r in results}
        assert all(ip.startswith(POD_NETWORK_PREFIX) for ip in worker_ips), worker_ips
        assert manager_pod["status"]["podIP"] not in worker_ips
        assert manager_pod["spec"]["nodeName"] == NODE_NAME

        # The operator in its pod read the manager's status through the Service.
        def reachable() -> dict[str, Any] | None:
            status = (cluster.get("wqm", "mgr", namespace) or {}).get("status", {})
            queue = status.get("queue") or {}
            return status if queue.get("tasksDone", 0) >= TASKS else None

        status = wait_for(reachable, timeout=60, what="the operator's status of the manager")
        assert status["address"].startswith("mgr."), status
        if tls:
            # Through TLS, the certificate checked against the Secret the operator made, and
            # every worker connected with --ssl.
            secret = cluster.get("secret", "mgr-tls", namespace)
            assert secret is not None and secret["type"] == "kubernetes.io/tls"
            assert watch.commands and all("--ssl" in c for c in watch.commands)
        # The telemetry sidecar followed the manager's own log (TaskVine: its run-info
        # directory's most-recent/vine-logs/transactions) and serves every task's sample.
        agent = f"http://{manager_pod['status']['podIP']}:9090"
        samples = wait_for(
            lambda: sum(len(v) for v in asyncio.run(fetch_samples(agent)).values()) >= TASKS,
            timeout=60,
            what="the telemetry sidecar's samples of every task",
        )
        assert samples
        # ...and scales the pool back to 0 once the queue is empty.
        wait_for(
            lambda: (
                not json.loads(
                    cluster.kubectl(
                        "get",
                        "pods",
                        "-l",
                        "workqueue.dev/pool=workers",
                        "-o",
                        "json",
                        namespace=namespace,
                    ).stdout
                )["items"]
            ),
            timeout=120,
            what="the pool back at 0 pods",
        )
        operator_pod = json.loads(
            cluster.kubectl(
                "get",
                "pods",
                "-l",
                "app.kubernetes.io/name=workqueue-operator",
                "-o",
                "json",
                namespace=namespace,
            ).stdout
        )["items"][0]
        assert operator_pod["spec"]["nodeName"] == NODE_NAME
        assert operator_pod["spec"]["containers"][0]["image"] == operator_image
    finally:
        cluster.kubectl(
            "delete", "wqpool,wqm", "--all", "--timeout=60s", namespace=namespace, check=False
        )
        run(helm, "uninstall", "wq", "-n", namespace, "--timeout=2m")
