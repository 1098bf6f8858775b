"""What a worker pod needs to run its tasks inside a Ready PonchoEnv (pure).

:func:`env_mount` gives an init container that unpacks the environment's tarball into an
emptyDir at ``/opt/poncho/<hash>`` (the path the build used, so conda prefixes work
unrelocated), the volumes and the worker container's mount, and the command prefix
``/opt/poncho/<hash>/bin/run-in-env``: put it before the worker's command and every task the
worker starts inherits the environment (``PATH``, ``VIRTUAL_ENV``/``CONDA_PREFIX``, the git
and http variables).

The init container uses the PonchoEnv's builder image (it has ``sh``, ``tar`` and Python); it
reads a ``pvc://`` artifact from the claim mounted read-only, or GETs an http(s) one.

An image artifact needs none of that: the worker container's image becomes the environment
image (by digest; the environment is already at ``/opt/poncho/<hash>``), with the image output's
pull Secret as ``imagePullSecrets``; the command prefix is the same wrapper. A pool that names
an image of its own other than the environment's base conflicts (:func:`image_conflict`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from workqueue_operator.api.env import EnvPhase, PonchoEnvSpec, PonchoEnvStatus
from workqueue_operator.api.pool import DEFAULT_WORKER_IMAGE
from workqueue_operator.envs.activation import RUN_IN_ENV
from workqueue_operator.envs.artifact import ImageArtifact, PvcArtifact, parse_artifact
from workqueue_operator.k8s.jobs import ENV_ROOT

ENV_VOLUME = "poncho-env"
ARTIFACT_VOLUME = "poncho-artifacts"
ARTIFACT_MOUNT = "/poncho-artifacts"
INIT_CONTAINER = "poncho-unpack"

_FETCH = (
    "import shutil, sys, urllib.request; "
    "shutil.copyfileobj(urllib.request.urlopen(sys.argv[1], timeout=300), sys.stdout.buffer)"
)


@dataclass(frozen=True)
class EnvMount:
    """The pod parts that put a worker inside an environment."""

    init_containers: list[dict[str, Any]]
    volumes: list[dict[str, Any]]
    volume_mounts: list[dict[str, Any]]
    """For the worker container."""
    command_prefix: list[str]
    """Put before the worker's command (``command_prefix + [work_queue_worker, ...]``)."""
    env: list[dict[str, str]] = field(default_factory=list)
    """For the worker container: ``PONCHO_ENV`` names the unpacked environment."""
    image: str | None = None
    """The worker container's image (an environment image, by digest), instead of the pool's."""
    image_pull_secrets: list[str] = field(default_factory=list)
    """Secrets the pod pulls ``image`` with."""


def env_dir(env_hash: str) -> str:
    return f"{ENV_ROOT}/{env_hash}"


def unpack_script(source: str, destination: str, *, url: bool) -> str:
    """The init container's shell script: fetch (URL) and unpack the tarball."""
    dest = shlex.quote(destination)
    if url:
        tarball = f"{ENV_ROOT}/.env.tar.gz"
        fetch = f"python3 -c {shlex.quote(_FETCH)} {shlex.quote(source)} > {tarball}"
        return f"set -eu; mkdir -p {dest}; {fetch}; tar -xzf {tarball} -C {dest}; rm -f {tarball}"
    return f"set -eu; mkdir -p {dest}; tar -xzf {shlex.quote(source)} -C {dest}"


def env_mount(
    spec: PonchoEnvSpec, status: PonchoEnvStatus, *, run_as_user: int | None = None
) -> EnvMount | None:
    """The init container, volumes, mounts and command prefix for a PonchoEnv; None when it is
    not Ready (no artifact to unpack yet). Raises ValueError on an artifact it cannot read.

    ``run_as_user``: the worker's UID, so that the unpacked files are the worker's own (a venv
    may relink its Python on first use); the image's non-root user when None."""
    if status.phase is not EnvPhase.READY or not status.artifact or not status.hash:
        return None
    artifact = parse_artifact(status.artifact)
    destination = env_dir(status.hash)
    if isinstance(artifact, ImageArtifact):
        image = spec.output.image
        pull_secret = image.pull_secret if image is not None else None
        return EnvMount(
            init_containers=[],
            volumes=[],
            volume_mounts=[],
            command_prefix=[f"{destination}/{RUN_IN_ENV}"],
            env=[{"name": "PONCHO_ENV", "value": destination}],
            image=artifact.by_digest,
            image_pull_secrets=[pull_secret] if pull_secret else [],
        )
    env_volume = {"name": ENV_VOLUME, "emptyDir": {}}
    env_mount_ = {"name": ENV_VOLUME, "mountPath": ENV_ROOT}
    volumes: list[dict[str, Any]] = [env_volume]
    init_mounts: list[dict[str, Any]] = [env_mount_]
    if isinstance(artifact, PvcArtifact):
        volumes.append(
            {
                "name": ARTIFACT_VOLUME,
                "persistentVolumeClaim": {"claimName": artifact.claim, "readOnly": True},
            }
        )
        init_mounts.append({"name": ARTIFACT_VOLUME, "mountPath": ARTIFACT_MOUNT, "readOnly": True})
        script = unpack_script(f"{ARTIFACT_MOUNT}/{artifact.path}", destination, url=False)
    else:
        script = unpack_script(artifact.url, destination, url=True)
    security: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
    }
    if run_as_user is not None:
        security |= {"runAsUser": run_as_user, "runAsGroup": run_as_user}
    init = {
        "name": INIT_CONTAINER,
        "image": spec.builder_image,
        "command": ["sh", "-c", script],
        "volumeMounts": init_mounts,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": security,
    }
    return EnvMount(
        init_containers=[init],
        volumes=volumes,
        volume_mounts=[dict(env_mount_)],
        command_prefix=[f"{destination}/{RUN_IN_ENV}"],
        env=[{"name": "PONCHO_ENV", "value": destination}],
    )


def image_conflict(pool_image: str, spec: PonchoEnvSpec, mount: EnvMount) -> str | None:
    """Why a pool's ``image`` cannot go with an environment image, or None. The environment
    image replaces the pool's image; that is what the pool asked for only when it names no
    image of its own (the default) or the environment's base image."""
    output = spec.output.image
    if mount.image is None or output is None or pool_image in (DEFAULT_WORKER_IMAGE, output.base):
        return None
    return (
        f"the pool's image {pool_image!r} is not the base of its PonchoEnv's image "
        f"({output.base!r}): workers run the environment image, built on that base; remove "
        "spec.image, or set the PonchoEnv's output.image.baseImage to it"
    )
