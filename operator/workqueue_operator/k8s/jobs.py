"""The PonchoEnv build Job: a pure builder of its manifest.

One Job per environment hash and namespace (for an image, per hash, repository and base),
named from them, so that every PonchoEnv of that hash finds the same Job and a restarted
operator never makes a second one. Choices:

* **The builder is this package** (``workqueue-operator build-env`` in the builder image). It
  gets the spec's normal form and the hash the operator computed (``--expect-hash``: a builder
  of another version that would hash differently fails instead of writing a wrong tarball).
* **Where it builds is where workers unpack**: ``/opt/poncho/<hash>`` (an emptyDir), because
  conda prefixes are not relocatable; see :mod:`workqueue_operator.k8s.env_mount`.
* **Failures**: the builder's exit code says whether retrying can help. ``podFailurePolicy``
  fails the Job at once on 2 (bad spec), 3 (an installer refused the spec) and 4 (the
  registry refused the credentials, or the base image does not exist), and ignores
  pods evicted by a disruption; other failures (network) are retried by ``backoffLimit`` with
  the Job controller's exponential delay. The operator retries a failed Job later, with its
  own backoff. ``activeDeadlineSeconds`` bounds a hung build.
* **Report**: the builder writes its JSON report to ``/dev/termination-log``;
  ``FallbackToLogsOnError`` puts the log's tail there when it died before writing.
* **No TTL**: a finished Job is the namespace's record that the hash was built (the operator
  annotates it with the report). It is owned by the PonchoEnv that made it.
* **Restricted pod**: non-root, no privilege escalation, no capabilities, no API token.
* **An image output** needs no claim: the builder pushes with crane (registry API only, no
  Docker daemon, no privilege), with the push Secret's ``.dockerconfigjson`` mounted as
  ``$DOCKER_CONFIG/config.json``; the CA bundle (``SSL_CERT_FILE``) applies to crane too.
* **The user's part** (``spec.builder``): placement (nodeSelector, tolerations, affinity,
  priority class), the container's CPU/memory, extra environment (proxies, uv settings), and a
  CA bundle from a ConfigMap that uv, git and the http downloads trust (``SSL_CERT_FILE``,
  ``GIT_SSL_CAINFO``) instead of the image's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from workqueue_operator import API_VERSION, GROUP
from workqueue_operator.api.env import DOCKER_CONFIG_KEY, ImageOutput, PonchoEnvSpec
from workqueue_operator.envs.artifact import (
    image_tag,
    pvc_artifact,
    tarball_name,
    url_artifact,
)
from workqueue_operator.envs.normalize import canonical_json
from workqueue_operator.envs.result import PERMANENT_EXIT_CODES
from workqueue_operator.k8s.labels import MANAGED_BY, MANAGED_BY_LABEL
from workqueue_operator.k8s.placement import placement_fields

ENV_ROOT = "/opt/poncho"
"""Where environments are built (in the Job) and unpacked (in worker pods)."""
OUTPUT_MOUNT = "/poncho-output"
CA_MOUNT = "/etc/workqueue-operator/ca"
CA_FILE = "ca.crt"
REGISTRY_CONFIG_MOUNT = "/etc/workqueue-operator/registry"
"""``$DOCKER_CONFIG``: the push Secret's ``.dockerconfigjson`` as ``config.json``."""
BUILDER_CONTAINER = "builder"
JOB_PREFIX = "penv-build-"
IMAGE_JOB_PREFIX = "penv-image-"
HASH_LABEL = f"{GROUP}/env-hash"
ENV_LABEL = f"{GROUP}/ponchoenv"
HASH_ANNOTATION = f"{GROUP}/env-hash"
RESULT_ANNOTATION = f"{GROUP}/build-result"
"""The builder's report, copied onto the Job by the operator once the build succeeded."""
BACKOFF_LIMIT = 2
DEADLINE_SECONDS = 2 * 3600
RUN_AS = 1000


def job_name(env_hash: str) -> str:
    return f"{JOB_PREFIX}{env_hash[:20]}"


def image_target(image: ImageOutput, env_hash: str) -> str:
    """``repository:tag`` the build of ``env_hash`` pushes."""
    return f"{image.repository}:{image_tag(env_hash, image.base)}"


def build_job_name(spec: PonchoEnvSpec, env_hash: str) -> str:
    """The Job that builds ``env_hash`` into the spec's output: one per hash for tarballs; for
    an image, one per hash, repository and base (``penv-image-<hash>-<target>``)."""
    image = spec.output.image
    if image is None:
        return job_name(env_hash)
    target = hashlib.sha256(image_target(image, env_hash).encode()).hexdigest()[:10]
    return f"{IMAGE_JOB_PREFIX}{env_hash[:20]}-{target}"


def hash_label(env_hash: str) -> str:
    """The hash as a label value (at most 63 characters)."""
    return env_hash[:63]


def artifact_location(spec: PonchoEnvSpec, env_hash: str) -> str | None:
    """Where the build of ``env_hash`` puts its tarball (``status.artifact``); None for an
    image (its digest is known only once it is pushed)."""
    tarball = spec.output.tarball
    if tarball is None:
        return None
    if tarball.pvc is not None:
        return str(pvc_artifact(tarball.pvc.claim_name, tarball.pvc.directory, env_hash))
    assert tarball.url is not None
    return str(url_artifact(tarball.url, env_hash))


def builder_args(spec: PonchoEnvSpec, env_hash: str, normal: Mapping[str, Any]) -> list[str]:
    """The ``build-env`` arguments of the Job's container."""
    args = ["--spec-json", canonical_json(normal), "--expect-hash", env_hash]
    artifact = artifact_location(spec, env_hash)
    tarball, image = spec.output.tarball, spec.output.image
    if image is not None:
        args += ["--image-repository", image.repository, "--base-image", image.base]
        args += ["--insecure-registry"] if image.insecure else []
    elif tarball is not None and tarball.pvc is not None:
        assert artifact is not None
        directory = tarball.pvc.directory.strip("/")
        path = f"{OUTPUT_MOUNT}/{directory}/{tarball_name(env_hash)}".replace("//", "/")
        args += ["--output", path, "--artifact", artifact]
    else:
        assert artifact is not None
        args += ["--upload", artifact]
    args += ["--work-dir", ENV_ROOT, "--cache-dir", f"{ENV_ROOT}/.cache"]
    return args


def _owner(name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "PonchoEnv",
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def build_job(
    name: str,
    namespace: str,
    uid: str,
    *,
    spec: PonchoEnvSpec,
    env_hash: str,
    normal: Mapping[str, Any],
) -> dict[str, Any]:
    """The Job that builds ``env_hash`` for the PonchoEnv ``name`` (uid ``uid``)."""
    labels = {HASH_LABEL: hash_label(env_hash), ENV_LABEL: name, MANAGED_BY_LABEL: MANAGED_BY}
    mounts: list[dict[str, Any]] = [{"name": "work", "mountPath": ENV_ROOT}]
    volumes: list[dict[str, Any]] = [{"name": "work", "emptyDir": {}}]
    tarball, image = spec.output.tarball, spec.output.image
    if tarball is not None and tarball.pvc is not None:
        mounts.append({"name": "output", "mountPath": OUTPUT_MOUNT})
        volumes.append(
            {"name": "output", "persistentVolumeClaim": {"claimName": tarball.pvc.claim_name}}
        )
    pod = spec.builder
    env: list[dict[str, str]] = [{"name": "HOME", "value": ENV_ROOT}]
    if image is not None and image.push_secret_ref is not None:
        mounts.append({"name": "registry", "mountPath": REGISTRY_CONFIG_MOUNT, "readOnly": True})
        volumes.append(
            {
                "name": "registry",
                "secret": {
                    "secretName": image.push_secret_ref.name,
                    "items": [{"key": DOCKER_CONFIG_KEY, "path": "config.json"}],
                },
            }
        )
        env += [{"name": "DOCKER_CONFIG", "value": REGISTRY_CONFIG_MOUNT}]
    if pod.ca_bundle is not None:
        ca_path = f"{CA_MOUNT}/{CA_FILE}"
        mounts.append({"name": "ca-bundle", "mountPath": CA_MOUNT, "readOnly": True})
        volumes.append(
            {
                "name": "ca-bundle",
                "configMap": {
                    "name": pod.ca_bundle.name,
                    "items": [{"key": pod.ca_bundle.key, "path": CA_FILE}],
                },
            }
        )
        env += [{"name": "SSL_CERT_FILE", "value": ca_path}]
        env += [{"name": "GIT_SSL_CAINFO", "value": ca_path}]
    env += [{"name": var.name, "value": var.value} for var in pod.env]
    resources = pod.resources
    container = {
        "name": BUILDER_CONTAINER,
        "image": spec.builder_image,
        "command": ["workqueue-operator", "build-env"],
        "args": builder_args(spec, env_hash, normal),
        "env": env,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": {
            "requests": {"cpu": resources.cpu, "memory": resources.memory},
            "limits": {"memory": resources.memory_limit},
        },
        "volumeMounts": mounts,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    pod_security = {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    failure_rules = [
        {
            "action": "FailJob",
            "onExitCodes": {
                "containerName": BUILDER_CONTAINER,
                "operator": "In",
                "values": [int(code) for code in PERMANENT_EXIT_CODES],
            },
        },
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
    ]
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": pod_security,
        "containers": [container],
        "volumes": volumes,
    }
    pod_spec.update(placement_fields(pod))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": build_job_name(spec, env_hash),
            "namespace": namespace,
            "labels": labels,
            "annotations": {HASH_ANNOTATION: env_hash},
            "ownerReferences": [_owner(name, uid)],
        },
        "spec": {
            "backoffLimit": BACKOFF_LIMIT,
            "activeDeadlineSeconds": DEADLINE_SECONDS,
            "podFailurePolicy": {"rules": failure_rules},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
