"""A PonchoEnv built by a real kubelet, and a real worker running a task inside it.

Everything runs on the real node of e2e/node (kubelet + containerd, images from the local
registry), nothing through the host runner:

1. The cluster admin's part, made by the test: a StorageClass without a provisioner and a
   ``local`` PersistentVolume on a directory of this machine, bound to the real node; the
   PersistentVolumeClaim the PonchoEnv writes to; a ConfigMap with the CA bundle the builder
   trusts (this machine's egress inspects TLS; elsewhere it is the public roots, harmless).
2. A PonchoEnv with one small pure-Python PyPI package (six, pinned): its build Job's pod runs
   on the real node (``spec.builder`` nodeSelector/tolerations, the builder image from the
   registry), installs from PyPI with uv and writes the tarball to the volume. The PonchoEnv
   becomes Ready with the artefact's location and size, which the test checks against the file
   on disk.
3. A WorkerPool with ``envRef``: its pod (real node, worker image from the registry) unpacks
   the tarball in an init container and runs ``work_queue_worker`` under ``run-in-env``; it
   connects to a real Work Queue manager in this process (at the node's address 10.88.0.1).
   A task imports six inside the environment (the venv's python is the worker image's
   /usr/bin/python3); a control task runs that same interpreter outside the venv and cannot.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import tarfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cctools.manager import ManagerFactory
from tests.e2e.realnode import (
    NODE_NAME,
    REAL_NODE_PLACEMENT,
    external_manager,
    registry_image,
)
from tests.harness import Cluster, wait_for
from workqueue_operator.envs.normalize import normalize_spec, spec_hash

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]
log = logging.getLogger(__name__)

PACKAGE, VERSION = "six", "1.16.0"
PONCHO_SPEC = {"pip": [f"{PACKAGE}=={VERSION}"]}
ENV_HASH = spec_hash(normalize_spec(PONCHO_SPEC))
ENV_DIR = f"/opt/poncho/{ENV_HASH}"
CLAIM, DIRECTORY = "envs", "poncho"
CA_CONFIGMAP = "egress-ca"


def ca_bundle_file() -> Path:
    """The CA bundle this machine trusts (what its own pip/uv/curl use)."""
    for candidate in (os.environ.get("SSL_CERT_FILE"), ssl.get_default_verify_paths().cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class LocalStorage:
    """The admin's storage for PonchoEnv tarballs: a directory of the node, as a local PV.
    Its fixture brings the real node up first (``real_node``)."""

    directory: Path
    storage_class: str
    volume: str


@pytest.fixture
def local_storage(
    operator: Cluster, namespace: str, real_node: str, tmp_path: Path
) -> Iterator[LocalStorage]:
    """A no-provisioner StorageClass, a local PersistentVolume on a fresh directory of the
    real node (this machine), pre-bound to the namespace's claim ``envs``, and that claim."""
    directory = tmp_path / "local-pv"
    directory.mkdir(mode=0o755)
    storage = LocalStorage(directory, f"{namespace}-local", f"{namespace}-envs")
    manifest = textwrap.dedent(
        f"""
        apiVersion: storage.k8s.io/v1
        kind: StorageClass
        metadata:
          name: {storage.storage_class}
        provisioner: kubernetes.io/no-provisioner
        volumeBindingMode: WaitForFirstConsumer
        reclaimPolicy: Retain
        ---
        apiVersion: v1
        kind: PersistentVolume
        metadata:
          name: {storage.volume}
        spec:
          capacity:
            storage: 1Gi
          accessModes: [ReadWriteOnce]
          persistentVolumeReclaimPolicy: Retain
          storageClassName: {storage.storage_class}
          claimRef:
            namespace: {namespace}
            name: {CLAIM}
          local:
            path: {directory}
          nodeAffinity:
            required:
              nodeSelectorTerms:
              - matchExpressions:
                - key: kubernetes.io/hostname
                  operator: In
                  values: [{real_node}]
        ---
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata:
          name: {CLAIM}
          namespace: {namespace}
        spec:
          storageClassName: {storage.storage_class}
          accessModes: [ReadWriteOnce]
          resources:
            requests:
              storage: 1Gi
        """
    )
    operator.apply(manifest, namespace)
    yield storage
    # The claim goes with the namespace; the volume then is released and deleted.
    operator.kubectl("delete", "pv", storage.volume, "--wait=false", check=False)
    operator.kubectl("delete", "storageclass", storage.storage_class, "--wait=false", check=False)


def placement_yaml(indent: int) -> str:
    """nodeSelector and tolerations for the real node, as YAML lines at ``indent``."""
    selector = json.dumps(REAL_NODE_PLACEMENT["nodeSelector"])
    tolerations = json.dumps(REAL_NODE_PLACEMENT["tolerations"])
    pad = " " * indent
    return f"{pad}nodeSelector: {selector}\n{pad}tolerations: {tolerations}"


def ponchoenv(builder_image: str) -> str:
    return (
        textwrap.dedent(
            f"""
            apiVersion: workqueue.dev/v1alpha1
            kind: PonchoEnv
            metadata:
              name: six-env
            spec:
              spec: {json.dumps(PONCHO_SPEC)}
              output:
                tarball:
                  pvc: {{claimName: {CLAIM}, directory: {DIRECTORY}}}
              builderImage: {builder_image}
              builder:
                resources: {{cpu: 100m, memory: 256Mi, memoryLimit: 1Gi}}
                caBundle: {{name: {CA_CONFIGMAP}, key: ca.crt}}
            """
        )
        + placement_yaml(4)
        + "\n"
    )


def worker_pool(worker_image: str | None, env: str = "six-env") -> str:
    """One worker on the real node in PonchoEnv ``env``; ``worker_image`` None: the pool names
    no image (an environment image brings its own)."""
    image = f"image: {worker_image}" if worker_image else ""
    return (
        textwrap.dedent(
            f"""
            apiVersion: workqueue.dev/v1alpha1
            kind: WorkerPool
            metadata:
              name: workers
            spec:
              managerRef: {{name: mgr}}
              envRef: {{name: {env}}}
              {image}
              minWorkers: 1
              maxWorkers: 1
              worker: {{cores: 1, memory: 512Mi, disk: 1Gi}}
              autoscale: {{pollIntervalSeconds: 1, idleDelaySeconds: 300}}
              template:
            """
        )
        + placement_yaml(4)
        + "\n"
    )


def settled(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    """The PonchoEnv's status once its phase is final (Ready, Failed, Invalid), else None."""
    env = cluster.get("penv", name, namespace) or {}
    status: dict[str, Any] = env.get("status") or {}
    return status if status.get("phase") in ("Ready", "Failed", "Invalid") else None


def wait_ready(cluster: Cluster, namespace: str, name: str, timeout: float = 420) -> dict[str, Any]:
    """The PonchoEnv's status once Ready; AssertionError with the namespace's state otherwise."""
    try:
        status = wait_for(
            lambda: settled(cluster, namespace, name),
            timeout=timeout,
            interval=1,
            what=f"PonchoEnv {name} settled",
        )
    except AssertionError as error:
        raise AssertionError(f"{error}\n{describe(cluster, namespace)}") from None
    if status["phase"] != "Ready":
        why = [c.get("message") for c in status.get("conditions", []) if c["status"] != "True"]
        raise AssertionError(f"{name} {status['phase']}: {why}\n{describe(cluster, namespace)}")
    return status


def pods(cluster: Cluster, namespace: str, selector: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "pods", "-l", selector, "-o", "json", namespace=namespace).stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def describe(cluster: Cluster, namespace: str) -> str:
    """What the namespace holds, for a failure message."""
    out = cluster.kubectl(
        "get", "penv,wqpool,jobs,pods,pvc,events", "-o", "wide", namespace=namespace, check=False
    )
    return out.stdout[-6000:] + out.stderr[-1000:]


def test_ponchoenv_built_on_the_real_node_runs_a_task_through_a_real_worker(
    operator: Cluster,
    namespace: str,
    local_storage: LocalStorage,
    manager_factory: ManagerFactory,
) -> None:
    builder_image, worker_image = registry_image("builder"), registry_image("worker")
    operator.kubectl(
        "create", "configmap", CA_CONFIGMAP, f"--from-file=ca.crt={ca_bundle_file()}",
        namespace=namespace,
    )  # fmt: skip

    # -- 1. the build, on the real node -----------------------------------------------------
    started = time.monotonic()
    operator.apply(ponchoenv(builder_image), namespace)

    status = wait_ready(operator, namespace, "six-env")
    to_ready = time.monotonic() - started

    assert status["hash"] == ENV_HASH
    assert status["artifact"] == f"pvc://{CLAIM}/{DIRECTORY}/{ENV_HASH}.tar.gz"
    assert status.get("reusedFrom") is None  # built here, not found elsewhere
    tarball = local_storage.directory / DIRECTORY / f"{ENV_HASH}.tar.gz"
    assert tarball.is_file(), sorted(str(p) for p in local_storage.directory.rglob("*"))
    assert status["sizeBytes"] == tarball.stat().st_size > 0
    assert status["buildSeconds"] > 0
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    assert "bin/run-in-env" in {n.removeprefix("./") for n in names}
    assert any(n.endswith(f"site-packages/{PACKAGE}.py") for n in names), sorted(names)[:50]

    [build_pod] = pods(operator, namespace, f"batch.kubernetes.io/job-name={status['jobName']}")
    assert build_pod["spec"]["nodeName"] == NODE_NAME
    assert build_pod["status"]["phase"] == "Succeeded"
    [builder] = build_pod["status"]["containerStatuses"]
    assert builder["imageID"].endswith(builder_image.rsplit("@", 1)[1])
    report = json.loads(builder["state"]["terminated"]["message"])
    assert report["ok"] is True and report["reused"] is False, report

    # -- 2. a real worker on the real node, inside the environment --------------------------
    manager = manager_factory()
    inside = manager.submit(
        f"python3 -c 'import sys, {PACKAGE}; "
        f"print({PACKAGE}.__version__); print(sys.prefix); print({PACKAGE}.__file__)'"
    )
    outside = manager.submit(f"/usr/bin/python3 -c 'import {PACKAGE}' 2>&1")
    operator.apply(external_manager(manager.port), namespace)
    operator.apply(worker_pool(worker_image), namespace)
    try:
        finished = {task.task_id: task for task in manager.wait_for(2, timeout=420)}
    except TimeoutError as error:
        raise AssertionError(f"{error}\n{describe(operator, namespace)}") from None

    task = finished[inside]
    assert task.ok, task
    version, prefix, module = task.output.split()
    assert version == VERSION
    assert prefix == ENV_DIR
    assert module.startswith(f"{ENV_DIR}/lib/python3.11/site-packages/"), module
    # The same interpreter outside the venv: the package is the environment's, not the image's.
    control = finished[outside]
    assert control.exit_code == 1 and "ModuleNotFoundError" in control.output, control

    [worker_pod] = pods(operator, namespace, "workqueue.dev/pool=workers")
    assert worker_pod["spec"]["nodeName"] == NODE_NAME
    assert task.host.startswith(worker_pod["status"]["podIP"]), (task.host, worker_pod["status"])
    [unpack] = worker_pod["status"]["initContainerStatuses"]
    assert unpack["state"]["terminated"]["exitCode"] == 0, unpack
    [worker] = worker_pod["status"]["containerStatuses"]
    assert worker["imageID"].endswith(worker_image.rsplit("@", 1)[1])
    assert worker_pod["spec"]["containers"][0]["command"][0] == f"{ENV_DIR}/bin/run-in-env"

    log.info(
        "PonchoEnv Ready %.1f s after apply (buildSeconds %s), tarball %s bytes; task: %s",
        to_ready,
        status["buildSeconds"],
        status["sizeBytes"],
        " | ".join(task.output.split()),
    )
