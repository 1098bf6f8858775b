"""The foundation against the real local control plane: CRDs, CEL rules, acceptance, scale,
printer columns, KWOK scheduling and namespace deletion."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.harness import Cluster, condition, wait_for
from tests.manifests import manifest, worker_pool

pytestmark = pytest.mark.integration


def pool_manifest(
    name: str, manager: str = "mgr", min_workers: int = 0, max_workers: int = 4
) -> str:
    return worker_pool(
        name,
        f"""
        minWorkers: {min_workers}
        maxWorkers: {max_workers}
        autoscale:
          enabled: false
        """,
        manager=manager,
    )


def manager_manifest(name: str) -> str:
    return manifest("WorkQueueManager", name, "mode: External\naddress: login1.example.org:9123")


def test_crds_are_established(crds: Cluster) -> None:
    names = crds.kubectl("get", "crd", "-o", "name").stdout.split()
    for crd in ("workqueuemanagers", "workerpools", "ponchoenvs"):
        assert f"customresourcedefinition.apiextensions.k8s.io/{crd}.workqueue.dev" in names


def test_apiserver_rejects_min_above_max_with_the_cel_message(
    crds: Cluster, namespace: str
) -> None:
    result = crds.apply(pool_manifest("bad", min_workers=5, max_workers=2), namespace, check=False)
    assert result.returncode != 0
    assert "minWorkers must be <= maxWorkers" in result.stderr
    assert crds.get("wqpool", "bad", namespace) is None


def test_apiserver_rejects_external_manager_without_address(crds: Cluster, namespace: str) -> None:
    missing_address = manager_manifest("m").replace("  address: login1.example.org:9123\n", "")
    result = crds.apply(missing_address, namespace, check=False)
    assert result.returncode != 0
    assert "mode External needs address" in result.stderr


def test_apiserver_rejects_both_manager_ref_and_address(crds: Cluster, namespace: str) -> None:
    both = pool_manifest("both") + "  manager:\n    address: h:9123\n"
    result = crds.apply(both, namespace, check=False)
    assert result.returncode != 0
    assert "exactly one of managerRef" in result.stderr


def ponchoenv_manifest(output: str) -> str:
    spec = 'spec: {pip: ["six==1.16.0"]}\noutput:\n' + textwrap.indent(output, "  ")
    return manifest("PonchoEnv", "env", spec)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (
            "tarball: {url: https://store.example.org/envs}\n"
            "image: {repository: registry.example.org/envs}\n",
            "output needs exactly one of tarball or image",
        ),
        ("{}\n", "output needs exactly one of tarball or image"),
        ("image: {repository: registry.example.org/envs:v1}\n", "spec.output.image.repository"),
    ],
)
def test_apiserver_rejects_a_ponchoenv_output_that_is_not_one_artefact(
    crds: Cluster, namespace: str, output: str, message: str
) -> None:
    result = crds.apply(ponchoenv_manifest(output), namespace, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert crds.get("penv", "env", namespace) is None


def test_an_object_store_tarball_url_gets_one_error_that_names_its_scheme(
    crds: Cluster, namespace: str
) -> None:
    result = crds.apply(ponchoenv_manifest("tarball: {url: 's3://bucket/envs'}\n"), namespace,
                        check=False)  # fmt: skip
    assert result.returncode != 0
    assert "s3:// and gs:// are not supported" in result.stderr, result.stderr
    assert result.stderr.count("Invalid value") == 1, result.stderr
    assert crds.get("penv", "env", namespace) is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("image: Team/Worker:1", 'spec.image: Invalid value: "Team/Worker:1": must be a container'),
        ("address: login1", "must be host:port, a DNS name or IPv4 address and a port"),
        ("worker: {memory: 4gb}", "must be a size in bytes: a number with an optional unit"),
        ("worker: {memory: 512}", "must be at least 1Mi: sizes are bytes"),
        ("template: {labels: {team: -x}}", "must be empty or letters, digits, '-', '_' and '.'"),
        ("sizing: {telemetryUrl: 'http://a b'}", "must be an http:// or https:// URL with a host"),
        ("sizing: {telemetryUrl: 'http://agent:9090/?x=1'}", "no query or fragment (paths are"),
        ("template: {affinity: {nodeAfinity: {}}}", 'unknown field "spec.template.affinity.nodeA'),
    ],
)
def test_apiserver_says_what_a_field_must_be_not_its_regular_expression_nor_drops_a_typo(
    crds: Cluster, namespace: str, spec: str, message: str
) -> None:
    manager = "manager: {address: 'login1.example.org:9123'}"
    if spec.startswith("address"):
        manager, spec = "manager: {" + spec + "}", ""
    result = crds.apply(manifest("WorkerPool", "bad", f"{manager}\n{spec}"), namespace, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert "should match" not in result.stderr, result.stderr


def test_apiserver_takes_whole_number_sizes_and_empty_lists_as_kubernetes_does(
    crds: Cluster, namespace: str
) -> None:
    env = manifest(
        "PonchoEnv",
        "ints",
        """
        spec: {pip: ["six==1.16.0"]}
        output: {tarball: {url: "https://store.example.org/envs"}}
        builder: {resources: {cpu: 2, memory: 2147483648, memoryLimit: 4Gi}}
        """,
    )
    crds.apply(env, namespace)
    external = "mode: External\naddress: login1.example.org:9123\nenv: []\ncommand: []\nargs: []"
    crds.apply(manifest("WorkQueueManager", "lists", external), namespace)
    assert crds.get("penv", "ints", namespace) is not None
    assert crds.get("wqm", "lists", namespace) is not None
    too_big = env.replace("memory: 2147483648", "memory: 8589934592")
    refused = crds.apply(too_big, namespace, check=False)
    assert "memory (the request) must not be more than memoryLimit" in refused.stderr


def test_valid_pool_is_accepted_with_observed_generation(operator: Cluster, namespace: str) -> None:
    operator.apply(manager_manifest("mgr"), namespace)
    operator.apply(pool_manifest("pool"), namespace)

    def accepted() -> dict[str, object] | None:
        obj = operator.get("wqpool", "pool", namespace)
        cond = condition(obj, "Accepted")
        return obj if cond and cond["status"] == "True" else None

    pool = wait_for(accepted, timeout=60, what="Accepted=True on the pool")
    assert pool["status"]["observedGeneration"] == pool["metadata"]["generation"]  # type: ignore[index]
    assert pool["status"]["selector"] == (  # type: ignore[index]
        "app.kubernetes.io/managed-by=workqueue-operator,workqueue.dev/pool=pool"
    )
    # Defaults from the schema were filled in by the apiserver.
    assert pool["spec"]["autoscale"]["idleDelaySeconds"] == 60  # type: ignore[index]
    # Ready (its manager need not answer: nothing stops its pods); the manager is not.
    operator.kubectl(
        "wait", "--for=condition=Ready", "wqpool/pool", "--timeout=60s", namespace=namespace
    )

    manager = wait_for(
        lambda: condition(operator.get("wqm", "mgr", namespace), "Accepted"),
        what="the manager's Accepted condition",
    )
    assert manager["status"] == "True"


def test_pool_naming_a_missing_manager_is_rejected_then_accepted_when_it_appears(
    operator: Cluster, namespace: str
) -> None:
    operator.apply(pool_manifest("orphan", manager="nobody"), namespace)
    rejected = wait_for(
        lambda: condition(operator.get("wqpool", "orphan", namespace), "Accepted"),
        what="the Accepted condition",
    )
    assert (rejected["status"], rejected["reason"]) == ("False", "ManagerNotFound")
    assert "'nobody'" in rejected["message"]
    assert operator.get("wqpool", "orphan", namespace)["status"]["phase"] == "Invalid"  # type: ignore[index]

    events = wait_for(
        lambda: [
            e for e in operator.events_for("orphan", namespace) if e["reason"] == "ManagerNotFound"
        ],
        what="a ManagerNotFound Event",
    )
    assert events[0]["type"] == "Warning"

    operator.apply(manager_manifest("nobody"), namespace)
    operator.wait_condition_true(
        "wqpool", "orphan", namespace, "Accepted", what="Accepted=True once the manager exists"
    )
    # One Event per transition, not one per check.
    reasons = [e["reason"] for e in operator.events_for("orphan", namespace)]
    assert reasons.count("ManagerNotFound") == 1


def test_kubectl_scale_changes_spec_replicas(crds: Cluster, namespace: str) -> None:
    crds.apply(pool_manifest("scaled"), namespace)
    crds.kubectl("scale", "wqpool", "scaled", "--replicas=3", namespace=namespace)
    pool = crds.get("wqpool", "scaled", namespace)
    assert pool is not None and pool["spec"]["replicas"] == 3
    too_many = crds.kubectl(
        "scale", "wqpool", "scaled", "--replicas=9", namespace=namespace, check=False
    )
    assert too_many.returncode != 0
    assert "replicas must be between minWorkers and maxWorkers" in too_many.stderr
    # With autoscale on, replicas would be ignored: kubectl scale is refused and says why.
    autoscale_on = (
        '[{"op": "remove", "path": "/spec/replicas"},'
        ' {"op": "replace", "path": "/spec/autoscale/enabled", "value": true}]'
    )
    crds.kubectl(
        "patch", "wqpool", "scaled", "--type=json", "-p", autoscale_on, namespace=namespace
    )
    autoscaled = crds.kubectl(
        "scale", "wqpool", "scaled", "--replicas=2", namespace=namespace, check=False
    )
    assert autoscaled.returncode != 0
    assert "replicas is followed only with autoscale.enabled false" in autoscaled.stderr


def test_kubectl_get_shows_printer_columns_and_explain_reads_well(
    crds: Cluster, namespace: str
) -> None:
    crds.apply(pool_manifest("cols"), namespace)
    header = crds.kubectl("get", "wqpool", namespace=namespace).stdout.splitlines()[0].split()
    assert header == [
        "NAME",
        "MANAGER",
        "MIN",
        "MAX",
        "DESIRED",
        "REPLICAS",
        "BUSY",
        "IDLE",
        "READY",
        "AGE",
    ]
    explain = crds.kubectl("explain", "wqpool.spec.autoscale").stdout
    assert "Scaling from the manager's backlog" in explain
    assert "idleDelaySeconds" in explain


def test_pod_is_scheduled_on_a_kwok_node_and_runs(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("run", "probe", "--image=busybox", "--restart=Never", namespace=namespace)

    def running() -> dict[str, object] | None:
        pod = cluster.get("pod", "probe", namespace)
        return pod if pod and pod["status"].get("phase") == "Running" else None

    pod = wait_for(running, timeout=90, what="the pod to be Running")
    node = cluster.get("node", pod["spec"]["nodeName"], "")  # type: ignore[index]
    assert node is not None
    assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"


def test_deleted_namespace_finishes_terminating(cluster: Cluster) -> None:
    cluster.create_namespace("doomed-ns")
    cluster.kubectl("create", "configmap", "c", "--from-literal=a=b", namespace="doomed-ns")
    cluster.kubectl("delete", "namespace", "doomed-ns", "--wait=false")
    wait_for(
        lambda: "NotFound" in cluster.kubectl("get", "ns", "doomed-ns", check=False).stderr,
        timeout=120,
        what="the namespace to be gone",
    )


def test_version_of_kubectl_matches_the_server(cluster: Cluster) -> None:
    versions = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert versions["clientVersion"]["gitVersion"] == versions["serverVersion"]["gitVersion"]
