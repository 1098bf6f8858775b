"""The manager's password never shows: not in the operator's log (debug level), its Events,
the objects' status, its metrics, nor in anything ``kubectl describe`` shows of the pods and
Deployments it makes (arguments, environment). Workers and the telemetry agent get the password
as a mounted file; the operator reads it from the Secret only to answer the manager's password
handshake.

The operator runs as a subprocess (JSON log, debug level, metrics on a port of its own) in a
namespace of this test's own, with an External manager that requires the password (real, in
this process) and an InCluster one (its Deployment is made on KWOK nodes)."""

from __future__ import annotations

import base64
import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cctools.manager import ManagerFactory, free_port
from tests.e2e.operator_process import OperatorProcess
from tests.harness import Cluster, wait_for
from tests.manifests import external_manager, manifest, worker_pool

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture
def own_namespace(crds: Cluster) -> Iterator[str]:
    name = f"secret-{uuid.uuid4().hex[:8]}"
    crds.create_namespace(name)
    yield name
    crds.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_the_password_shows_nowhere(
    crds: Cluster, own_namespace: str, manager_factory: ManagerFactory, tmp_path: Path
) -> None:
    namespace, cluster = own_namespace, crds
    password = f"pw-{uuid.uuid4().hex}"
    password_file = tmp_path / "password"
    password_file.write_text(password)
    encoded = base64.b64encode(password.encode()).decode()
    manager = manager_factory(password_file=password_file)
    secret_ref = "passwordSecretRef: {name: wq-password}"
    inside = f"mode: InCluster\nimage: registry.example.org/me/manager:1\n{secret_ref}"
    pool = "minWorkers: 2\nautoscale: {pollIntervalSeconds: 1}"
    objects = [
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: wq-password}}\n"
        f"data: {{password: {encoded}}}\n",
        external_manager(manager.port, name="ext", extra=secret_ref),
        manifest("WorkQueueManager", "inside", inside),
        worker_pool("workers", pool, manager="ext"),
    ]
    cluster.apply("---\n".join(objects), namespace)
    metrics_port = free_port()
    operator = OperatorProcess(
        cluster, namespace, tmp_path, metrics_port=metrics_port, log_format="json", verbose=True
    )
    operator.start()
    try:
        cluster.wait_condition_true(
            "wqm",
            "ext",
            namespace,
            "Reachable",
            what="the password-protected manager reachable through the handshake",
        )
        wait_for(lambda: len(pods(cluster, namespace)) == 2, timeout=60, what="the pool's two pods")
        wait_for(
            lambda: cluster.get("deployment", "inside", namespace),
            timeout=60,
            what="the InCluster manager's Deployment",
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics") as response:
            metrics_text = response.read().decode()
    finally:
        operator.stop()

    seen = {
        "operator log": "".join(path.read_text(errors="replace") for path in operator.logs),
        "metrics": metrics_text,
        "describe": cluster.kubectl(
            "describe", "wqm,wqpool,pods,deployments,services", namespace=namespace
        ).stdout,
        "objects": cluster.kubectl(
            "get", "wqm,wqpool,pods,deployments", "-o", "yaml", namespace=namespace
        ).stdout,
        "events": cluster.kubectl("get", "events", "-o", "yaml", namespace=namespace).stdout,
    }
    assert (
        "DEBUG" in seen["operator log"].upper() or '"severity": "debug"' in seen["operator log"]
    ), "the operator's log should be at debug level for this test"
    assert "workqueue_operator_manager_reachable" in seen["metrics"]
    leaks = [where for where, text in seen.items() if password in text or encoded in text]
    assert leaks == [], f"the password shows in: {leaks}"
    # Where it is used, it is a file path.
    [worker] = pods(cluster, namespace)[:1]
    assert "/etc/workqueue/password/password" in worker["spec"]["containers"][0]["command"]


def pods(cluster: Cluster, namespace: str) -> list[dict[str, object]]:
    out = cluster.kubectl(
        "get", "pods", "-l", "workqueue.dev/pool=workers", "-o", "json", namespace=namespace
    ).stdout
    items: list[dict[str, object]] = json.loads(out)["items"]
    return items
