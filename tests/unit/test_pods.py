"""The worker Pod builder: command, resources, labels, ownership, security, names."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_env_jobs import HASH, env_spec, ready
from workqueue_operator.api.common import Framework
from workqueue_operator.api.pool import WorkerPoolSpec
from workqueue_operator.k8s.env_mount import EnvMount, env_mount
from workqueue_operator.k8s.labels import MANAGED_BY, MANAGED_BY_LABEL, POOL_LABEL, SHAPE_LABEL
from workqueue_operator.k8s.pods import (
    GENERATION_LABEL,
    MAX_POD_NAME_LENGTH,
    ManagerEndpoint,
    ManagerProject,
    PasswordSecret,
    WorkerPodOptions,
    build_worker_pod,
    worker_args,
    worker_pod_name,
)
from workqueue_operator.values.shapes import WorkerShape

SHAPE = WorkerShape.of(cores=4, memory_mb=8192, disk_mb=16384)


def spec(**fields: Any) -> WorkerPoolSpec:
    return WorkerPoolSpec.model_validate({"managerRef": {"name": "mgr"}, **fields})


def build(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "pool": "analysis",
        "namespace": "science",
        "pool_uid": "uid-1",
        "pod_name": worker_pod_name("analysis", SHAPE.id, "x7k2p"),
        "shape": SHAPE,
        "spec": spec(image="registry.local/worker:1"),
        "manager": ManagerEndpoint("mgr.science.svc", 9123),
        "generation": 3,
    }
    return build_worker_pod(**(arguments | overrides))


def test_worker_runs_as_pid_1_with_the_pods_resources_then_host_and_port() -> None:
    pod = build()
    container = pod["spec"]["containers"][0]
    assert container["command"] == [
        "work_queue_worker",
        "--timeout=900",
        "--cores=4",
        "--memory=8192",
        "--disk=16384",
        "--gpus=0",
        "--workdir=/workspace",
        "mgr.science.svc",
        "9123",
    ]
    assert container["image"] == "registry.local/worker:1"
    assert "args" not in container
    limits = {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "16Gi"}
    assert container["resources"] == {"requests": limits, "limits": limits}


def test_tini_is_an_option() -> None:
    pod = build(options=WorkerPodOptions(use_tini=True, timeout_seconds=60))
    command = pod["spec"]["containers"][0]["command"]
    assert command[:4] == ["tini", "-g", "--", "work_queue_worker"]
    assert "--timeout=60" in command


def test_gpus_are_requested_and_limited() -> None:
    shape = WorkerShape.of(cores=8, memory_mb=32768, disk_mb=65536, gpus=2)
    pod = build(shape=shape, pod_name=worker_pod_name("analysis", shape.id, "a1b2c"))
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == "2"
    assert "--gpus=2" in pod["spec"]["containers"][0]["command"]


def test_worker_args_come_before_the_resource_flags_so_they_cannot_override_them() -> None:
    args = worker_args(
        SHAPE,
        ManagerEndpoint("h", 1),
        extra_args=["--cores=64", "--idle-timeout=30"],
    )
    assert args.index("--cores=64") < args.index("--cores=4")
    assert args.index("--timeout=900") < args.index("--idle-timeout=30")
    assert args[-2:] == ["h", "1"]


def test_manager_found_by_project_name_through_a_catalog() -> None:
    args = worker_args(SHAPE, ManagerProject("my-analysis", "catalog.local:9097"))
    assert args[-4:] == ["-M", "my-analysis", "-C", "catalog.local:9097"]
    assert worker_args(SHAPE, ManagerProject("p"))[-2:] == ["-M", "p"]


def test_manager_endpoint_parses_host_port() -> None:
    assert ManagerEndpoint.parse("login1.example.org:9123") == ManagerEndpoint(
        "login1.example.org", 9123
    )
    for bad in ("login1", ":9123", "host:port", "host:70000"):
        with pytest.raises(ValueError, match="host:port"):
            ManagerEndpoint.parse(bad)


def test_password_is_a_read_only_file_passed_with_password() -> None:
    pod = build(password_secret=PasswordSecret("wq-secret", "pw"))
    container = pod["spec"]["containers"][0]
    command = container["command"]
    file = command[command.index("--password") + 1]
    assert file == "/etc/workqueue/password/password"
    mount = next(
        m for m in container["volumeMounts"] if m["mountPath"] == "/etc/workqueue/password"
    )
    assert mount["readOnly"] is True
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "wq-secret"
    assert volume["secret"]["items"] == [{"key": "pw", "path": "password"}]
    assert "--password" not in build()["spec"]["containers"][0]["command"]


def test_labels_owner_and_template_fields() -> None:
    pool_spec = spec(
        template={
            "labels": {"team": "hep", POOL_LABEL: "someone-else"},
            "annotations": {"note": "x"},
            "nodeSelector": {"disk": "ssd"},
            "tolerations": [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {}},
            "priorityClassName": "batch-low",
            "serviceAccountName": "workers",
        }
    )
    pod = build(spec=pool_spec)
    meta = pod["metadata"]
    assert (pod["apiVersion"], pod["kind"], meta["namespace"]) == ("v1", "Pod", "science")
    assert meta["labels"] == {
        "team": "hep",
        POOL_LABEL: "analysis",  # the template cannot move a pod out of its pool
        MANAGED_BY_LABEL: MANAGED_BY,
        SHAPE_LABEL: SHAPE.id,
        GENERATION_LABEL: "3",
        "app.kubernetes.io/name": "workqueue-worker",
        "app.kubernetes.io/instance": "analysis",
    }
    assert meta["annotations"] == {"note": "x"}
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "workqueue.dev/v1alpha1",
            "kind": "WorkerPool",
            "name": "analysis",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    pod_spec = pod["spec"]
    assert pod_spec["nodeSelector"] == {"disk": "ssd"}
    assert pod_spec["tolerations"][0]["key"] == "batch"
    assert pod_spec["affinity"] == {"nodeAffinity": {}}
    assert pod_spec["priorityClassName"] == "batch-low"
    assert pod_spec["serviceAccountName"] == "workers"
    assert pod_spec["automountServiceAccountToken"] is True


def test_pod_is_never_restarted_and_runs_restricted() -> None:
    pod_spec = build()["spec"]
    assert pod_spec["restartPolicy"] == "Never"
    assert pod_spec["terminationGracePeriodSeconds"] <= 30
    assert pod_spec["shareProcessNamespace"] is False  # the worker is PID 1
    assert pod_spec["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in pod_spec
    assert "nodeSelector" not in pod_spec
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert pod_spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container_security = pod_spec["containers"][0]["securityContext"]
    assert container_security["allowPrivilegeEscalation"] is False
    assert container_security["capabilities"] == {"drop": ["ALL"]}
    image_user = build(options=WorkerPodOptions(run_as_user=None))["spec"]["securityContext"]
    assert "runAsUser" not in image_user
    assert image_user["runAsNonRoot"] is True


def test_pod_names_are_hostnames_of_at_most_63_characters() -> None:
    assert worker_pod_name("analysis", SHAPE.id, "x7k2p") == "analysis-c4m8192d16384-x7k2p"
    assert worker_pod_name("team.analysis", "c1m1024d2048", "ab") == "team-analysis-c1m1024d2048-ab"
    long_pool = "a" * 200
    first = worker_pod_name(long_pool, SHAPE.id, "x7k2p")
    other = worker_pod_name("a" * 199 + "b", SHAPE.id, "x7k2p")
    assert len(first) <= MAX_POD_NAME_LENGTH
    assert first.endswith("-x7k2p")
    assert first != other  # the hash keeps pools that share a long prefix apart
    assert first == worker_pod_name(long_pool, SHAPE.id, "x7k2p")
    with pytest.raises(ValueError, match="suffix"):
        worker_pod_name("p", SHAPE.id, "Bad_Suffix")
    with pytest.raises(ValueError, match="DNS label"):
        build(pod_name="x" * 64)


def ready_environment(output: dict[str, Any], artifact: str) -> EnvMount:
    """How worker pods use a Ready PonchoEnv of ``output`` that was built as ``artifact``."""
    mount = env_mount(env_spec(output), ready(artifact))
    assert mount is not None
    return mount


def test_a_ready_environment_is_unpacked_first_and_wraps_the_worker() -> None:
    output = {"tarball": {"pvc": {"claimName": "envs"}}}
    mount = ready_environment(output, f"pvc://envs/poncho/{HASH}.tar.gz")
    pod = build(environment=mount)
    worker = pod["spec"]["containers"][0]
    assert worker["command"][: len(mount.command_prefix)] == mount.command_prefix
    assert "work_queue_worker" in worker["command"]
    assert pod["spec"]["initContainers"] == mount.init_containers
    claims = [v for v in pod["spec"]["volumes"] if "persistentVolumeClaim" in v]
    assert claims and claims[0]["persistentVolumeClaim"]["claimName"] == "envs"


def test_an_environment_image_is_the_worker_image_and_brings_its_pull_secret() -> None:
    output = {"image": {"repository": "r.example/envs", "pushSecretRef": {"name": "s"}}}
    digest = "sha256:" + "cd" * 32
    pod = build(environment=ready_environment(output, f"r.example/envs:t@{digest}"))
    worker = pod["spec"]["containers"][0]
    assert worker["image"] == f"r.example/envs@{digest}"
    assert worker["command"][0] == f"/opt/poncho/{HASH}/bin/run-in-env"
    assert "work_queue_worker" in worker["command"]
    assert "initContainers" not in pod["spec"]
    assert pod["spec"]["imagePullSecrets"] == [{"name": "s"}]
    # Nothing is mounted over /opt/poncho: the environment is in the image.
    assert all(m["mountPath"] != "/opt/poncho" for m in worker["volumeMounts"])


def test_taskvine_pools_run_vine_worker_with_a_transfer_port_at_the_pods_own_ip() -> None:
    pod = build(framework=Framework.TASKVINE)
    container = pod["spec"]["containers"][0]
    command = container["command"]
    assert command[0] == "vine_worker"
    assert "--workspace=/workspace" in command and not any("--workdir" in a for a in command)
    assert "--transfer-port=9124" in command
    # Kubernetes expands $(POD_IP) from the container's env: the pod's IP, not the node's.
    assert "--contact-hostport=$(POD_IP):9124" in command
    pod_ip = next(e for e in container["env"] if e["name"] == "POD_IP")
    assert pod_ip["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert container["ports"] == [
        {"name": "vine-transfer", "containerPort": 9124, "protocol": "TCP"}
    ]
    assert command[-2:] == ["mgr.science.svc", "9123"]


def test_work_queue_pools_run_work_queue_worker_without_transfer_ports() -> None:
    container = build()["spec"]["containers"][0]
    assert container["command"][0] == "work_queue_worker"
    assert "--workdir=/workspace" in container["command"]
    assert "ports" not in container
    assert not any("transfer" in a or "contact" in a for a in container["command"])


def test_workspace_is_an_empty_dir_limited_to_the_pods_disk() -> None:
    for framework in Framework:
        pod = build(framework=framework)
        [workspace] = [v for v in pod["spec"]["volumes"] if v["name"] == "workspace"]
        limit = pod["spec"]["containers"][0]["resources"]["limits"]["ephemeral-storage"]
        assert workspace["emptyDir"] == {"sizeLimit": limit}


def test_workers_of_a_tls_manager_connect_with_ssl() -> None:
    command = build(tls=True)["spec"]["containers"][0]["command"]
    assert "--ssl" in command and command.index("--ssl") < len(command) - 2
    assert "--ssl" not in build()["spec"]["containers"][0]["command"]


IN_PLACE = {"mode": "Buckets", "updateMode": "InPlace"}


@pytest.mark.parametrize("framework", list(Framework))
def test_in_place_pods_take_their_size_from_their_own_limits_and_restart_on_a_resize(
    framework: Framework,
) -> None:
    pod = build(spec=spec(image="w:1", sizing=IN_PLACE), framework=framework)
    container = pod["spec"]["containers"][0]
    command = container["command"]
    # The kubelet expands $(VAR) from the env, which the downward API fills at each start.
    assert "--cores=$(WORKER_CORES)" in command
    assert "--memory=$(WORKER_MEMORY_MB)" in command
    assert "--disk=$(WORKER_DISK_MB)" in command
    assert "--gpus=0" in command
    assert not any(a in command for a in ("--cores=4", "--memory=8192", "--disk=16384"))
    fields = {
        e["name"]: e["valueFrom"]["resourceFieldRef"]
        for e in container["env"]
        if "resourceFieldRef" in e.get("valueFrom", {})
    }
    assert fields == {
        "WORKER_CORES": {"containerName": "worker", "resource": "limits.cpu", "divisor": "1"},
        "WORKER_MEMORY_MB": {
            "containerName": "worker",
            "resource": "limits.memory",
            "divisor": "1Mi",
        },
        "WORKER_DISK_MB": {
            "containerName": "worker",
            "resource": "limits.ephemeral-storage",
            "divisor": "1Mi",
        },
    }
    assert container["resizePolicy"] == [
        {"resourceName": "cpu", "restartPolicy": "RestartContainer"},
        {"resourceName": "memory", "restartPolicy": "RestartContainer"},
    ]
    # RestartContainer is refused with restartPolicy Never; a worker that exits 0 still ends.
    assert pod["spec"]["restartPolicy"] == "OnFailure"
    assert container["resources"] == build()["spec"]["containers"][0]["resources"]
    # A TaskVine worker keeps its workspace (and "forever" cached files) across the restart.
    assert ("--keep-workspace" in command) is (framework is Framework.TASKVINE)


@pytest.mark.parametrize("mode", ["Off", "Initial", "Recreate"])
def test_pools_that_never_resize_keep_fixed_sizes_and_restart_policy_never(mode: str) -> None:
    pod = build(spec=spec(image="w:1", sizing={"mode": "Buckets", "updateMode": mode}))
    container = pod["spec"]["containers"][0]
    assert "--cores=4" in container["command"]
    assert "resizePolicy" not in container
    assert pod["spec"]["restartPolicy"] == "Never"


def test_the_resize_patch_sets_cpu_and_memory_requests_and_limits_only() -> None:
    from workqueue_operator.k8s.pods import resize_patch  # noqa: PLC0415

    patch = resize_patch(WorkerShape.of(1, 512, 4096))
    assert patch == {
        "spec": {
            "containers": [
                {
                    "name": "worker",
                    "resources": {
                        "requests": {"cpu": "1", "memory": "512Mi"},
                        "limits": {"cpu": "1", "memory": "512Mi"},
                    },
                }
            ]
        }
    }
