"""Clearing what a killed test run left, against the real apiserver: its namespaces (with a
WorkerPool whose finalizer no operator will remove) and its Helm release's cluster RBAC go,
and so does the RBAC of a release whose namespace is gone; those of a run that is still going,
and of a namespace no test made (the demo's, a user's), stay."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from tests.harness import Cluster, wait_for
from tests.leftovers import CHART_SELECTOR, RELEASE_NAMESPACE_ANNOTATION, clear_leftovers
from tests.manifests import worker_pool

pytestmark = pytest.mark.integration


# Above the largest pid_max Linux allows (2**22): never a live process.
NO_PROCESS = 2**22 + 1


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


def exists(cluster: Cluster, *what: str) -> bool:
    return cluster.kubectl("get", *what, check=False).returncode == 0


def test_a_killed_runs_namespaces_and_release_rbac_are_cleared(crds: Cluster) -> None:
    suffix = uuid.uuid4().hex[:6]
    killed, running = f"leftover-killed-{suffix}", f"leftover-running-{suffix}"
    users, gone = f"leftover-users-{suffix}", f"leftover-gone-{suffix}"
    crds.create_namespace(killed, owner_pid=NO_PROCESS)
    crds.create_namespace(running, owner_pid=os.getpid())
    crds.kubectl("create", "namespace", users)  # no owner labels: not a test's
    crds.apply(
        worker_pool("stuck", "maxWorkers: 1").replace(
            "metadata:\n", "metadata:\n  finalizers: [kopf.zalando.org/KopfFinalizerMarker]\n", 1
        ),
        namespace=killed,
    )
    roles = {ns: f"{ns}-workqueue-operator-discovery" for ns in (killed, running, users, gone)}
    for namespace, role in roles.items():
        release_cluster_role(crds, role, namespace)
    try:
        cleared = clear_leftovers(crds)

        # (Another run's sweep may have cleared some of them first: the end state is checked.)
        assert not any(running in c or users in c for c in cleared), cleared
        wait_for(
            lambda: not exists(crds, "namespace", killed),
            timeout=120,
            what=f"the namespace {killed} to be gone (its WorkerPool's finalizer cleared)",
        )
        assert not exists(crds, "clusterrole", roles[killed])
        assert not exists(crds, "clusterrole", roles[gone])
        for kept in (running, users):
            assert exists(crds, "namespace", kept)
            assert exists(crds, "clusterrole", roles[kept])
    finally:
        for kept in (running, users):
            crds.kubectl("delete", "namespace", kept, "--wait=false", check=False)
            crds.kubectl("delete", "clusterrole", roles[kept], check=False)
