"""TLS between a manager and its worker pods on the real node, Work Queue and TaskVine
(CCTools 7.17.1 ``ssl``): the test's manager holds a key and a certificate for the node's
address, the WorkQueueManager names the ConfigMap of its CA, the operator polls it through TLS
with the certificate checked, and the pool's workers connect with ``--ssl`` and run every task.
(CCTools' workers encrypt but do not check the manager's certificate: docs/security.md.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.cctools.manager import ManagerFactory
from tests.e2e.realnode import NODE_IP, external_manager, free_cpu_millicores
from tests.e2e.test_real_node import PodWatch, collect, real_node_pool
from tests.harness import Cluster, wait_for
from workqueue_operator.api.common import Framework
from workqueue_operator.managers.tls import self_signed

pytestmark = pytest.mark.e2e

TASKS = 20


@pytest.mark.usefixtures("real_node")
@pytest.mark.parametrize("framework", list(Framework))
def test_workers_on_the_real_node_run_every_task_over_tls(
    framework: Framework,
    operator: Cluster,
    namespace: str,
    manager_factory: ManagerFactory,
    tmp_path: Path,
) -> None:
    wait_for(
        lambda: free_cpu_millicores(operator) >= 1000, timeout=300, what="a free CPU on the node"
    )
    made = self_signed("manager", ["manager"], datetime.now(UTC), ip_addresses=(NODE_IP,))
    key, cert = tmp_path / "tls.key", tmp_path / "tls.crt"
    key.write_bytes(made.key_pem)
    cert.write_bytes(made.certificate_pem)
    manager = manager_factory(framework=framework, ssl=(key, cert))
    for i in range(TASKS):
        manager.submit(f"echo secret-{i}", cores=1)
    operator.kubectl("create", "configmap", "ca", f"--from-file=ca.crt={cert}", namespace=namespace)
    operator.apply(
        external_manager(
            manager.port, framework=framework, extra="tls:\n  caConfigMapRef: {name: ca}"
        ),
        namespace,
    )
    with PodWatch(operator, namespace) as watch:
        operator.apply(json.dumps(real_node_pool(max_workers=1, memory="256Mi")), namespace)
        finished = collect(manager, TASKS, timeout=300)
        reachable = operator.wait_condition(
            "wqm", "mgr", namespace, "Reachable", status="True", what="the TLS poll answered"
        )
        wait_for(lambda: watch.alive_now == 0, timeout=120, what="the pool back at 0 pods")

    tasks = [t for _, t in finished]
    assert sorted(t.output.strip() for t in tasks) == sorted(f"secret-{i}" for i in range(TASKS))
    assert all(t.ok for t in tasks)
    assert reachable["reason"] == "StatusAnswered"
    expected = "vine_worker" if framework is Framework.TASKVINE else "work_queue_worker"
    assert watch.programs == {expected}
    assert watch.commands and all("--ssl" in command for command in watch.commands)
