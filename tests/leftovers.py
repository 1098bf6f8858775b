"""What a killed test run leaves on the cluster, and clearing it when the next run starts.

A run stopped half-way (Ctrl-C, a timeout, a killed CI job) never deletes its namespaces: their
pods keep holding the real node's CPUs, so the next run's real-node tests wait for room and
fail, and the Helm releases' cluster-scoped RBAC stays, so the next `helm install` of the same
release name in another namespace is refused. Every test namespace names the process that
made it (``OWNER_PID_LABEL``, set by ``Cluster.create_namespace``); once that process is gone
the namespace is left over. Runs that are still going (another pytest, a bench) keep theirs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from e2e.hostrunner.runner import process_alive

from tests.harness import OWNER_PID_LABEL, Cluster

# Helm marks every object of a release with the release's namespace.
RELEASE_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
# The chart's objects (tests/e2e and tests/integration install it under many release names).
CHART_SELECTOR = "app.kubernetes.io/part-of=workqueue-operator"
# The project's objects whose finalizer only a running operator would remove.
FINALIZED_KINDS = (
    "workerpools.workqueue.dev,workqueuemanagers.workqueue.dev,ponchoenvs.workqueue.dev"
)


def left_over_namespaces(
    namespaces: Iterable[Mapping[str, Any]], alive: Callable[[int], bool]
) -> list[str]:
    """The test namespaces whose owner process is gone (Terminating ones too: their deletion
    may wait on a finalizer nobody will remove)."""
    found = []
    for namespace in namespaces:
        metadata = namespace.get("metadata", {})
        owner = (metadata.get("labels") or {}).get(OWNER_PID_LABEL, "")
        if owner.isdigit() and not alive(int(owner)):
            found.append(metadata["name"])
    return sorted(found)


def orphaned_release_objects(
    objects: Iterable[Mapping[str, Any]], existing_namespaces: set[str]
) -> list[str]:
    """``kind/name`` of the cluster-scoped objects of Helm releases whose namespace is gone or
    going."""
    found = []
    for obj in objects:
        metadata = obj.get("metadata", {})
        release_namespace = (metadata.get("annotations") or {}).get(RELEASE_NAMESPACE_ANNOTATION)
        if release_namespace is not None and release_namespace not in existing_namespaces:
            found.append(f"{obj['kind'].lower()}/{metadata['name']}")
    return sorted(found)


def clear_leftovers(cluster: Cluster) -> list[str]:
    """Delete what killed runs left: their namespaces (their project objects' finalizers
    cleared first, since no operator watches them any more) and their Helm releases'
    ClusterRoles and ClusterRoleBindings. Returns what it deleted."""
    namespaces = _items(cluster, "namespaces")
    doomed = left_over_namespaces(namespaces, process_alive)
    for name in doomed:
        _clear_finalizers(cluster, name)
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
    staying = {
        n["metadata"]["name"]
        for n in namespaces
        if n["metadata"]["name"] not in doomed and "deletionTimestamp" not in n["metadata"]
    }
    chart_objects = _items(cluster, "clusterroles,clusterrolebindings", "-l", CHART_SELECTOR)
    released = orphaned_release_objects(chart_objects, staying)
    if released:
        cluster.kubectl("delete", *released, "--ignore-not-found", check=False)
    return [f"namespace/{name}" for name in doomed] + released


def _clear_finalizers(cluster: Cluster, namespace: str) -> None:
    for obj in _items(cluster, FINALIZED_KINDS, namespace=namespace):
        cluster.kubectl(
            "patch",
            f"{obj['kind'].lower()}.workqueue.dev/{obj['metadata']['name']}",
            "--type=merge",
            "-p",
            '{"metadata":{"finalizers":null}}',
            namespace=namespace,
            check=False,
        )


def _items(
    cluster: Cluster, kinds: str, *selector: str, namespace: str | None = None
) -> list[dict[str, Any]]:
    result = cluster.kubectl(
        "get", kinds, *selector, "-o", "json", namespace=namespace, check=False
    )
    if result.returncode != 0:
        return []
    items: list[dict[str, Any]] = json.loads(result.stdout).get("items", [])
    return items
