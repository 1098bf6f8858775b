"""The real node of the e2e suite (e2e/node/): a kubelet + containerd joined to the local
control plane, running this project's images from the local registry. Tests that use it put
their pods there with :data:`REAL_NODE_PLACEMENT`."""

from __future__ import annotations

import functools
import json
import logging
import subprocess
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.harness import REPO
from workqueue_operator.api.common import Framework

NODE_NAME = "wq-real-node"
NODE_IP = "10.88.0.1"
"""The node's InternalIP, the host end of the pods' bridge: pods reach host processes (the
tests' Work Queue managers) there."""
POD_NETWORK_PREFIX = "10.88.0."
REGISTRY = "127.0.0.1:5000"
WORKER_IMAGE = f"{REGISTRY}/workqueue-operator/worker:0.1.0"
"""The worker image by tag. Pods pull tagged images IfNotPresent, so the node may still hold an
older build under it: tests pass :func:`registry_image` instead."""

# The registry answers HEAD with the stored manifest's digest for any of these.
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)

REAL_NODE_PLACEMENT: dict[str, Any] = {
    "nodeSelector": {"type": "real"},
    "tolerations": [
        {"key": "workqueue.dev/real-node", "operator": "Exists", "effect": "NoSchedule"}
    ],
}
UNAVAILABLE_EXIT = 3


def node_operator_chart_flags(image: str, *, metrics_port: int, health_port: int) -> list[str]:
    """``helm install`` flags for the operator's chart in one namespace, its pod on the real
    node in the node's network (the local API server listens on 127.0.0.1 only, so the
    ``kubernetes`` Service has no endpoints), the operator image ``image`` (by digest)."""
    repository, digest = image.split("@")
    env = [
        {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
        {"name": "KUBERNETES_SERVICE_PORT", "value": "6443"},
    ]
    return [
        "--set=rbac.namespaced=true",
        "--set=networkPolicy.enabled=false",
        f"--set=image.repository={repository}",
        f"--set=image.digest={digest}",
        "--set=hostNetwork=true",
        "--set=dnsPolicy=ClusterFirstWithHostNet",
        f"--set=metrics.port={metrics_port}",
        f"--set=operator.healthPort={health_port}",
        "--set=operator.logFormat=plain",
        f"--set-json=nodeSelector={json.dumps(REAL_NODE_PLACEMENT['nodeSelector'])}",
        f"--set-json=tolerations={json.dumps(REAL_NODE_PLACEMENT['tolerations'])}",
        f"--set-json=operator.extraEnv={json.dumps(env)}",
    ]


"""e2e/node/up.sh's exit status when this machine lacks a capability the node needs."""


def ensure_real_node() -> str:
    """Bring the real node up (idempotent, seconds when warm); skip, saying why, only when this
    machine lacks a capability; fail on any other problem."""
    result = subprocess.run(
        ["bash", str(REPO / "e2e" / "node" / "up.sh")],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if result.returncode == UNAVAILABLE_EXIT:
        pytest.skip(f"real node unavailable on this machine: {result.stderr.strip()}")
    assert result.returncode == 0, (
        f"e2e/node/up.sh failed ({result.returncode}):\n{result.stdout[-2000:]}\n"
        f"{result.stderr[-3000:]}"
    )
    return NODE_NAME


def memory_cgroup_oom_kills(pod_uid: str) -> int:
    """OOM kills the kernel made in a pod's memory cgroup (cgroup v1, cgroupfs driver: the
    kubelet's kubepods/<qos>/pod<uid>/ hierarchy), summed over its containers."""
    root = Path("/sys/fs/cgroup/memory/kubepods")
    total = 0
    for pod_dir in root.glob(f"**/pod{pod_uid}"):
        for control in pod_dir.glob("*/memory.oom_control"):
            for line in control.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    total += int(value)
    return total


def free_cpu_millicores(cluster: Any) -> int:
    """The real node's allocatable CPU minus what its pods (not finished, terminating ones
    included, as the scheduler counts them) request in their containers. Init containers, pod
    overhead and resizes in progress are left out."""
    node = json.loads(cluster.kubectl("get", "node", NODE_NAME, "-o", "json").stdout)
    allocatable = _millicores(node["status"]["allocatable"]["cpu"])
    pods = json.loads(
        cluster.kubectl(
            "get", "pods", "-A", "--field-selector", f"spec.nodeName={NODE_NAME}", "-o", "json"
        ).stdout
    )["items"]
    requested = sum(
        _millicores(c.get("resources", {}).get("requests", {}).get("cpu", "0"))
        for pod in pods
        if pod.get("status", {}).get("phase") not in ("Succeeded", "Failed")
        for c in pod["spec"]["containers"]
    )
    return allocatable - requested


def _millicores(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(float(quantity) * 1000)


def _registry(repository: str, reference: str, method: str) -> Any:
    """A request to the node's registry for a manifest of ``repository`` (its name inside the
    registry) by tag or digest; the open response."""
    request = urllib.request.Request(
        f"http://{REGISTRY}/v2/{repository}/manifests/{reference}",
        method=method,
        headers={"Accept": MANIFEST_TYPES},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return opener.open(request, timeout=10)


def registry_digest(repository: str, reference: str) -> str:
    """The digest the node's registry holds for ``repository:reference``."""
    with _registry(repository, reference, "HEAD") as response:
        digest = str(response.headers["Docker-Content-Digest"])
    assert digest.startswith("sha256:"), f"{repository}:{reference}: no digest from {REGISTRY}"
    return digest


def registry_manifest(repository: str, reference: str) -> dict[str, Any]:
    """The manifest the node's registry holds for ``repository`` at ``reference``."""
    with _registry(repository, reference, "GET") as response:
        manifest: dict[str, Any] = json.load(response)
    return manifest


def delete_manifest(repository: str, digest: str) -> None:
    """Delete an image (a manifest) a test pushed: the registry's storage is kept between runs."""
    try:
        _registry(repository, digest, "DELETE").close()
    except OSError as error:
        logging.getLogger(__name__).warning("could not delete %s@%s: %s", repository, digest, error)


def registry_image(name: str, tag: str = "0.1.0") -> str:
    """``REGISTRY/workqueue-operator/NAME@sha256:...``: the image the registry holds now under
    ``tag`` (what e2e/node/push-images.sh pushed last)."""
    digest = registry_digest(f"workqueue-operator/{name}", tag)
    return f"{REGISTRY}/workqueue-operator/{name}@{digest}"


@functools.cache
def checkout_image(name: str) -> str:
    """This checkout's build of image NAME in the node's registry, by digest.

    ``REGISTRY/workqueue-operator/NAME:0.1.0`` is whatever checkout pushed last (the node and
    its registry are shared): a test of code that changed the image (the builder's
    ``build-env``) takes its own build instead. ``images/build.sh NAME`` (cached by content)
    names it ``workqueue-operator/NAME:h-HASH``; only that tag is pushed."""
    built = subprocess.run(
        ["bash", str(REPO / "images" / "build.sh"), name],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert built.returncode == 0, f"images/build.sh {name}:\n{built.stderr[-3000:]}"
    [ref] = [line.split("\t")[2] for line in built.stdout.splitlines() if line.startswith(name)]
    target = f"{REGISTRY}/{ref}"
    for command in (["tag", ref, target], ["push", "-q", target]):
        done = subprocess.run(
            ["/usr/bin/docker", *command], capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, f"docker {' '.join(command)}: {done.stderr[-2000:]}"
    return registry_image(name, tag=ref.rsplit(":", 1)[1])


def external_manager(
    port: int,
    *,
    name: str = "mgr",
    extra: str = "",
    framework: Framework = Framework.WORK_QUEUE,
) -> str:
    """A WorkQueueManager for a manager in the test process, as pods on the real node reach it
    (the node's address); ``extra``: more spec lines, e.g. ``telemetryUrl: ...``."""
    lines = textwrap.indent(extra.strip(), "  ") + "\n" if extra.strip() else ""
    return (
        "apiVersion: workqueue.dev/v1alpha1\n"
        "kind: WorkQueueManager\n"
        f"metadata:\n  name: {name}\n"
        f"spec:\n  mode: External\n  framework: {framework}\n"
        f"  address: {NODE_IP}:{port}\n  pollIntervalSeconds: 1\n" + lines
    )


def held_up_down_locks() -> dict[str, list[str]]:
    """The up.sh/down.sh locks (control plane's and node's) that some process holds now, each
    with the command lines of the processes that have it open. Empty when the next up.sh or
    down.sh can start at once."""
    paths = subprocess.run(
        [
            "bash",
            "-c",
            'source e2e/node/lib.sh && printf "%s\\n" "$wq_state/.lock" "$wq_node_state/.lock"',
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    held: dict[str, list[str]] = {}
    for path in paths:
        if Path(path).exists():
            free = subprocess.run(["flock", "--nonblock", path, "true"], check=False)
            if free.returncode != 0:
                held[path] = processes_with_open(path)
    return held


def processes_with_open(path: str) -> list[str]:
    """'PID COMMAND LINE' of each process that has PATH open."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = [fd.readlink() for fd in (proc / "fd").iterdir()]
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:  # gone, or not ours to read
            continue
        if Path(path) in fds:
            found.append(f"{proc.name} {cmdline}")
    return found
