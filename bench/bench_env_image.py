"""A PonchoEnv as an image vs as a tarball, on the real node: how long until a worker pod is
Ready, for the 1st pod and the next ones on the same node, in the same run.

The same Poncho spec (``--packages``, pip) is built twice by the operator on the real node of
e2e/node: ``output.tarball`` on a local PersistentVolume, and ``output.image`` pushed to the
node's registry (a repository of this run's own, so the image is new to the node). Then
``--pods`` pods per environment are started one at a time, alternating tarball and image (the
order swaps every round), each made by the operator's own builders (``env_mount``: for the
tarball an init container that unpacks it into an emptyDir, for the image the image itself),
running ``run-in-env sleep``; each is deleted once Ready. Figures:

* build: apply -> Ready, the builder's ``buildSeconds``, the artefact's size (tarball, or the
  environment's layer), the environment unpacked;
* per pod: create -> Ready as this script's watch sees it (no probe: Ready = the container
  started); for the tarball the init container's run (the kubelet's timestamps, 1 s
  resolution); for the image the kubelet's own pull time ("Successfully pulled image ... in
  X s"), on the 1st pod only (then the image is on the node).

The worker image (the image's base) is on the node already, as on any node that ran a worker:
the 1st image pod pulls only the environment's layer.

    PYTHONPATH=operator:. .venv/bin/python bench/bench_env_image.py [--pods 10]
        [--packages numpy==2.2.6 pandas==2.2.3] [--json out.json]

Needs the local control plane and the real node (e2e/node/up.sh: started if needed), PyPI.
Runs its own operator (a subprocess watching the run's namespace). Everything it makes is
removed at the end (namespace, volume, StorageClass, the run's image in the registry).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import sys
import tarfile
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import kubernetes
from kubernetes.watch import Watch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the test harness's helpers (tests.*) are reused here

from tests.e2e.operator_process import OperatorProcess  # noqa: E402
from tests.e2e.realnode import (  # noqa: E402
    NODE_IP,
    REAL_NODE_PLACEMENT,
    REGISTRY,
    checkout_image,
    delete_manifest,
    ensure_real_node,
    free_cpu_millicores,
    registry_image,
    registry_manifest,
)
from tests.e2e.test_real_node_env import ca_bundle_file, wait_ready  # noqa: E402
from tests.harness import Cluster, crd_kept_applied, start_cluster, wait_for  # noqa: E402

from workqueue_operator.api.env import PonchoEnvSpec, PonchoEnvStatus  # noqa: E402
from workqueue_operator.envs.artifact import ImageArtifact, parse_artifact  # noqa: E402
from workqueue_operator.k8s.env_mount import env_mount  # noqa: E402

DEFAULT_PACKAGES = ["numpy==2.2.6", "pandas==2.2.3"]
PONCHOENV_CRD = "ponchoenvs.workqueue.dev.yaml"
POD_REGISTRY = f"{NODE_IP}:5000"
PULLED = re.compile(r"Successfully pulled image .* in ([0-9.]+)(m?s) .*Image size: (\d+) bytes")
RUN_AS = 1000


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Build:
    kind: str
    apply_to_ready_s: float
    build_seconds: float
    artifact: str
    size_bytes: int
    unpacked_bytes: int = 0


@dataclass
class PodRun:
    kind: str
    index: int
    create_to_ready_s: float
    unpack_s: float | None = None
    """The init container's run (kubelet timestamps, whole seconds)."""
    init_seen_s: float | None = None
    """This script's watch: the init container seen running -> the pod Initialized (sub-second,
    but only when the kubelet reported the running state at all)."""
    pull_s: float | None = None
    """The kubelet's pull of the environment image, when it pulled."""
    pulled_bytes: int | None = None


@dataclass
class Results:
    packages: list[str]
    env_hash: str = ""
    builds: list[Build] = field(default_factory=list)
    pods: list[PodRun] = field(default_factory=list)


def ponchoenv(name: str, packages: list[str], output: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "workqueue.dev/v1alpha1",
        "kind": "PonchoEnv",
        "metadata": {"name": name},
        "spec": {
            "spec": {"pip": packages},
            "output": output,
            "builderImage": checkout_image("builder"),
            "builder": {
                **REAL_NODE_PLACEMENT,
                "resources": {"cpu": "500m", "memory": "1Gi", "memoryLimit": "2Gi"},
                "caBundle": {"name": "egress-ca", "key": "ca.crt"},
            },
        },
    }


def storage(namespace: str, directory: Path) -> str:
    """A no-provisioner StorageClass, a local PersistentVolume on ``directory`` of the real node
    (this machine), bound to the namespace's claim ``envs``, and the claim."""
    return textwrap.dedent(
        f"""
        apiVersion: storage.k8s.io/v1
        kind: StorageClass
        metadata: {{name: {namespace}}}
        provisioner: kubernetes.io/no-provisioner
        volumeBindingMode: WaitForFirstConsumer
        ---
        apiVersion: v1
        kind: PersistentVolume
        metadata: {{name: {namespace}}}
        spec:
          capacity: {{storage: 10Gi}}
          accessModes: [ReadWriteOnce]
          persistentVolumeReclaimPolicy: Retain
          storageClassName: {namespace}
          claimRef: {{namespace: {namespace}, name: envs}}
          local: {{path: {directory}}}
          nodeAffinity:
            required:
              nodeSelectorTerms:
              - matchExpressions:
                - {{key: type, operator: In, values: [real]}}
        ---
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {{name: envs, namespace: {namespace}}}
        spec:
          storageClassName: {namespace}
          accessModes: [ReadWriteOnce]
          resources: {{requests: {{storage: 10Gi}}}}
        """
    )


def kept(wanted: Any, stored: Any) -> bool:
    """Whether ``stored`` holds every field of ``wanted`` (defaults may be added)."""
    if isinstance(wanted, dict):
        return isinstance(stored, dict) and all(kept(v, stored.get(k)) for k, v in wanted.items())
    return bool(wanted == stored)


def build(
    cluster: Cluster, namespace: str, kind: str, manifest: dict[str, Any]
) -> tuple[Build, PonchoEnvSpec, PonchoEnvStatus]:
    name = manifest["metadata"]["name"]
    started = time.monotonic()
    cluster.apply(json.dumps(manifest), namespace)
    stored = (cluster.get("penv", name, namespace) or {}).get("spec", {}).get("output")
    if not kept(manifest["spec"]["output"], stored):
        sys.exit(f"the cluster's PonchoEnv CRD dropped output fields (stored {stored}): re-run")
    status = wait_ready(cluster, namespace, name, timeout=1800)
    elapsed = time.monotonic() - started
    log(f"{kind}: Ready in {elapsed:.1f} s, {status['sizeBytes']} bytes, {status['artifact']}")
    spec = PonchoEnvSpec.model_validate(manifest["spec"])
    result = Build(
        kind, elapsed, float(status["buildSeconds"]), status["artifact"], status["sizeBytes"]
    )
    return result, spec, PonchoEnvStatus.model_validate(status)


def pod_manifest(name: str, spec: PonchoEnvSpec, status: PonchoEnvStatus) -> dict[str, Any]:
    """A pod of the real node with the environment, as the operator gives it to workers."""
    mount = env_mount(spec, status, run_as_user=RUN_AS)
    assert mount is not None
    container: dict[str, Any] = {
        "name": "worker",
        "image": mount.image or registry_image("worker"),
        "command": [*mount.command_prefix, "sleep", "3600"],
        "env": mount.env,
        "volumeMounts": mount.volume_mounts,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    pod_spec: dict[str, Any] = {
        **REAL_NODE_PLACEMENT,
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS},
        "containers": [container],
        "volumes": mount.volumes,
    }
    if mount.init_containers:
        pod_spec["initContainers"] = mount.init_containers
    if mount.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": n} for n in mount.image_pull_secrets]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": pod_spec}


def _seconds(start: str, end: str) -> float:
    parse = datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def run_pod(core: Any, namespace: str, kind: str, index: int, manifest: dict[str, Any]) -> PodRun:
    name = manifest["metadata"]["name"]
    watch = Watch()
    started = time.monotonic()
    core.create_namespaced_pod(namespace, manifest)
    ready_at = init_running = initialized = None
    for event in watch.stream(
        core.list_namespaced_pod,
        namespace,
        field_selector=f"metadata.name={name}",
        timeout_seconds=600,
    ):
        pod = event["object"]
        conditions = {c.type: c.status for c in (pod.status.conditions or [])}
        inits = pod.status.init_container_statuses or []
        if init_running is None and inits and inits[0].state.running is not None:
            init_running = time.monotonic()
        if initialized is None and conditions.get("Initialized") == "True":
            initialized = time.monotonic()
        if conditions.get("Ready") == "True":
            ready_at = time.monotonic()
            watch.stop()
        elif pod.status.phase in ("Failed", "Succeeded"):
            watch.stop()
    if ready_at is None:
        sys.exit(f"pod {name} did not become Ready")
    pod = core.read_namespaced_pod(name, namespace)
    run = PodRun(kind, index, ready_at - started)
    if init_running is not None and initialized is not None:
        run.init_seen_s = initialized - init_running
    for init in pod.status.init_container_statuses or []:
        done = init.state.terminated
        if done is not None:
            run.unpack_s = _seconds(done.started_at.isoformat(), done.finished_at.isoformat())
    events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
    for item in events.items:
        found = PULLED.search(item.message or "")
        if item.reason == "Pulled" and found and "/workqueue-operator/" not in item.message:
            value, unit, size = found.groups()
            run.pull_s = float(value) / (1000 if unit == "ms" else 1)
            run.pulled_bytes = int(size)
    core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
    wait_for(
        lambda: (
            not core.list_namespaced_pod(namespace, field_selector=f"metadata.name={name}").items
        ),
        timeout=120,
        interval=0.2,
        what=f"pod {name} gone",
    )
    return run


def unpacked_bytes(tarball: Path) -> int:
    with tarfile.open(tarball) as archive:
        return sum(member.size for member in archive if member.isfile())


@contextlib.contextmanager
def run_namespace(cluster: Cluster, run_id: str, work: Path) -> Iterator[str]:
    namespace = f"bench-envimage-{run_id}"
    cluster.create_namespace(namespace)
    operator = OperatorProcess(cluster, namespace, work)
    try:
        operator.start()
        yield namespace
    finally:
        cluster.kubectl("delete", "pods,penv", "--all", "--wait=true", "--timeout=120s",
                        namespace=namespace, check=False)  # fmt: skip
        operator.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=180s",
                        check=False)  # fmt: skip
        cluster.kubectl("delete", "pv,storageclass", namespace, "--wait=false", check=False)


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def report(results: Results) -> str:
    lines = [
        f"environment: pip {' '.join(results.packages)}  (hash {results.env_hash[:16]}...)",
        "",
        "build              apply->Ready  buildSeconds  artefact           unpacked",
    ]
    for b in results.builds:
        what = "tarball (gzip)" if b.kind == "tarball" else "env layer (gzip)"
        lines.append(
            f"{b.kind:<18} {b.apply_to_ready_s:>10.1f} s {b.build_seconds:>11.1f} s  "
            f"{b.size_bytes / 1e6:8.2f} MB {what:<16} {b.unpacked_bytes / 1e6:7.2f} MB"
        )
    lines += ["", "pod create->Ready   1st      2nd..last median   last     per-pod runs"]
    for kind in ("tarball", "image"):
        runs = sorted((r for r in results.pods if r.kind == kind), key=lambda r: r.index)
        if not runs:
            continue
        rest = [r.create_to_ready_s for r in runs[1:]]
        every = " ".join(f"{r.create_to_ready_s:.1f}" for r in runs)
        lines.append(
            f"{kind:<18} {runs[0].create_to_ready_s:6.2f} s {median(rest):>10} s   "
            f"{runs[-1].create_to_ready_s:6.2f} s   {every}"
        )
    tarball_runs = [r for r in results.pods if r.kind == "tarball"]
    unpacks = [r.unpack_s for r in tarball_runs if r.unpack_s is not None]
    if unpacks:
        lines.append(
            f"tarball init container (unpack), kubelet timestamps: median {median(unpacks)} s, "
            f"min {min(unpacks):.0f}, max {max(unpacks):.0f} (whole seconds)"
        )
    seen = [r.init_seen_s for r in tarball_runs if r.init_seen_s is not None]
    if seen:
        lines.append(
            f"tarball init container seen running -> pod Initialized (watch): median "
            f"{median(seen)} s, min {min(seen):.2f}, max {max(seen):.2f} ({len(seen)} pods)"
        )
    pulls = [r for r in results.pods if r.kind == "image" and r.pull_s is not None]
    for r in pulls:
        lines.append(
            f"image pod {r.index}: the kubelet pulled the environment image in {r.pull_s:.2f} s "
            f"(image size {r.pulled_bytes or 0} bytes, base layers already on the node)"
        )
    later = [r.index for r in results.pods if r.kind == "image" and r.pull_s is None]
    if later:
        lines.append(f"image pods {later[0]}..{later[-1]}: no pull (the image is on the node)")
    return "\n".join(lines)


Envs = dict[str, tuple[PonchoEnvSpec, PonchoEnvStatus]]


def build_both(
    cluster: Cluster, namespace: str, args: argparse.Namespace, run_id: str, results: Results
) -> Envs:
    """The tarball, then the image, of the same spec; their sizes."""
    base = registry_image("worker").replace(f"{REGISTRY}/", f"{POD_REGISTRY}/", 1)
    outputs = {
        "tarball": {"tarball": {"pvc": {"claimName": "envs", "directory": "poncho"}}},
        "image": {
            "image": {
                "repository": f"{POD_REGISTRY}/bench-envimage/{run_id}",
                "baseImage": base,
                "insecure": True,
            }
        },
    }
    envs: Envs = {}
    for kind, output in outputs.items():
        manifest = ponchoenv(f"{kind}-env", args.packages, output)
        result, spec, status = build(cluster, namespace, kind, manifest)
        results.builds.append(result)
        results.env_hash = status.hash or ""
        envs[kind] = (spec, status)
    return envs


def run_pods(core: Any, namespace: str, envs: Envs, pods: int, results: Results) -> None:
    """``pods`` pods of each environment, one at a time, alternating which goes first."""
    for index in range(1, pods + 1):
        order = ("tarball", "image") if index % 2 else ("image", "tarball")
        for kind in order:
            spec, status = envs[kind]
            name = f"{kind}-{index}"
            run = run_pod(core, namespace, kind, index, pod_manifest(name, spec, status))
            results.pods.append(run)
            unpack = f", unpack {run.unpack_s:.0f} s" if run.unpack_s is not None else ""
            pull = f", pull {run.pull_s:.2f} s" if run.pull_s is not None else ""
            log(f"{name}: Ready in {run.create_to_ready_s:.2f} s{unpack}{pull}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", nargs="+", default=DEFAULT_PACKAGES)
    parser.add_argument("--pods", type=int, default=10)
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    args = parser.parse_args()
    results = Results(packages=list(args.packages))
    run_id = uuid.uuid4().hex[:6]
    cluster = start_cluster()
    ensure_real_node()
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    kubernetes.config.load_kube_config(str(cluster.kubeconfig))
    core = kubernetes.client.CoreV1Api()
    image: ImageArtifact | None = None
    with (
        contextlib.ExitStack() as stack,
        tempfile.TemporaryDirectory(prefix="bench-envimage-") as tmp,
        run_namespace(cluster, run_id, Path(tmp)) as namespace,
    ):
        # The cluster is shared: a checkout with an older PonchoEnv CRD may apply it at any
        # time, and the apiserver would prune output.image's newer fields from every read.
        stack.enter_context(crd_kept_applied(cluster, REPO / "crds" / PONCHOENV_CRD))
        volume = Path(tmp) / "pv"
        volume.mkdir(mode=0o777)
        volume.chmod(0o777)
        try:
            cluster.kubectl(
                "create", "configmap", "egress-ca", f"--from-file=ca.crt={ca_bundle_file()}",
                namespace=namespace,
            )  # fmt: skip
            cluster.apply(storage(namespace, volume), namespace)
            wait_for(lambda: free_cpu_millicores(cluster) >= 700, timeout=600, what="0.7 free CPUs")
            envs = build_both(cluster, namespace, args, run_id, results)
            tarball = volume / "poncho" / f"{results.env_hash}.tar.gz"
            for b in results.builds:
                b.unpacked_bytes = unpacked_bytes(tarball)
            parsed = parse_artifact(envs["image"][1].artifact or "")
            assert isinstance(parsed, ImageArtifact)
            image = parsed
            repository = image.repository.removeprefix(f"{POD_REGISTRY}/")
            layers = registry_manifest(repository, image.digest)["layers"]
            base_bytes = sum(int(layer["size"]) for layer in layers[:-1])
            log(f"image base layers {base_bytes} bytes (gzip), on the node already")
            run_pods(core, namespace, envs, args.pods, results)
        finally:
            if image is not None:
                delete_manifest(image.repository.removeprefix(f"{POD_REGISTRY}/"), image.digest)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(asdict(results), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
