"""`helm install` of the chart into the local control plane, then `helm uninstall`: the
apiserver accepts every object, the operator's pod passes the `restricted` Pod Security
Standard, its ServiceAccount may do what the operator does (and no more), and uninstalling
leaves nothing behind but the CRDs (Helm never deletes CRDs).

No `--wait`: on KWOK the operator's pod is marked Running without any process, so waiting for
it says nothing about the chart. What is checked is what the cluster really decides: admission
(schema, Pod Security) of every object and of the pod the ReplicaSet creates, and RBAC.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CRD_NAMES
from tests.harness import REPO, Cluster, wait_for
from tests.unit.test_helm_chart import CHART, helm_binary

pytestmark = pytest.mark.integration

NAMESPACED_KINDS = (
    "deployment,replicaset,pod,service,serviceaccount,configmap,role,rolebinding,networkpolicy"
)
CLUSTER_KINDS = "clusterrole,clusterrolebinding"


@pytest.fixture
def helm(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """The helm binary and an environment pointing it at the local cluster, with its own
    cache, config and data directories."""
    binary = helm_binary()
    if binary is None:
        pytest.skip("helm not found: run `bash e2e/cluster/build.sh` (builds it into the cache)")
    env = cluster.env | {
        "HELM_CACHE_HOME": str(tmp_path / "helm-cache"),
        "HELM_CONFIG_HOME": str(tmp_path / "helm-config"),
        "HELM_DATA_HOME": str(tmp_path / "helm-data"),
    }
    yield binary, env


def run(helm: tuple[Path, dict[str, str]], *args: str) -> str:
    binary, env = helm
    result = subprocess.run(
        [str(binary), *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def items(
    cluster: Cluster, kinds: str, selector: str, namespace: str | None
) -> list[dict[str, Any]]:
    args = ["get", kinds, "-l", selector, "-o", "json"]
    args += ["-n", namespace] if namespace else []
    found: list[dict[str, Any]] = json.loads(cluster.kubectl(*args).stdout)["items"]
    return found


Grants = dict[str, frozenset[str]]
"""Resource (``name.group``, ``name`` for the core group, ``name/subresource``) -> verbs."""
EVERY_ACCOUNT = frozenset(
    {
        "selfsubjectreviews.authentication.k8s.io",
        "selfsubjectaccessreviews.authorization.k8s.io",
        "selfsubjectrulesreviews.authorization.k8s.io",
        "clustertrustbundles.certificates.k8s.io",
    }
)
"""What every ServiceAccount may do by the default RBAC policy (system:basic-user and the
like): not the chart's."""
CLUSTER_RESOURCES = frozenset({"namespaces", "customresourcedefinitions.apiextensions.k8s.io"})
"""The chart's cluster-scoped grants (kopf's discovery), valid in every namespace."""


def granted(cluster: Cluster, account: str, namespace: str) -> Grants:
    """``kubectl auth can-i --list``: what ``account`` may do in ``namespace`` (resources only,
    without the grants every account has)."""
    out = cluster.kubectl("auth", "can-i", "--list", f"--as={account}", "-n", namespace).stdout
    found: dict[str, set[str]] = {}
    for line in out.splitlines()[1:]:
        columns = line.split()
        if not columns or line.startswith(" ") or columns[0] in EVERY_ACCOUNT:
            continue  # a non-resource URL, or a default grant
        verbs = line[line.rindex("[") + 1 : line.rindex("]")].split()
        found.setdefault(columns[0], set()).update(verbs)
    return {resource: frozenset(verbs) for resource, verbs in found.items()}


def documented() -> Grants:
    """The RBAC table of docs/helm.md, as the same resource -> verbs mapping."""
    text = (REPO / "docs" / "helm.md").read_text()
    table = text[text.index("## RBAC") :]
    found: dict[str, set[str]] = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        group = cells[0].strip("`").strip('"')
        for resource in re.findall(r"`([^`]+)`", cells[1]):
            names = (
                [
                    f"{kind}/{resource[2:]}"
                    for kind in ("workqueuemanagers", "workerpools", "ponchoenvs")
                ]
                if resource.startswith("*/")
                else [resource]
            )
            for name in names:
                base, _, sub = name.partition("/")
                key = f"{base}.{group}" if group else base
                found.setdefault(f"{key}/{sub}" if sub else key, set()).update(cells[2].split())
    return {resource: frozenset(verbs) for resource, verbs in found.items()}


def can_i(cluster: Cluster, account: str, verb: str, resource: str, namespace: str) -> bool:
    result = cluster.kubectl(
        "auth", "can-i", verb, resource, f"--as={account}", "-n", namespace, check=False
    )
    return result.stdout.strip() == "yes"


@pytest.mark.parametrize("namespaced", [False, True], ids=["cluster-rbac", "namespaced-rbac"])
def test_helm_install_and_uninstall(
    cluster: Cluster, namespace: str, helm: tuple[Path, dict[str, str]], namespaced: bool
) -> None:
    release = f"wqop-{uuid.uuid4().hex[:6]}"
    selector = f"app.kubernetes.io/instance={release}"
    cluster.kubectl(
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/enforce-version=latest",
    )
    values = [
        f"--set=rbac.namespaced={str(namespaced).lower()}",
        "--set=dashboards.enabled=true",
        "--set=networkPolicy.enabled=true",
    ]
    try:
        run(helm, "install", release, str(CHART), "-n", namespace, "--timeout=2m", *values)
        status = json.loads(run(helm, "status", release, "-n", namespace, "-o", "json"))
        assert status["info"]["status"] == "deployed"

        objects = items(cluster, NAMESPACED_KINDS, selector, namespace)
        found = {o["kind"] for o in objects}
        assert {"Deployment", "Service", "ServiceAccount", "ConfigMap", "NetworkPolicy"} <= found
        cluster_objects = items(cluster, CLUSTER_KINDS, selector, None)
        if namespaced:
            assert {"Role", "RoleBinding"} <= found
            # Only the discovery role (namespaces and CRDs, list/watch) is cluster-wide.
            assert len(cluster_objects) == 2
        else:
            assert {o["kind"] for o in cluster_objects} == {"ClusterRole", "ClusterRoleBinding"}

        # The ReplicaSet's pod got past Pod Security admission (restricted) in this namespace.
        pods = wait_for(
            lambda: items(cluster, "pod", selector, namespace),
            timeout=90,
            what="the operator's pod",
        )
        assert pods[0]["spec"]["securityContext"]["runAsNonRoot"] is True

        (deployment,) = (o for o in objects if o["kind"] == "Deployment")
        account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        user = f"system:serviceaccount:{namespace}:{account}"
        for verb, resource in (
            ("create", "pods"),
            ("delete", "pods"),
            ("patch", "workerpools.workqueue.dev"),
            ("patch", "workqueuemanagers.workqueue.dev/status"),
            ("create", "deployments.apps"),
            ("get", "secrets"),
            ("create", "jobs.batch"),
            ("get", "pods/log"),
            ("create", "events"),
        ):
            assert can_i(cluster, user, verb, resource, namespace), (verb, resource)
        for verb, resource in (
            ("delete", "deployments.apps"),
            ("list", "secrets"),
            ("delete", "workerpools.workqueue.dev"),
            ("create", "clusterroles.rbac.authorization.k8s.io"),
        ):
            assert not can_i(cluster, user, verb, resource, namespace), (verb, resource)
        # Cluster-wide RBAC reaches every namespace; namespaced RBAC only its own.
        assert can_i(cluster, user, "create", "pods", "default") is not namespaced
        # Exactly the documented grants, in the operator's namespace; elsewhere, the same
        # (cluster-wide) or only the cluster-scoped discovery grants (namespaced).
        assert granted(cluster, user, namespace) == documented()
        elsewhere = granted(cluster, user, "default")
        if namespaced:
            assert elsewhere == {r: v for r, v in documented().items() if r in CLUSTER_RESOURCES}
        else:
            assert elsewhere == documented()
    finally:
        run(helm, "uninstall", release, "-n", namespace, "--timeout=2m")

    def leftovers() -> list[str]:
        left = items(cluster, NAMESPACED_KINDS, selector, namespace)
        left += items(cluster, CLUSTER_KINDS, selector, None)
        left += items(cluster, "secret", f"owner=helm,name={release}", namespace)
        return [f"{o['kind']}/{o['metadata']['name']}" for o in left]

    wait_for(lambda: not leftovers() or None, timeout=90, what=f"nothing left of {release}")
    assert leftovers() == []
    # Helm keeps CRDs: they were applied (by helm or by other tests) and are still there.
    for crd in CRD_NAMES:
        assert cluster.get("crd", crd, "") is not None
