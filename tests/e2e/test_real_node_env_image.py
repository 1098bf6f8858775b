"""A PonchoEnv built into an environment image on the real node, pushed to a real registry,
and a real worker running a task inside that image.

Everything runs on the real node of e2e/node (kubelet + containerd) and its registry, which
pods reach at the node's address (10.88.0.1:5000, the same storage as 127.0.0.1:5000) and
containerd pulls from under that same name:

The builder image is this checkout's own build (``checkout_image``: the shared ``:0.1.0`` tag is
whatever checkout pushed last).

1. A PonchoEnv with ``output.image`` (a repository of its own in the node's registry, the worker
   image as base): its build Job's pod (builder image, on the node) installs six from PyPI,
   and crane appends the environment as a layer to the worker image and pushes it. The
   PonchoEnv becomes Ready with the image by digest, which the test reads back from the
   registry.
2. A second PonchoEnv of the same spec (spelled differently) is Ready at once by reuse: no
   second Job.
3. A WorkerPool with ``envRef``: its pod runs the environment image itself (no init container)
   and ``work_queue_worker`` under ``run-in-env``; a task imports six inside the environment.
4. A registry that refuses (htpasswd, started by the test on the node's address) and a push
   Secret with a wrong password: the PonchoEnv is Failed with the registry's own message, one
   Warning Event; the Secret is fixed and the retry, after the operator's backoff, pushes.
"""

from __future__ import annotations

import json
import logging
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cctools.manager import ManagerFactory
from tests.e2e.realnode import (
    NODE_IP,
    NODE_NAME,
    REGISTRY,
    checkout_image,
    delete_manifest,
    external_manager,
    free_cpu_millicores,
    registry_digest,
    registry_image,
    registry_manifest,
)
from tests.e2e.test_real_node_env import (
    CA_CONFIGMAP,
    ca_bundle_file,
    describe,
    placement_yaml,
    pods,
    settled,
    wait_ready,
    worker_pool,
)
from tests.harness import REPO, Cluster, condition, crd_kept_applied, wait_for
from tests.registry import AuthRegistry, auth_registry
from workqueue_operator.envs.artifact import ImageArtifact, image_tag, parse_artifact
from workqueue_operator.envs.normalize import normalize_spec, spec_hash

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
log = logging.getLogger(__name__)

PONCHO_SPEC = {"pip": ["six==1.16.0"]}
RESPELLED = {"pip": ["Six == 1.16.0"]}
ENV_HASH = spec_hash(normalize_spec(PONCHO_SPEC))
ENV_DIR = f"/opt/poncho/{ENV_HASH}"
PONCHOENV_CRD = REPO / "crds" / "ponchoenvs.workqueue.dev.yaml"
POD_REGISTRY = f"{NODE_IP}:5000"
"""The node's registry as pods (and containerd) name it."""


def pods_name(image: str) -> str:
    """``127.0.0.1:5000/...@sha256:...`` as pods reach the same image."""
    return image.replace(f"{REGISTRY}/", f"{POD_REGISTRY}/", 1)


def ponchoenv(name: str, spec: dict[str, Any], image_output: dict[str, Any]) -> str:
    return (
        textwrap.dedent(
            f"""
            apiVersion: workqueue.dev/v1alpha1
            kind: PonchoEnv
            metadata:
              name: {name}
            spec:
              spec: {json.dumps(spec)}
              output:
                image: {json.dumps(image_output)}
              builderImage: {checkout_image("builder")}
              builder:
                resources: {{cpu: 100m, memory: 256Mi, memoryLimit: 1Gi}}
                caBundle: {{name: {CA_CONFIGMAP}, key: ca.crt}}
            """
        )
        + placement_yaml(4)
        + "\n"
    )


def applied(
    cluster: Cluster, namespace: str, name: str, spec: dict[str, Any], output: dict[str, Any]
) -> None:
    """Apply a PonchoEnv and check that the apiserver kept its whole image output."""
    cluster.apply(ponchoenv(name, spec, output), namespace)
    stored = (cluster.get("penv", name, namespace) or {})["spec"]["output"]["image"]
    assert output.items() <= stored.items(), (
        f"the cluster's PonchoEnv CRD dropped fields of output.image (kept {stored}): an older "
        "CRD was applied by another checkout sharing the cluster"
    )


def stray_bases(cluster: Cluster, namespace: str, base: str) -> str:
    """The build Jobs made for another base than the test's: the operator read the PonchoEnv
    without ``output.image.baseImage``, i.e. an older CRD was in place at that moment (another
    checkout sharing the cluster applied it)."""
    jobs = json.loads(cluster.kubectl("get", "jobs", "-o", "json", namespace=namespace).stdout)
    stray = []
    for job in jobs["items"]:
        args = job["spec"]["template"]["spec"]["containers"][0]["args"]
        used = args[args.index("--base-image") + 1] if "--base-image" in args else None
        if used != base:
            stray.append(f"{job['metadata']['name']} (--base-image {used})")
    if not stray:
        return ""
    return f"Jobs for another base, made while an older PonchoEnv CRD was applied: {stray}"


def in_registry(artifact: ImageArtifact) -> str:
    """The repository's name inside the node's registry."""
    return artifact.repository.removeprefix(f"{POD_REGISTRY}/")


@pytest.fixture
def ca_configmap(operator: Cluster, namespace: str, real_node: str) -> Iterator[str]:
    """The CA bundle the builder trusts (this machine's egress inspects TLS). While the test
    runs, this checkout's PonchoEnv CRD is kept applied: the cluster is shared, and a checkout
    with an older one may apply it at any time (the apiserver would then prune output.image's
    newer fields from what the operator reads; :func:`applied` checks what was stored)."""
    operator.kubectl(
        "create", "configmap", CA_CONFIGMAP, f"--from-file=ca.crt={ca_bundle_file()}",
        namespace=namespace,
    )  # fmt: skip
    with crd_kept_applied(operator, PONCHOENV_CRD):
        yield CA_CONFIGMAP


@pytest.fixture
def refusing(tmp_path: Path, real_node: str) -> Iterator[AuthRegistry]:
    """A registry with htpasswd auth on the node's address, where pods reach it."""
    with auth_registry(tmp_path / "auth-registry", host=NODE_IP) as registry:
        yield registry


def test_an_image_ponchoenv_is_pushed_reused_and_runs_its_workers_tasks(
    operator: Cluster,
    namespace: str,
    ca_configmap: str,
    manager_factory: ManagerFactory,
) -> None:
    wait_for(
        lambda: free_cpu_millicores(operator) >= 1200, timeout=300, what="1.2 free CPUs on the node"
    )
    repository = f"{POD_REGISTRY}/test-envimage/e2e-{uuid.uuid4().hex[:8]}"
    base = pods_name(registry_image("worker"))
    output = {"repository": repository, "baseImage": base, "insecure": True}

    # -- 1. built by a Job on the node, pushed to the registry --------------------------------
    started = time.monotonic()
    applied(operator, namespace, "six-image", PONCHO_SPEC, output)
    status = wait_ready(operator, namespace, "six-image")
    to_ready = time.monotonic() - started
    artifact = parse_artifact(status["artifact"])
    assert isinstance(artifact, ImageArtifact)
    try:
        assert status["hash"] == ENV_HASH
        assert (artifact.repository, artifact.tag) == (repository, image_tag(ENV_HASH, base))
        assert registry_digest(in_registry(artifact), artifact.tag) == artifact.digest
        layers = registry_manifest(in_registry(artifact), artifact.digest)["layers"]
        assert layers[-1]["size"] == status["sizeBytes"] > 0
        assert condition(operator.get("penv", "six-image", namespace), "Built")["reason"] == "Built"

        [build_pod] = pods(operator, namespace, f"batch.kubernetes.io/job-name={status['jobName']}")
        assert status["jobName"].startswith(f"penv-image-{ENV_HASH[:20]}-")
        assert build_pod["spec"]["nodeName"] == NODE_NAME
        [builder] = build_pod["status"]["containerStatuses"]
        report = json.loads(builder["state"]["terminated"]["message"])
        assert report["ok"] is True and report["reused"] is False, report

        # -- 2. the same spec again: reused, no second Job -------------------------------------
        applied(operator, namespace, "six-image-again", RESPELLED, output)
        again = wait_ready(operator, namespace, "six-image-again", timeout=60)
        assert again["artifact"] == status["artifact"]
        assert again["reusedFrom"] == f"{namespace}/six-image"
        jobs = json.loads(operator.kubectl("get", "jobs", "-o", "json", namespace=namespace).stdout)
        names = [j["metadata"]["name"] for j in jobs["items"]]
        assert names == [status["jobName"]], stray_bases(operator, namespace, base)

        # -- 3. a worker in the environment image runs a task inside the environment -----------
        manager = manager_factory()
        inside = manager.submit(
            "python3 -c 'import sys, six; print(six.__version__); print(sys.prefix)'"
        )
        outside = manager.submit("/usr/bin/python3 -c 'import six' 2>&1")
        operator.apply(external_manager(manager.port), namespace)
        operator.apply(worker_pool(None, env="six-image"), namespace)
        try:
            finished = {task.task_id: task for task in manager.wait_for(2, timeout=300)}
        except TimeoutError as error:
            raise AssertionError(f"{error}\n{describe(operator, namespace)}") from None
        task = finished[inside]
        assert task.ok, task
        assert task.output.split() == ["1.16.0", ENV_DIR]
        control = finished[outside]
        assert control.exit_code == 1 and "ModuleNotFoundError" in control.output, control

        [worker_pod] = pods(operator, namespace, "workqueue.dev/pool=workers")
        assert worker_pod["spec"]["nodeName"] == NODE_NAME
        assert "initContainers" not in worker_pod["spec"]
        [container] = worker_pod["spec"]["containers"]
        assert container["image"] == artifact.by_digest
        assert container["command"][0] == f"{ENV_DIR}/bin/run-in-env"
        [worker] = worker_pod["status"]["containerStatuses"]
        assert worker["imageID"].endswith(artifact.digest)
        log.info(
            "image PonchoEnv Ready %.1f s after apply (buildSeconds %s), layer %s bytes, %s",
            to_ready, status["buildSeconds"], status["sizeBytes"], artifact,
        )  # fmt: skip
    finally:
        operator.kubectl("delete", "wqpool", "--all", "--wait=true", namespace=namespace)
        delete_manifest(in_registry(artifact), artifact.digest)


def test_a_registry_that_refuses_the_push_fails_with_its_message_until_the_secret_is_fixed(
    operator: Cluster,
    namespace: str,
    ca_configmap: str,
    refusing: AuthRegistry,
) -> None:
    wait_for(
        lambda: free_cpu_millicores(operator) >= 200, timeout=300, what="0.2 free CPUs on the node"
    )

    def push_secret(password: str) -> None:
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "push"},
            "type": "kubernetes.io/dockerconfigjson",
            "stringData": {".dockerconfigjson": refusing.docker_config(password)},
        }
        operator.apply(json.dumps(secret), namespace)

    push_secret("wrong")
    base = pods_name(registry_image("pause"))  # any image: the test runs nothing from it
    repository = f"{refusing.address}/envs/six"
    output = {
        "repository": repository,
        "baseImage": base,
        "insecure": True,
        "pushSecretRef": {"name": "push"},
    }
    applied(operator, namespace, "refused", PONCHO_SPEC, output)
    failed = wait_for(
        lambda: settled(operator, namespace, "refused"), timeout=300, what="PonchoEnv refused"
    )
    assert failed["phase"] == "Failed", (
        f"{failed}\n{stray_bases(operator, namespace, base)}\n{describe(operator, namespace)}"
    )
    built = condition(operator.get("penv", "refused", namespace), "Built")
    assert built is not None and built["reason"] == "RegistryRefused", built
    assert "UNAUTHORIZED: authentication required" in built["message"], built
    assert "next try in 30 s" in built["message"]
    assert failed["failedBuilds"] == 1 and failed["nextRetryTime"]
    warnings = [
        e for e in operator.events_for("refused", namespace) if e["reason"] == "RegistryRefused"
    ]
    assert [e["type"] for e in warnings] == ["Warning"]

    # The admin fixes the Secret; the operator's retry (after 30 s) pushes.
    push_secret(refusing.password)

    def retried() -> dict[str, Any] | None:
        current = settled(operator, namespace, "refused") or {}
        done = current.get("phase") == "Ready" or (current.get("failedBuilds") or 0) > 1
        return current if done else None

    status = wait_for(retried, timeout=300, interval=1, what="the retry of PonchoEnv refused")
    assert status["phase"] == "Ready", (
        f"{status}\n{stray_bases(operator, namespace, base)}\n{describe(operator, namespace)}"
    )
    artifact = parse_artifact(status["artifact"])
    assert isinstance(artifact, ImageArtifact)
    assert artifact.tagged == f"{repository}:{image_tag(ENV_HASH, base)}"
    assert status.get("failedBuilds") is None and status.get("nextRetryTime") is None
    reasons = [e["reason"] for e in operator.events_for("refused", namespace)]
    assert "BuildRetry" in reasons and "Built" in reasons, reasons
