"""The build Job manifest and the worker-pod parts (pure builders)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from workqueue_operator.api.env import EnvPhase, PonchoEnvSpec, PonchoEnvStatus
from workqueue_operator.api.pool import DEFAULT_WORKER_IMAGE
from workqueue_operator.envs.artifact import image_tag
from workqueue_operator.envs.normalize import normalize_spec, spec_hash
from workqueue_operator.k8s.env_mount import env_mount, image_conflict
from workqueue_operator.k8s.jobs import (
    HASH_ANNOTATION,
    HASH_LABEL,
    artifact_location,
    build_job,
    build_job_name,
    job_name,
)

POD_SPEC = {"pip": ["six==1.16.0"]}
HASH = spec_hash(POD_SPEC)


def env_spec(output: dict[str, Any], **extra: Any) -> PonchoEnvSpec:
    return PonchoEnvSpec.model_validate({"spec": POD_SPEC, "output": output, **extra})


PVC = {"tarball": {"pvc": {"claimName": "envs", "directory": "/team/envs/"}}}


def job(output: dict[str, Any] = PVC) -> dict[str, Any]:
    return build_job(
        "tools",
        "ns",
        "uid-1",
        spec=env_spec(output),
        env_hash=HASH,
        normal=normalize_spec(POD_SPEC),
    )


def read_only_volume(pod: dict[str, Any], name: str, path: str) -> dict[str, Any]:
    """The volume ``name`` of a one-container pod, checking that the container mounts it
    read-only at ``path``."""
    (container,) = pod["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts[name] == {"name": name, "mountPath": path, "readOnly": True}
    volumes = {v["name"]: v for v in pod["volumes"]}
    return volumes[name]


def test_job_is_named_and_labelled_by_hash_and_owned_by_the_env() -> None:
    manifest = job()
    meta = manifest["metadata"]
    assert meta["name"] == job_name(HASH) == f"penv-build-{HASH[:20]}"
    assert len(meta["name"]) <= 63
    assert meta["labels"][HASH_LABEL] == HASH[:63]
    assert meta["annotations"][HASH_ANNOTATION] == HASH
    owner = meta["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "PonchoEnv",
        "tools",
        "uid-1",
        True,
    )


def test_builder_gets_the_normal_spec_the_hash_and_the_pvc_path() -> None:
    pod = job()["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "workqueue-operator/builder:0.1.0"
    assert container["command"] == ["workqueue-operator", "build-env"]
    args = container["args"]
    assert json.loads(args[args.index("--spec-json") + 1]) == normalize_spec(POD_SPEC)
    assert args[args.index("--expect-hash") + 1] == HASH
    assert args[args.index("--output") + 1] == f"/poncho-output/team/envs/{HASH}.tar.gz"
    assert args[args.index("--artifact") + 1] == f"pvc://envs/team/envs/{HASH}.tar.gz"
    assert args[args.index("--work-dir") + 1] == "/opt/poncho"
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"work": "/opt/poncho", "output": "/poncho-output"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["output"]["persistentVolumeClaim"] == {"claimName": "envs"}
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_permanent_failures_fail_the_job_at_once_and_others_are_retried() -> None:
    spec = job()["spec"]
    assert spec["backoffLimit"] == 2
    assert spec["activeDeadlineSeconds"] > 0
    fail, ignore = spec["podFailurePolicy"]["rules"]
    assert fail["action"] == "FailJob"
    # 2 bad spec, 3 an installer refused it, 4 the registry refused (or no base image).
    codes = {"containerName": "builder", "operator": "In", "values": [2, 3, 4]}
    assert fail["onExitCodes"] == codes
    assert ignore == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    assert "ttlSecondsAfterFinished" not in spec  # the finished Job is the build's record


def test_builder_defaults_place_nothing_and_request_one_core() -> None:
    pod = job()["spec"]["template"]["spec"]
    assert not {"nodeSelector", "tolerations", "affinity", "priorityClassName"} & set(pod)
    (container,) = pod["containers"]
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "2Gi"},
        "limits": {"memory": "4Gi"},
    }
    assert container["env"] == [{"name": "HOME", "value": "/opt/poncho"}]


def test_builder_pod_settings_reach_the_job() -> None:
    toleration = {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}
    affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}
    spec = env_spec(
        PVC,
        builderImage="registry.example.org/builder:1",
        builder={
            "nodeSelector": {"pool": "build"},
            "tolerations": [toleration],
            "affinity": affinity,
            "priorityClassName": "low",
            "resources": {"cpu": "250m", "memory": "512Mi", "memoryLimit": "1Gi"},
            "env": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
            "caBundle": {"name": "corp-ca", "key": "bundle.pem"},
        },
    )
    manifest = build_job(
        "tools", "ns", "uid-1", spec=spec, env_hash=HASH, normal=normalize_spec(POD_SPEC)
    )
    pod = manifest["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "build"}
    assert pod["tolerations"] == [toleration]
    assert pod["affinity"] == affinity
    assert pod["priorityClassName"] == "low"
    (container,) = pod["containers"]
    assert container["image"] == "registry.example.org/builder:1"
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"memory": "1Gi"},
    }
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {
        "HOME": "/opt/poncho",
        "SSL_CERT_FILE": "/etc/workqueue-operator/ca/ca.crt",
        "GIT_SSL_CAINFO": "/etc/workqueue-operator/ca/ca.crt",
        "HTTPS_PROXY": "http://proxy:3128",
    }
    volume = read_only_volume(pod, "ca-bundle", "/etc/workqueue-operator/ca")
    assert volume["configMap"] == {
        "name": "corp-ca",
        "items": [{"key": "bundle.pem", "path": "ca.crt"}],
    }


def test_url_output_uploads_and_needs_no_claim() -> None:
    manifest = job({"tarball": {"url": "https://store.example.org/envs/"}})
    pod = manifest["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert args[args.index("--upload") + 1] == f"https://store.example.org/envs/{HASH}.tar.gz"
    assert "--output" not in args
    assert [v["name"] for v in pod["volumes"]] == ["work"]


def ready(artifact: str) -> PonchoEnvStatus:
    return PonchoEnvStatus(phase=EnvPhase.READY, hash=HASH, artifact=artifact)


def test_env_mount_unpacks_a_pvc_artifact_where_it_was_built() -> None:
    mount = env_mount(env_spec(PVC), ready(f"pvc://envs/team/{HASH}.tar.gz"), run_as_user=1234)
    assert mount is not None
    (init,) = mount.init_containers
    assert init["image"] == "workqueue-operator/builder:0.1.0"
    script = init["command"][2]
    assert f"tar -xzf /poncho-artifacts/team/{HASH}.tar.gz -C /opt/poncho/{HASH}" in script
    assert init["securityContext"]["runAsUser"] == 1234
    volumes = {v["name"]: v for v in mount.volumes}
    assert volumes["poncho-artifacts"]["persistentVolumeClaim"] == {
        "claimName": "envs",
        "readOnly": True,
    }
    assert volumes["poncho-env"] == {"name": "poncho-env", "emptyDir": {}}
    assert mount.volume_mounts == [{"name": "poncho-env", "mountPath": "/opt/poncho"}]
    assert mount.command_prefix == [f"/opt/poncho/{HASH}/bin/run-in-env"]
    assert mount.env == [{"name": "PONCHO_ENV", "value": f"/opt/poncho/{HASH}"}]


def test_env_mount_fetches_a_url_artifact_and_needs_a_ready_env() -> None:
    url = f"https://store.example.org/envs/{HASH}.tar.gz"
    mount = env_mount(env_spec({"tarball": {"url": "https://store.example.org/envs"}}), ready(url))
    assert mount is not None
    assert url in mount.init_containers[0]["command"][2]
    assert [v["name"] for v in mount.volumes] == ["poncho-env"]
    building = PonchoEnvStatus(phase=EnvPhase.BUILDING, hash=HASH)
    assert env_mount(env_spec(PVC), building) is None
    with pytest.raises(ValueError, match="unknown artifact"):
        env_mount(env_spec(PVC), ready("ftp://x/y.tar.gz"))


IMAGE = {
    "image": {
        "repository": "registry.example.org/team/envs",
        "pushSecretRef": {"name": "push"},
        "baseImage": "registry.example.org/team/worker:1.0",
        "insecure": True,
    }
}
DIGEST = "sha256:" + "ab" * 32


def test_an_image_output_pushes_with_crane_and_mounts_the_push_secret_as_docker_config() -> None:
    manifest = job(IMAGE)
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert args[args.index("--image-repository") + 1] == "registry.example.org/team/envs"
    assert args[args.index("--base-image") + 1] == "registry.example.org/team/worker:1.0"
    assert "--insecure-registry" in args
    assert not {"--output", "--upload", "--artifact"} & set(args)
    assert args[args.index("--work-dir") + 1] == "/opt/poncho"  # built where the layer puts it
    volume = read_only_volume(pod, "registry", "/etc/workqueue-operator/registry")
    assert {v["name"] for v in pod["volumes"]} == {"work", "registry"}  # no claim
    assert volume["secret"] == {
        "secretName": "push",
        "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
    }
    assert {"name": "DOCKER_CONFIG", "value": "/etc/workqueue-operator/registry"} in container[
        "env"
    ]
    assert artifact_location(env_spec(IMAGE), HASH) is None  # the digest comes with the report


def test_an_anonymous_image_push_mounts_no_secret_and_keeps_tls_checks() -> None:
    pod = job({"image": {"repository": "registry.example.org/envs"}})["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert "--insecure-registry" not in container["args"]
    base = container["args"][container["args"].index("--base-image") + 1]
    assert base == DEFAULT_WORKER_IMAGE
    assert [v["name"] for v in pod["volumes"]] == ["work"]
    assert all(e["name"] != "DOCKER_CONFIG" for e in container["env"])


def test_image_jobs_are_named_by_hash_repository_and_base() -> None:
    tarball, image = build_job_name(env_spec(PVC), HASH), build_job_name(env_spec(IMAGE), HASH)
    assert tarball == job_name(HASH)
    assert image.startswith(f"penv-image-{HASH[:20]}-") and len(image) <= 63
    other_repo = {"image": {**IMAGE["image"], "repository": "registry.example.org/other"}}
    other_base = {"image": {**IMAGE["image"], "baseImage": "registry.example.org/w:2"}}
    same_target = {"image": {**IMAGE["image"], "insecure": False, "pushSecretRef": None}}
    assert build_job_name(env_spec(other_repo), HASH) != image
    assert build_job_name(env_spec(other_base), HASH) != image
    assert build_job_name(env_spec(same_target), HASH) == image


def test_image_tag_is_the_hash_then_the_base_id() -> None:
    tag = image_tag(HASH, "registry.example.org/team/worker:1.0")
    assert tag.startswith(f"{HASH}-") and len(tag) == 64 + 1 + 12 <= 128
    assert tag != image_tag(HASH, "registry.example.org/team/worker:1.1")


def test_env_mount_of_an_image_runs_the_image_itself_with_no_init_container() -> None:
    artifact = f"registry.example.org/team/envs:{image_tag(HASH, 'b')}@{DIGEST}"
    mount = env_mount(env_spec(IMAGE), ready(artifact))
    assert mount is not None
    assert mount.image == f"registry.example.org/team/envs@{DIGEST}"
    assert (mount.init_containers, mount.volumes, mount.volume_mounts) == ([], [], [])
    assert mount.command_prefix == [f"/opt/poncho/{HASH}/bin/run-in-env"]
    assert mount.env == [{"name": "PONCHO_ENV", "value": f"/opt/poncho/{HASH}"}]
    assert mount.image_pull_secrets == ["push"]  # the push Secret, when no pull Secret is named
    pulled = {"image": {**IMAGE["image"], "pullSecretRef": {"name": "pull"}}}
    pull_mount = env_mount(env_spec(pulled), ready(artifact))
    assert pull_mount is not None and pull_mount.image_pull_secrets == ["pull"]
    anonymous = env_mount(env_spec({"image": {"repository": "r.example/e"}}), ready(artifact))
    assert anonymous is not None and anonymous.image_pull_secrets == []


@pytest.mark.parametrize(
    ("pool_image", "conflicts"),
    [
        (DEFAULT_WORKER_IMAGE, False),  # the pool names no image of its own
        ("registry.example.org/team/worker:1.0", False),  # the environment's base
        ("registry.example.org/team/gpu-worker:1.0", True),
    ],
)
def test_a_pool_image_other_than_the_environment_base_conflicts(
    pool_image: str, conflicts: bool
) -> None:
    artifact = f"registry.example.org/team/envs:{image_tag(HASH, 'b')}@{DIGEST}"
    mount = env_mount(env_spec(IMAGE), ready(artifact))
    assert mount is not None
    problem = image_conflict(pool_image, env_spec(IMAGE), mount)
    assert (problem is not None) is conflicts
    if problem:
        assert "output.image.baseImage" in problem and pool_image in problem
    tarball = env_mount(env_spec(PVC), ready(f"pvc://envs/team/{HASH}.tar.gz"))
    assert tarball is not None and image_conflict(pool_image, env_spec(PVC), tarball) is None
