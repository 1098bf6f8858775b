"""A namespace holding every kind is deleted while the operator is stopped, and goes.

The operator keeps no finalizer on its objects (owner references remove the pods, Deployments,
Services and Jobs it made), and takes off the one earlier versions put on every object, so a
namespace never waits for an operator that is stopped or uninstalled. This test runs its own
operator (``workqueue-operator run --namespace NS`` as a subprocess) in a namespace outside the
session operator's pattern, stops it, then deletes the namespace."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.cctools.manager import ManagerFactory
from tests.e2e.operator_process import OperatorProcess
from tests.harness import Cluster, condition, wait_for
from tests.manifests import external_manager, manifest, worker_pool

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

OLD_FINALIZER = "workqueue.dev/finalizer"


def objects(port: int) -> str:
    pool = "minWorkers: 2\nautoscale: {pollIntervalSeconds: 1}"
    env = "spec: {pip: [six==1.16.0]}\noutput: {tarball: {pvc: {claimName: envs}}}"
    return "---\n".join(
        [
            external_manager(port),
            worker_pool("workers", pool),
            manifest("PonchoEnv", "env", env),
        ]
    )


def test_a_namespace_with_every_kind_goes_while_the_operator_is_down(
    crds: Cluster, manager_factory: ManagerFactory, tmp_path: Path
) -> None:
    namespace = f"nofin-{uuid.uuid4().hex[:8]}"
    crds.create_namespace(namespace)
    manager = manager_factory()
    # An object as an earlier operator left it: with the finalizer every object used to get.
    old = {
        "apiVersion": "workqueue.dev/v1alpha1",
        "kind": "WorkQueueManager",
        "metadata": {"name": "old", "finalizers": [OLD_FINALIZER]},
        "spec": {"mode": "External", "address": f"127.0.0.1:{manager.port}"},
    }
    crds.apply(json.dumps(old), namespace)
    crds.apply(objects(manager.port), namespace)
    operator = OperatorProcess(crds, namespace, tmp_path)
    operator.start()
    try:
        for kind, name in (("wqm", "mgr"), ("wqm", "old"), ("wqpool", "workers"), ("penv", "env")):
            wait_for(
                lambda kind=kind, name=name: condition(crds.get(kind, name, namespace), "Accepted"),
                timeout=60,
                what=f"{kind}/{name} judged by the operator",
            )
        wait_for(
            lambda: len(
                crds.kubectl(
                    "get", "pods", "-l", "workqueue.dev/pool=workers", "-o", "name",
                    namespace=namespace,
                ).stdout.split()
            ) == 2,
            timeout=60,
            what="the pool's two pods",
        )  # fmt: skip
        wait_for(
            lambda: (
                not (crds.get("wqm", "old", namespace) or {}).get("metadata", {}).get("finalizers")
            ),
            timeout=30,
            what="the old finalizer taken off",
        )
        for kind in ("wqm", "wqpool", "penv"):
            items = json.loads(crds.kubectl("get", kind, "-o", "json", namespace=namespace).stdout)
            assert all(not i["metadata"].get("finalizers") for i in items["items"]), items
    finally:
        operator.stop()

    crds.kubectl("delete", "namespace", namespace, "--wait=false")
    wait_for(
        lambda: crds.kubectl("get", "namespace", namespace, check=False).returncode != 0,
        timeout=120,
        what=f"namespace {namespace} gone with the operator stopped",
    )
