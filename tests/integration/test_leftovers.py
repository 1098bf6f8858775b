"""Clearing what a killed test run left, against the real apiserver: its namespaces (with a
WorkerPool whose finalizer no operator will remove) and its Helm release's cluster RBAC go;
those of a run that is still going stay."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from tests.harness import OWNER_PID_LABEL, Cluster, wait_for
from tests.leftovers import CHART_SELECTOR, RELEASE_NAMESPACE_ANNOTATION, clear_leftovers
from tests.manifests import worker_pool

pytestmark = pytest.mark.integration


def gone_process() -> int:
    """The id of a process that has ended."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    return ended.pid


def namespace_of(cluster: Cluster, name: str, owner_pid: int) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {OWNER_PID_LABEL: str(owner_pid)}},
    }
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))


def release_cluster_role(cluster: Cluster, name: str, release_namespace: str) -> None:
    key, value = CHART_SELECTOR.split("=")
    manifest = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": name,
            "labels": {key: value},
            "annotations": {RELEASE_NAMESPACE_ANNOTATION: release_namespace},
        },
        "rules": [],
    }
    cluster.kubectl("create", "-f", "-", input=json.dumps(manifest))


def test_a_killed_runs_namespaces_and_release_rbac_are_cleared(crds: Cluster) -> None:
    suffix = uuid.uuid4().hex[:6]
    killed, running = f"leftover-killed-{suffix}", f"leftover-running-{suffix}"
    namespace_of(crds, killed, gone_process())
    namespace_of(crds, running, 1)  # init: always alive
    crds.apply(
        worker_pool("stuck", "maxWorkers: 1").replace(
            "metadata:\n", "metadata:\n  finalizers: [kopf.zalando.org/KopfFinalizerMarker]\n", 1
        ),
        namespace=killed,
    )
    release_cluster_role(crds, f"{killed}-workqueue-operator-discovery", killed)
    release_cluster_role(crds, f"{running}-workqueue-operator-discovery", running)
    try:
        cleared = clear_leftovers(crds)

        assert f"namespace/{killed}" in cleared
        assert f"clusterrole/{killed}-workqueue-operator-discovery" in cleared
        assert not any(running in c for c in cleared), cleared
        wait_for(
            lambda: "NotFound" in crds.kubectl("get", "ns", killed, check=False).stderr,
            timeout=120,
            what=f"the namespace {killed} to be gone (its WorkerPool's finalizer cleared)",
        )
        assert (
            crds.kubectl(
                "get", "clusterrole", f"{killed}-workqueue-operator-discovery", check=False
            ).returncode
            != 0
        )
        assert crds.get("namespace", running, namespace="") is not None
        assert (
            crds.kubectl("get", "clusterrole", f"{running}-workqueue-operator-discovery").returncode
            == 0
        )
    finally:
        crds.kubectl("delete", "namespace", running, "--wait=false", check=False)
        crds.kubectl(
            "delete", "clusterrole", f"{running}-workqueue-operator-discovery", check=False
        )
