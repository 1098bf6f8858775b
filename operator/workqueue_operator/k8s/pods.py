"""Worker pods: a pure builder of the Pod manifest that runs one ``work_queue_worker`` (Work
Queue) or ``vine_worker`` (TaskVine).

Choices, and why:

* **The worker is the container's main process** (PID 1, or tini's only child with
  ``use_tini``). When a worker dies, its task processes survive it and keep the manager's
  connection open, so the manager still counts the tasks as running (see the CCTools notes).
  In a container, the kernel kills every process of the PID namespace when PID 1 exits, so
  the tasks die with the worker and the manager re-queues them at once. For the same reason
  ``shareProcessNamespace`` is false: with a shared namespace PID 1 is the pause process and
  tasks would outlive the worker. tini (off by default; the image must have it) adds zombie
  reaping for tasks that leave orphans behind, and forwards signals to the worker's group.
* **Resources**: ``--cores/--memory/--disk/--gpus`` equal the pod's requests, which equal its
  limits (Guaranteed QoS for CPU and memory). Without them the worker claims the whole node:
  it reads the host's memory, not its cgroup's.
* **No ``--single-shot``**: when the connection drops (manager restarted, network blip) the
  worker reconnects in the same pod instead of exiting and being replaced by a new pod. It
  does not wait forever: ``--timeout`` (default 900 s) bounds both the wait for a manager and
  the time it stays connected without work, after which it exits and its pod finishes.
* **``restartPolicy: Never``**: a worker that exited (idle timeout, manager gone, crash) is
  done; restarting it in place would bring back a worker the scaler may no longer want, hide
  crash loops behind CrashLoopBackOff, and reset its idle time behind the scaler's back. The
  scaler sees the finished pod, deletes it, and creates a new one only if the backlog needs it.
* **Small ``terminationGracePeriodSeconds``** (15 s): on SIGTERM the worker stops its tasks and
  says goodbye to the manager; nothing in it is worth waiting for longer, and the scaler never
  deletes a busy worker's pod.
* **Hostname**: Kubernetes sets the pod's hostname to its name, and the worker reports it to
  the manager, so ``worker_status`` hostnames map back to pods. Pod names are kept to 63
  characters (the hostname limit) by :func:`worker_pod_name`.
* **TaskVine workers** keep a file cache in their workspace and serve it to other workers
  (peer transfers) on ``--transfer-port``, declared as a container port. The manager would
  tell other workers the address it sees the worker connect from, which is the node's when
  kube-proxy masquerades Service traffic; ``--contact-hostport`` gives it the pod's own IP
  (downward API) instead.
* **TLS**: a manager with a certificate gets workers started with ``--ssl`` (CCTools' workers
  encrypt but do not check the manager's certificate).
* **Workspace** (``--workdir``/``--workspace``: task sandboxes, TaskVine's cache) is an
  ``emptyDir`` limited to the pod's disk, as its ephemeral-storage limit is.
* **In-place resizes** (sizing ``updateMode: InPlace``): the worker reads its size once, at
  start, so its pods let the kubelet restart it on a resize (``resizePolicy`` RestartContainer
  for cpu and memory) and take ``--cores/--memory/--disk`` from the pod's own limits (downward
  API ``resourceFieldRef``, expanded in the command as ``$(WORKER_CORES)``): the restarted
  worker offers its new size. The apiserver refuses RestartContainer with ``restartPolicy:
  Never`` ("must be 'NotRequired' when pod `restartPolicy` is 'Never'"), so these pods are
  ``OnFailure``: a worker that exits 0 (idle timeout, manager gone, SIGTERM) still ends its
  pod, one that crashes is restarted in place. A TaskVine worker keeps its workspace when it
  exits (``--keep-workspace``), so files cached with level "forever" survive the restart.
* **Restricted security**: non-root, no privilege escalation, no capabilities, the runtime's
  default seccomp profile, no service-account token unless a service account is named. The
  root filesystem stays writable: tasks run the user's software, which may write anywhere.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workqueue_operator import API_VERSION
from workqueue_operator.api.common import Framework
from workqueue_operator.api.pool import WorkerPoolSpec
from workqueue_operator.k8s.env_mount import EnvMount
from workqueue_operator.k8s.labels import GENERATION_LABEL, SHAPE_LABEL, pool_labels
from workqueue_operator.k8s.placement import placement_fields
from workqueue_operator.scaling.inplace import in_place
from workqueue_operator.values.quantities import cores_to_quantity, mb_to_quantity
from workqueue_operator.values.shapes import WorkerShape

WORKER_CONTAINER_NAME = "worker"
WORKER_APP_NAME = "workqueue-worker"
APP_NAME_LABEL = "app.kubernetes.io/name"
APP_INSTANCE_LABEL = "app.kubernetes.io/instance"
"""The WorkerPool's ``metadata.generation`` when the pod was made."""
GPU_RESOURCE = "nvidia.com/gpu"

WORKSPACE_VOLUME = "workspace"
WORKSPACE_PATH = "/workspace"
"""An emptyDir: the worker's ``--workdir``/``--workspace`` (cache and task sandboxes) and
``HOME``."""
WORKER_PROGRAMS = {Framework.WORK_QUEUE: "work_queue_worker", Framework.TASKVINE: "vine_worker"}
WORKSPACE_OPTIONS = {Framework.WORK_QUEUE: "--workdir", Framework.TASKVINE: "--workspace"}
TRANSFER_PORT = 9124
"""Where a TaskVine worker serves its cache to other workers."""
TRANSFER_PORT_NAME = "vine-transfer"
POD_IP_VARIABLE = "POD_IP"
PASSWORD_VOLUME = "wq-password"
PASSWORD_DIR = "/etc/workqueue/password"
PASSWORD_FILE_NAME = "password"

SIZE_VARIABLES = {
    "cores": ("WORKER_CORES", "limits.cpu", "1"),
    "memory": ("WORKER_MEMORY_MB", "limits.memory", "1Mi"),
    "disk": ("WORKER_DISK_MB", "limits.ephemeral-storage", "1Mi"),
}
"""In-place resizable pods: the worker's size options from the container's own limits
(variable, resource, divisor); the kubelet rounds up, so 500m cores are 1."""
RESIZED_RESOURCES = ("cpu", "memory")
"""What pods/resize can change (ephemeral-storage and GPUs cannot)."""

DEFAULT_TIMEOUT_SECONDS = 900
DEFAULT_TERMINATION_GRACE_SECONDS = 15
DEFAULT_RUN_AS_USER = 1000
MAX_POD_NAME_LENGTH = 63
MAX_SUFFIX_LENGTH = 16

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class ManagerEndpoint:
    """A manager reached at ``host:port`` (an InCluster manager's Service, or an address)."""

    host: str
    port: int

    @classmethod
    def parse(cls, address: str) -> ManagerEndpoint:
        """From ``host:port``."""
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"manager address {address!r} is not host:port")
        return cls(host, int(port))


@dataclass(frozen=True, slots=True)
class ManagerProject:
    """A manager found by project name through a catalog server (``-M NAME -C CATALOG``)."""

    project_name: str
    catalog: str | None = None
    """host:port of the catalog server; CCTools' default catalog when unset."""


ManagerTarget = ManagerEndpoint | ManagerProject


@dataclass(frozen=True, slots=True)
class PasswordSecret:
    """The Secret key holding the Work Queue password."""

    name: str
    key: str = "password"


@dataclass(frozen=True, slots=True)
class WorkerPodOptions:
    """Operator-wide settings of worker pods (not in the WorkerPool spec)."""

    use_tini: bool = False
    """Run the worker under tini (``tini -g --``); the image must have it on its PATH."""
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    """``--timeout``: how long the worker waits for a manager, or for work, before it exits."""
    termination_grace_seconds: int = DEFAULT_TERMINATION_GRACE_SECONDS
    run_as_user: int | None = DEFAULT_RUN_AS_USER
    """UID (and GID, fsGroup) of the worker; ``None`` keeps the image's own non-root user."""


def _label_part(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


def worker_pod_name(pool: str, shape_id: str, suffix: str) -> str:
    """``<pool>-<shape>-<suffix>``, a DNS label of at most 63 characters (the pod's hostname).

    Dots in the pool name become dashes (the hostname would end at the first dot). When the
    name would be too long, the pool and shape part is cut and a hash of the full pool and shape
    keeps names of different pools apart. ``suffix`` (the caller's random part, e.g. 5
    characters like ``generateName``'s) must be a DNS label of at most 16 characters.
    """
    if len(suffix) > MAX_SUFFIX_LENGTH or not _DNS_LABEL.match(suffix):
        raise ValueError(
            f"pod name suffix {suffix!r} must be 1-{MAX_SUFFIX_LENGTH} lowercase letters, "
            "digits or '-', starting and ending with a letter or digit"
        )
    head = "-".join(part for part in (_label_part(pool), _label_part(shape_id)) if part)
    name = f"{head}-{suffix}" if head else suffix
    if len(name) <= MAX_POD_NAME_LENGTH:
        return name
    digest = hashlib.sha256(f"{pool}/{shape_id}".encode()).hexdigest()[:6]
    room = MAX_POD_NAME_LENGTH - len(suffix) - len(digest) - 2
    return f"{head[:room].rstrip('-')}-{digest}-{suffix}"


def worker_pod_labels(
    pool: str, shape_id: str, generation: int, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """Labels of a worker pod: ``extra`` (the pod template's), then the operator's own, which
    win so that a template cannot take a pod out of its pool's selector."""
    return {
        **(extra or {}),
        **pool_labels(pool),
        SHAPE_LABEL: shape_id,
        GENERATION_LABEL: str(generation),
        APP_NAME_LABEL: WORKER_APP_NAME,
        APP_INSTANCE_LABEL: pool,
    }


def worker_args(
    shape: WorkerShape,
    manager: ManagerTarget,
    *,
    framework: Framework = Framework.WORK_QUEUE,
    password_file: str | None = None,
    tls: bool = False,
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
    extra_args: Sequence[str] = (),
    resizable: bool = False,
) -> list[str]:
    """The worker's arguments (without the program itself).

    ``extra_args`` (the spec's ``workerArgs``) come after ``--timeout``, so they may change it,
    and before the resource flags, so they cannot make the worker claim more than its pod has
    (the last of a repeated option wins). ``resizable``: cores, memory and disk are the pod's
    own limits when the container starts (``SIZE_VARIABLES``), not fixed numbers.
    """
    args = [f"--timeout={timeout_seconds}", *extra_args]
    if resizable:
        args += [f"--{option}=$({SIZE_VARIABLES[option][0]})" for option in SIZE_VARIABLES]
    else:
        args += [
            f"--cores={shape.cores}",
            f"--memory={shape.memory_mb}",
            f"--disk={shape.disk_mb}",
        ]
    args += [f"--gpus={shape.gpus}", f"{WORKSPACE_OPTIONS[framework]}={WORKSPACE_PATH}"]
    if framework is Framework.TASKVINE:
        args += [
            f"--transfer-port={TRANSFER_PORT}",
            f"--contact-hostport=$({POD_IP_VARIABLE}):{TRANSFER_PORT}",
        ]
        if resizable:
            args.append("--keep-workspace")
    if password_file is not None:
        args += ["--password", password_file]
    if tls:
        args.append("--ssl")
    if isinstance(manager, ManagerEndpoint):
        args += [manager.host, str(manager.port)]
    else:
        args += ["-M", manager.project_name]
        if manager.catalog:
            args += ["-C", manager.catalog]
    return args


def worker_command(
    args: Sequence[str], *, framework: Framework = Framework.WORK_QUEUE, use_tini: bool = False
) -> list[str]:
    """The container command: the worker as PID 1, or as tini's only child."""
    program = [WORKER_PROGRAMS[framework], *args]
    return ["tini", "-g", "--", *program] if use_tini else program


def worker_resources(shape: WorkerShape) -> dict[str, dict[str, str]]:
    """Requests equal to limits: cpu = cores, memory, ephemeral-storage = disk, and GPUs."""
    amounts = {
        "cpu": cores_to_quantity(shape.cores),
        "memory": mb_to_quantity(shape.memory_mb),
        "ephemeral-storage": mb_to_quantity(shape.disk_mb),
    }
    if shape.gpus > 0:
        amounts[GPU_RESOURCE] = str(shape.gpus)
    return {"requests": dict(amounts), "limits": dict(amounts)}


def size_variables() -> list[dict[str, Any]]:
    """The env of a resizable worker: its size from the container's own limits."""
    return [
        {
            "name": variable,
            "valueFrom": {
                "resourceFieldRef": {
                    "containerName": WORKER_CONTAINER_NAME,
                    "resource": resource,
                    "divisor": divisor,
                }
            },
        }
        for variable, resource, divisor in SIZE_VARIABLES.values()
    ]


def resize_patch(shape: WorkerShape) -> dict[str, Any]:
    """The pods/resize body (a strategic merge patch) that gives the worker container the CPU
    and memory of ``shape``: requests equal to limits, as at creation."""
    amounts = {r: v for r, v in worker_resources(shape)["limits"].items() if r in RESIZED_RESOURCES}
    resources = {"requests": dict(amounts), "limits": dict(amounts)}
    return {"spec": {"containers": [{"name": WORKER_CONTAINER_NAME, "resources": resources}]}}


def build_worker_pod(
    *,
    pool: str,
    namespace: str,
    pool_uid: str,
    pod_name: str,
    shape: WorkerShape,
    spec: WorkerPoolSpec,
    manager: ManagerTarget,
    generation: int,
    framework: Framework = Framework.WORK_QUEUE,
    password_secret: PasswordSecret | None = None,
    tls: bool = False,
    options: WorkerPodOptions = WorkerPodOptions(),
    environment: EnvMount | None = None,
) -> dict[str, Any]:
    """The Pod manifest of one worker of a WorkerPool (see the module docstring for why it is
    built this way). Owned by the pool (controller), so deleting the pool deletes its pods.

    With ``environment`` (a Ready PonchoEnv), an init container unpacks it (or, for an
    environment image, the worker runs that image) and the worker runs under its ``run-in-env``
    wrapper, so that every task runs inside the environment."""
    if len(pod_name) > MAX_POD_NAME_LENGTH or not _DNS_LABEL.match(pod_name):
        raise ValueError(
            f"worker pod name {pod_name!r} must be a DNS label of at most "
            f"{MAX_POD_NAME_LENGTH} characters (it is the worker's hostname)"
        )
    template = spec.template
    resizable = in_place(spec)
    password_file = f"{PASSWORD_DIR}/{PASSWORD_FILE_NAME}" if password_secret else None
    args = worker_args(
        shape,
        manager,
        framework=framework,
        password_file=password_file,
        tls=tls,
        timeout_seconds=options.timeout_seconds,
        extra_args=spec.worker_args,
        resizable=resizable,
    )
    mounts: list[dict[str, Any]] = [{"name": WORKSPACE_VOLUME, "mountPath": WORKSPACE_PATH}]
    volumes: list[dict[str, Any]] = [
        {"name": WORKSPACE_VOLUME, "emptyDir": {"sizeLimit": mb_to_quantity(shape.disk_mb)}}
    ]
    if password_secret is not None:
        mounts.append({"name": PASSWORD_VOLUME, "mountPath": PASSWORD_DIR, "readOnly": True})
        volumes.append(
            {
                "name": PASSWORD_VOLUME,
                "secret": {
                    "secretName": password_secret.name,
                    "items": [{"key": password_secret.key, "path": PASSWORD_FILE_NAME}],
                    # Readable by the worker's group (fsGroup) when the UID is set, else by all
                    # (the image's user is unknown); only this pod mounts it.
                    "defaultMode": 0o440 if options.run_as_user is not None else 0o444,
                },
            }
        )

    pod_security: dict[str, Any] = {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if options.run_as_user is not None:
        pod_security |= {
            "runAsUser": options.run_as_user,
            "runAsGroup": options.run_as_user,
            "fsGroup": options.run_as_user,
        }
    container: dict[str, Any] = {
        "name": WORKER_CONTAINER_NAME,
        "image": spec.image,
        "command": worker_command(args, framework=framework, use_tini=options.use_tini),
        "env": [{"name": "HOME", "value": WORKSPACE_PATH}],
        "workingDir": WORKSPACE_PATH,
        "resources": worker_resources(shape),
        "volumeMounts": mounts,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    if resizable:
        container["env"] += size_variables()
        container["resizePolicy"] = [
            {"resourceName": r, "restartPolicy": "RestartContainer"} for r in RESIZED_RESOURCES
        ]
    if framework is Framework.TASKVINE:
        container["env"].append(
            {"name": POD_IP_VARIABLE, "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
        )
        container["ports"] = [
            {"name": TRANSFER_PORT_NAME, "containerPort": TRANSFER_PORT, "protocol": "TCP"}
        ]
    pod_spec: dict[str, Any] = {
        "restartPolicy": "OnFailure" if resizable else "Never",
        "terminationGracePeriodSeconds": options.termination_grace_seconds,
        "shareProcessNamespace": False,
        "enableServiceLinks": False,
        "automountServiceAccountToken": template.service_account_name is not None,
        "securityContext": pod_security,
        "containers": [container],
        "volumes": volumes,
    }
    if environment is not None:
        container["command"] = [*environment.command_prefix, *container["command"]]
        container["env"] += environment.env
        mounts += environment.volume_mounts
        volumes += environment.volumes
        if environment.init_containers:
            pod_spec["initContainers"] = list(environment.init_containers)
        if environment.image is not None:
            container["image"] = environment.image
        if environment.image_pull_secrets:
            pod_spec["imagePullSecrets"] = [{"name": n} for n in environment.image_pull_secrets]
    if template.service_account_name is not None:
        pod_spec["serviceAccountName"] = template.service_account_name
    pod_spec.update(placement_fields(template))

    metadata: dict[str, Any] = {
        "name": pod_name,
        "namespace": namespace,
        "labels": worker_pod_labels(pool, shape.id, generation, template.labels),
        "ownerReferences": [
            {
                "apiVersion": API_VERSION,
                "kind": "WorkerPool",
                "name": pool,
                "uid": pool_uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    if template.annotations:
        metadata["annotations"] = dict(template.annotations)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}
