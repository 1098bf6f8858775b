"""The host runner (test harness, e2e/hostrunner) against the local control plane and real
CCTools: a worker pod serves a real manager under the pod's name, dies with its pod (tasks
too), exits are reported as a kubelet would, volumes and env are materialised, one process per
pod whatever the watch does, and stop() leaves nothing behind."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e.hostrunner import CLAIM_ANNOTATION, FINALIZER, HostRunner
from e2e.hostrunner.podspec import Mount, expand, rewrite_paths

from tests.cctools.manager import ManagerFactory
from tests.cctools.workers import process_stats, processes_under
from tests.harness import Cluster, wait_for
from workqueue_operator.wq.status import StatusClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

LABEL = "workqueue.dev/host-runner"


@pytest.fixture
def runner(cluster: Cluster, namespace: str) -> Iterator[HostRunner]:
    with HostRunner(cluster.kubeconfig, namespace=namespace, max_grace_seconds=3) as started:
        yield started
    assert started.running_count == 0


def pod_manifest(
    name: str,
    command: list[str],
    *,
    env: list[dict[str, Any]] | None = None,
    mounts: list[dict[str, Any]] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    grace: int = 5,
    working_dir: str | None = None,
    service_account_token: bool = False,
) -> str:
    container: dict[str, Any] = {
        "name": "main",
        "image": "debian:bookworm",
        "command": command,
        "env": env or [],
        "volumeMounts": mounts or [],
    }
    if working_dir:
        container["workingDir"] = working_dir
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {LABEL: "true"}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": grace,
            "automountServiceAccountToken": service_account_token,
            "containers": [container],
            "volumes": volumes or [],
        },
    }
    return json.dumps(pod)


def secret_manifest(name: str, data: dict[str, bytes]) -> str:
    encoded = {k: base64.b64encode(v).decode() for k, v in data.items()}
    return json.dumps(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": encoded}
    )


def phase(cluster: Cluster, namespace: str, name: str) -> str | None:
    pod = cluster.get("pod", name, namespace)
    return None if pod is None else pod.get("status", {}).get("phase")


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return not stat[stat.rfind(")") + 2 :].startswith("Z")


def zombie_children() -> list[int]:
    me = str(os.getpid())
    return [pid for pid, fields in process_stats() if fields[0] == "Z" and fields[1] == me]


# -- pure parts ---------------------------------------------------------------------------------


def test_paths_are_rewritten_only_as_whole_path_prefixes() -> None:
    mounts = [
        Mount("/workspace", Path("/tmp/p/volumes/workspace")),
        Mount("/etc/workqueue/password", Path("/tmp/p/volumes/pw")),
    ]
    assert rewrite_paths("--workdir=/workspace", mounts) == "--workdir=/tmp/p/volumes/workspace"
    assert rewrite_paths("/etc/workqueue/password/password", mounts) == "/tmp/p/volumes/pw/password"
    assert rewrite_paths("/workspace2 /x/workspace", mounts) == "/workspace2 /x/workspace"
    assert rewrite_paths("a:/workspace/b c", mounts) == "a:/tmp/p/volumes/workspace/b c"
    assert expand("$(A)-$$(A)-$(B)", {"A": "1"}) == "1-$(A)-$(B)"


# -- with the cluster and real CCTools -----------------------------------------------------------


def test_worker_pod_serves_the_manager_as_the_pod_and_dies_with_it(
    cluster: Cluster,
    namespace: str,
    runner: HostRunner,
    manager_factory: ManagerFactory,
    tmp_path: Path,
) -> None:
    password = f"pw-{uuid.uuid4().hex}".encode()
    password_file = tmp_path / "password"
    password_file.write_bytes(password)
    manager = manager_factory(password_file=password_file)
    cluster.apply(secret_manifest("wq-password", {"password": password}), namespace)
    name = "worker-a"
    command = [
        "work_queue_worker",
        "--cores",
        "1",
        "--memory",
        "500",
        "--disk",
        "1000",
        "--timeout",
        "60",
        "--workdir",
        "/workspace",
        "--password",
        "/etc/workqueue/password/password",
        "127.0.0.1",
        str(manager.port),
    ]
    cluster.apply(
        pod_manifest(
            name,
            command,
            env=[{"name": "HOME", "value": "/workspace"}],
            working_dir="/workspace",
            mounts=[
                {"name": "workspace", "mountPath": "/workspace"},
                {"name": "pw", "mountPath": "/etc/workqueue/password", "readOnly": True},
            ],
            volumes=[
                {"name": "workspace", "emptyDir": {}},
                {
                    "name": "pw",
                    "secret": {
                        "secretName": "wq-password",
                        "items": [{"key": "password", "path": "password"}],
                        "defaultMode": 0o440,
                    },
                },
            ],
        ),
        namespace,
    )
    status = StatusClient("127.0.0.1", manager.port, password=password, timeout=5)

    def worker_hostnames() -> list[str]:
        return [w.hostname for w in asyncio.run(status.worker_status())]

    try:
        wait_for(lambda: name in worker_hostnames(), timeout=30, what=f"worker {name} connected")
    finally:
        print(runner.processes(), runner.logs(namespace, name), worker_hostnames())
    info = runner.process(namespace, name)
    assert info is not None and info.state == "running", info
    pod_dir = info.pod_dir
    assert (pod_dir / "volumes" / "pw" / "password").read_bytes() == password
    assert f"--workdir {pod_dir}/volumes/workspace" in " ".join(info.argv)

    task_id = manager.submit("echo hello-from-$(hostname)", cores=1, memory_mb=100, disk_mb=10)
    [finished] = manager.wait_for(1, timeout=30)
    assert finished.task_id == task_id and finished.ok, (finished, runner.logs(namespace, name))
    assert finished.output == f"hello-from-{name}\n"

    # A long task, then the pod goes: the worker and its task die, the task goes back to the
    # queue, the pod object goes (the runner finishes the deletion).
    manager.submit("sleep 300", cores=1, memory_mb=100, disk_mb=10)
    wait_for(lambda: manager.stats()["tasks_running"] == 1, timeout=20, what="sleep task running")
    wait_for(lambda: processes_under(pod_dir), timeout=10, what="task process in the sandbox")
    worker_pid = info.pid
    assert worker_pid is not None
    cluster.kubectl("delete", "pod", name, "--wait=false", namespace=namespace)
    wait_for(lambda: cluster.get("pod", name, namespace) is None, timeout=20, what="pod gone")
    assert runner.running_count == 0
    assert not alive(worker_pid)
    assert processes_under(pod_dir) == []
    wait_for(
        lambda: manager.stats()["workers_connected"] == 0 and not worker_hostnames(),
        timeout=20,
        what="manager sees the worker gone",
    )
    wait_for(lambda: manager.stats()["tasks_waiting"] == 1, timeout=20, what="task re-queued")
    exited = runner.process(namespace, name)
    assert exited is not None and exited.state == "exited", exited


def test_exit_codes_are_reported_as_a_kubelet_would_and_stick(
    cluster: Cluster, namespace: str, runner: HostRunner
) -> None:
    cluster.apply(
        pod_manifest("exit-3", ["sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"]),
        namespace,
    )
    cluster.apply(pod_manifest("exit-0", ["true"]), namespace)
    wait_for(lambda: phase(cluster, namespace, "exit-3") == "Failed", timeout=30, what="Failed")
    wait_for(lambda: phase(cluster, namespace, "exit-0") == "Succeeded", timeout=30, what="done")
    # KWOK's pod-ready stage only matches Pending pods and the apiserver refuses terminated ->
    # running for restartPolicy Never: the final status stays.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        pod = cluster.get("pod", "exit-3", namespace)
        assert pod is not None and pod["status"]["phase"] == "Failed"
        time.sleep(0.5)
    assert pod is not None
    [container] = pod["status"]["containerStatuses"]
    terminated = container["state"]["terminated"]
    assert terminated["exitCode"] == 3 and terminated["reason"] == "Error", terminated
    assert terminated["startedAt"] <= terminated["finishedAt"]
    assert pod["metadata"]["annotations"][CLAIM_ANNOTATION] == runner.claim
    assert FINALIZER not in pod["metadata"].get("finalizers", [])  # nothing left to hold
    ok = cluster.get("pod", "exit-0", namespace)
    assert ok is not None
    assert ok["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    logs = runner.logs(namespace, "exit-3")
    assert "to-stdout" in logs and "to-stderr" in logs, logs
    # A finished pod is not started again, and deleting it needs nobody.
    assert [p.name for p in runner.processes()].count("exit-3") == 1
    cluster.kubectl("delete", "pod", "exit-3", "exit-0", "--timeout=20s", namespace=namespace)


def test_volumes_env_and_hostname_are_materialised(
    cluster: Cluster, namespace: str, runner: HostRunner
) -> None:
    cluster.apply(secret_manifest("creds", {"token": b"tok-123", "user": b"alice"}), namespace)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"greeting": "hello", "other": "x"},
    }
    cluster.apply(json.dumps(config_map), namespace)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "mgr"},
        "spec": {"selector": {"app": "mgr"}, "ports": [{"port": 9123}]},
    }
    cluster.apply(json.dumps(service), namespace)
    script = textwrap.dedent(
        """
        set -e
        echo "token=$(cat /etc/creds/tok)"
        echo "mode=$(stat -c %a /etc/creds/tok)"
        echo "files=$(ls /etc/creds | tr '\\n' ,)"
        echo "greeting=$(cat /etc/settings/greeting)"
        echo "user=$USER_NAME pod=$POD_NAME ns=$POD_NS ip=$POD_IP dir=$SETTINGS_DIR"
        echo "hostname=$(hostname)"
        echo "resolves=$(getent hosts "$(hostname)" | cut -d' ' -f1)"
        echo "service=$(getent hosts "mgr.$POD_NS.svc" | cut -d' ' -f1)"
        touch /scratch/written && echo scratch=ok
        echo "cwd=$(pwd)"
        sa=/var/run/secrets/kubernetes.io/serviceaccount
        token=$(test -s $sa/token && echo token)
        echo "sa=$(cat $sa/namespace) $token $(test -s $sa/ca.crt && echo ca)"
        """
    )
    cluster.apply(
        pod_manifest(
            "volumes",
            ["sh", "-c", script],
            env=[
                {
                    "name": "USER_NAME",
                    "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user"}},
                },
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "SETTINGS_DIR", "value": "/etc/settings"},
            ],
            working_dir="/scratch",
            service_account_token=True,  # the apiserver adds the kube-api-access volume
            mounts=[
                {"name": "creds", "mountPath": "/etc/creds", "readOnly": True},
                {"name": "settings", "mountPath": "/etc/settings"},
                {"name": "scratch", "mountPath": "/scratch"},
            ],
            volumes=[
                {
                    "name": "creds",
                    "secret": {
                        "secretName": "creds",
                        "items": [{"key": "token", "path": "tok", "mode": 0o400}],
                    },
                },
                {"name": "settings", "configMap": {"name": "settings"}},
                {"name": "scratch", "emptyDir": {}},
            ],
        ),
        namespace,
    )
    wait_for(
        lambda: phase(cluster, namespace, "volumes") in ("Succeeded", "Failed"),
        timeout=30,
        what="the pod to finish",
    )
    logs = runner.logs(namespace, "volumes")
    assert phase(cluster, namespace, "volumes") == "Succeeded", logs
    info = runner.process(namespace, "volumes")
    assert info is not None
    volumes = info.pod_dir / "volumes"
    values = dict(line.split("=", 1) for line in logs.splitlines() if "=" in line)
    assert values["token"] == "tok-123"
    assert values["mode"] == "400"
    assert values["files"] == "tok,"
    assert values["greeting"] == "hello"
    assert values["user"] == (
        f"alice pod=volumes ns={namespace} ip=127.0.0.1 dir={volumes / 'settings'}"
    )
    assert values["hostname"] == "volumes"
    assert values["resolves"] == "127.0.0.1"
    assert values["service"] == "127.0.0.1"  # Services of the namespace stand for cluster DNS
    assert values["scratch"] == "ok" and (volumes / "scratch" / "written").exists()
    assert values["cwd"] == str(volumes / "scratch")
    assert values["sa"] == f"{namespace} token ca"
    assert "/etc/creds" not in " ".join(info.argv)


def test_one_process_per_pod_across_relists_and_runners_and_stop_kills_all(
    cluster: Cluster, namespace: str
) -> None:
    sleeper = ["sh", "-c", "exec sleep 300"]  # PID 1 without a SIGTERM handler: needs SIGKILL
    with HostRunner(cluster.kubeconfig, namespace=namespace, max_grace_seconds=1) as runner:
        cluster.apply(pod_manifest("sleeper-a", sleeper, grace=30), namespace)
        cluster.apply(pod_manifest("sleeper-b", sleeper, grace=30), namespace)
        wait_for(lambda: runner.running_count == 2, timeout=30, what="two processes")
        pids = {p.name: p.pid for p in runner.processes()}
        relists, watches = runner.relists, runner.watch_restarts
        runner.resync(relist=False)
        wait_for(lambda: runner.watch_restarts > watches, timeout=20, what="a resumed watch")
        assert runner.relists == relists
        for _ in range(2):
            runner.resync()
        wait_for(lambda: runner.relists >= relists + 1, timeout=20, what="a relist")
        # Another runner on the same pods leaves them to the first one (claim annotation).
        with HostRunner(cluster.kubeconfig, namespace=namespace) as other:
            time.sleep(2)
            assert other.running_count == 0 and other.processes() == []
        time.sleep(1)
        assert runner.running_count == 2
        assert {p.name: p.pid for p in runner.processes()} == pids

        # Deleted: held Terminating by the finalizer until the process is gone (SIGTERM is
        # ignored by a PID 1 without handler, so SIGKILL after the capped grace).
        cluster.kubectl("delete", "pod", "sleeper-a", "--wait=false", namespace=namespace)
        terminating = wait_for(
            lambda: (
                (p := cluster.get("pod", "sleeper-a", namespace))
                and p["metadata"].get("deletionTimestamp")
                and p
            ),
            timeout=10,
            what="sleeper-a Terminating",
        )
        assert FINALIZER in terminating["metadata"]["finalizers"]
        wait_for(
            lambda: cluster.get("pod", "sleeper-a", namespace) is None, timeout=20, what="gone"
        )
        gone = runner.process(namespace, "sleeper-a")
        assert gone is not None and gone.exit_code == 137, gone
        assert gone.pid is not None and not alive(gone.pid)
        b = runner.process(namespace, "sleeper-b")
        assert b is not None and b.pid is not None and alive(b.pid)
    # stop(): everything killed, the pod let go (no finalizer, no claim), nothing left running.
    assert runner.running_count == 0
    assert not alive(b.pid)
    assert processes_under(b.pod_dir) == []
    pod = cluster.get("pod", "sleeper-b", namespace)
    assert pod is not None
    assert FINALIZER not in pod["metadata"].get("finalizers", [])
    assert CLAIM_ANNOTATION not in pod["metadata"].get("annotations", {})
    assert zombie_children() == []
