"""What a killed test run leaves on the cluster, and clearing it when the next run starts.

A run stopped half-way (Ctrl-C, a timeout, a killed CI job) never deletes its namespaces: their
pods keep holding the real node's CPUs, so the next run's real-node tests wait for room and
fail, and the Helm releases' cluster-scoped RBAC stays, so the next `helm install` of the same
release name in another namespace is refused. Every test namespace names the process and host
that made it (``owner_labels``, set by ``Cluster.create_namespace``); once that process is gone
from this host the namespace is left over. Runs still going (another pytest, a bench) and runs
of other hosts keep theirs; namespaces without those labels (the demo's, a user's) are never
touched.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from e2e.processes import process_alive

from tests.harness import OWNER_HOST_LABEL, OWNER_PID_LABEL, Cluster, owner_host

# Helm marks every object of a release with the release's namespace.
RELEASE_NAMESPACE_ANNOTATION = "meta.helm.sh/release-namespace"
# The chart's objects (tests/e2e and tests/integration install it under many release names).
CHART_SELECTOR = "app.kubernetes.io/part-of=workqueue-operator"
# The project's objects whose finalizer only a running operator would remove.
FINALIZED_KINDS = (
    "workerpools.workqueue.dev,workqueuemanagers.workqueue.dev,ponchoenvs.workqueue.dev"
)


def owner_alive(labels: Mapping[str, str]) -> bool:
    """Whether the process that made a namespace with these labels may still run: it does
    here, or it ran on another host (which this one cannot check), or the labels do not say."""
    pid = labels.get(OWNER_PID_LABEL, "")
    if not pid.isdigit() or labels.get(OWNER_HOST_LABEL) != owner_host():
        return True
    return process_alive(int(pid))


def left_over_namespaces(
    namespaces: Iterable[Mapping[str, Any]], alive: Callable[[Mapping[str, str]], bool]
) -> list[str]:
    """The test namespaces whose owner is gone (Terminating ones too: their deletion may wait
    on a finalizer nobody will remove). Namespaces without owner labels are not tests'."""
    found = []
    for namespace in namespaces:
        metadata = namespace.get("metadata", {})
        labels = metadata.get("labels") or {}
        if OWNER_PID_LABEL in labels and not alive(labels):
            found.append(metadata["name"])
    return sorted(found)


def orphaned_release_objects(
    objects: Iterable[Mapping[str, Any]], doomed: set[str], missing: Callable[[str], bool]
) -> list[str]:
    """``kind/name`` of the chart's cluster-scoped objects whose release namespace is one
    being cleared (``doomed``) or does not exist (``missing``, asked after ``objects`` were
    listed, so a release installed in a new namespace meanwhile is not taken for an orphan;
    one that recreates the namespace of an orphan and adopts it between that question and the
    delete can still lose it)."""
    found = []
    for obj in objects:
        metadata = obj.get("metadata", {})
        release_namespace = (metadata.get("annotations") or {}).get(RELEASE_NAMESPACE_ANNOTATION)
        if release_namespace is None:
            continue
        if release_namespace in doomed or missing(release_namespace):
            found.append(f"{obj['kind'].lower()}/{metadata['name']}")
    return sorted(found)


def clear_leftovers(cluster: Cluster) -> list[str]:
    """Delete what killed runs left: their namespaces (their project objects' finalizers
    cleared first, since no operator watches them any more) and the ClusterRoles and
    ClusterRoleBindings of releases in those namespaces or in namespaces that are gone.
    Returns what it deleted."""
    chart_objects = _items(cluster, "clusterroles,clusterrolebindings", "-l", CHART_SELECTOR)
    doomed = left_over_namespaces(_items(cluster, "namespaces"), owner_alive)
    for name in doomed:
        _clear_finalizers(cluster, name)
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)

    def missing(namespace: str) -> bool:
        found = cluster.kubectl("get", "namespace", namespace, "-o", "name", check=False)
        return found.returncode != 0 and "NotFound" in found.stderr

    released = orphaned_release_objects(chart_objects, set(doomed), missing)
    if released:
        cluster.kubectl("delete", *released, "--ignore-not-found", check=False)
    return [f"namespace/{name}" for name in doomed] + released


def _clear_finalizers(cluster: Cluster, namespace: str) -> None:
    """Clear the project's finalizers in ``namespace`` (nothing to do when the cluster has no
    CRDs of the project yet: the sweep runs before the session applies them)."""
    for obj in _items(cluster, FINALIZED_KINDS, namespace=namespace, none_when_failed=True):
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
    cluster: Cluster,
    kinds: str,
    *selector: str,
    namespace: str | None = None,
    none_when_failed: bool = False,
) -> list[dict[str, Any]]:
    """The objects, or an error: a listing that failed is never read as "there are none"
    unless the caller says so (``none_when_failed``: finalizers of kinds the cluster may not
    know yet)."""
    result = cluster.kubectl(
        "get", kinds, *selector, "-o", "json", namespace=namespace, check=not none_when_failed
    )
    if result.returncode != 0:
        return []
    items: list[dict[str, Any]] = json.loads(result.stdout).get("items", [])
    return items
