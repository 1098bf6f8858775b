"""PonchoEnv builds on the real apiserver, with the builder run for real.

The local control plane's nodes are KWOK fakes: nothing would run the build Job's pod. Here
the test plays the node for it (test harness, not product): the pod stays Pending (its claim
has no volume, so it is never scheduled and KWOK never touches it); the test runs the pod's own
command line as a local process, with the claim's mount path pointing to a temporary directory
(the "PVC") and the work emptyDir to another, then reports the container's exit code and
termination message in the pod's status as a kubelet does. The real Job controller turns that
into the Job's status, and the operator reads it from there.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.harness import REPO, Cluster, condition, wait_for, wait_for_passes
from workqueue_operator.envs.normalize import spec_hash
from workqueue_operator.k8s.jobs import ENV_ROOT, HASH_LABEL, OUTPUT_MOUNT, job_name

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

CLI = REPO / ".venv" / "bin" / "workqueue-operator"
SIX = {"pip": ["six==1.16.0"]}

# -- test harness: the node of the build pod ---------------------------------------------------


@dataclass(frozen=True)
class NodeRun:
    pod: str
    exit_code: int
    message: str


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pending_build_pod(
    cluster: Cluster, namespace: str, job: str, seen: set[str]
) -> dict[str, Any] | None:
    """A pod of the Job that is not finished and not handled yet."""
    result = cluster.kubectl(
        "get", "pods", "-l", f"batch.kubernetes.io/job-name={job}", "-o", "json",
        namespace=namespace,
    )  # fmt: skip
    for pod in json.loads(result.stdout)["items"]:
        phase = pod.get("status", {}).get("phase")
        if pod["metadata"]["uid"] not in seen and phase not in ("Succeeded", "Failed"):
            return dict(pod)
    return None


def run_build_pod(
    cluster: Cluster,
    namespace: str,
    job: str,
    volume: Path,
    *,
    seen: set[str] | None = None,
    timeout: float = 90,
) -> NodeRun:
    """Run the next pod of the build Job as a kubelet would, and report how it ended."""
    seen = set() if seen is None else seen
    pod = wait_for(
        lambda: pending_build_pod(cluster, namespace, job, seen),
        timeout=timeout,
        what=f"a pod of Job {job}",
    )
    seen.add(pod["metadata"]["uid"])
    container = pod["spec"]["containers"][0]
    assert container["command"] == ["workqueue-operator", "build-env"]
    work = volume.parent / f"work-{pod['metadata']['name']}"
    mounts = {OUTPUT_MOUNT: str(volume), ENV_ROOT: str(work)}

    def local(arg: str) -> str:
        for mount, path in mounts.items():
            if arg == mount or arg.startswith(mount + "/"):
                return path + arg[len(mount) :]
        return arg

    termination = volume.parent / f"termination-{pod['metadata']['name']}"
    started = _stamp()
    process = subprocess.run(
        [str(CLI), "build-env", *map(local, container["args"]), "--termination-log",
         str(termination)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    message = termination.read_text() if termination.exists() else process.stderr[-2000:]
    terminated = {
        "exitCode": process.returncode,
        "reason": "Completed" if process.returncode == 0 else "Error",
        "message": message,
        "startedAt": started,
        "finishedAt": _stamp(),
    }
    status = {
        "phase": "Succeeded" if process.returncode == 0 else "Failed",
        "containerStatuses": [
            {
                "name": container["name"],
                "image": container["image"],
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"terminated": terminated},
            }
        ],
    }
    cluster.kubectl(
        "patch", "pod", pod["metadata"]["name"], "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}), namespace=namespace,
    )  # fmt: skip
    return NodeRun(pod["metadata"]["name"], process.returncode, message)


# -- helpers -------------------------------------------------------------------------------------


def claim(name: str = "envs") -> str:
    return textwrap.dedent(
        f"""
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata:
          name: {name}
        spec:
          accessModes: [ReadWriteMany]
          resources:
            requests:
              storage: 1Gi
        """
    )


def poncho_env(name: str, spec: dict[str, Any], output: dict[str, Any] | None = None) -> str:
    body = {
        "apiVersion": "workqueue.dev/v1alpha1",
        "kind": "PonchoEnv",
        "metadata": {"name": name},
        "spec": {"spec": spec, "output": output or {"tarball": {"pvc": {"claimName": "envs"}}}},
    }
    return json.dumps(body, indent=1)


def build_jobs(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    result = cluster.kubectl("get", "jobs", "-l", HASH_LABEL, "-o", "json", namespace=namespace)
    items: list[dict[str, Any]] = json.loads(result.stdout)["items"]
    return items


def in_phase(cluster: Cluster, namespace: str, name: str, phase: str) -> dict[str, Any] | None:
    obj = cluster.get("penv", name, namespace)
    return obj if obj and obj.get("status", {}).get("phase") == phase else None


def run_in_env(tarball: Path, where: Path, *command: str) -> str:
    where.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(where, filter="tar")
    result = subprocess.run(
        [str(where / "bin" / "run-in-env"), *command],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return result.stdout.strip()


@pytest.fixture
def volume(operator: Cluster, namespace: str, tmp_path: Path) -> Path:
    """The ``envs`` claim, applied, and the directory that stands for its volume when a build
    pod runs here."""
    directory = tmp_path / "pvc"
    directory.mkdir()
    operator.apply(claim(), namespace)
    return directory


# -- tests ---------------------------------------------------------------------------------------


def test_pip_env_is_built_once_per_hash_and_reused(
    operator: Cluster, namespace: str, tmp_path: Path, volume: Path
) -> None:
    operator.apply(poncho_env("tools", SIX), namespace)
    env_hash = spec_hash(SIX)
    job = job_name(env_hash)

    # The claim has no volume here, so the real scheduler leaves the build pod Pending: until the
    # test plays its node, the PonchoEnv says why the build waits, in the scheduler's words.
    def build_waiting() -> dict[str, Any] | None:
        built = condition(operator.get("penv", "tools", namespace), "Built")
        return built if built and built["reason"] == "BuildWaiting" else None

    waiting = wait_for(build_waiting, what="tools Built=False BuildWaiting")
    assert waiting["message"].startswith(f"build Job {job} is not building: build pod {job}-")
    assert "cannot be scheduled" in waiting["message"]
    assert "unbound immediate PersistentVolumeClaims" in waiting["message"]
    warned = wait_for(
        lambda: [
            e for e in operator.events_for("tools", namespace) if e["reason"] == "BuildWaiting"
        ],
        what="a BuildWaiting Event",
    )
    assert warned[0]["type"] == "Warning"
    ready = condition(operator.get("penv", "tools", namespace), "Ready")
    assert ready is not None and (ready["status"], ready["reason"]) == ("False", "BuildWaiting")

    node = run_build_pod(operator, namespace, job, volume)
    assert node.exit_code == 0, node.message
    operator.kubectl(
        "wait", "--for=condition=Ready", "penv/tools", "--timeout=120s", namespace=namespace
    )
    ready = wait_for(lambda: in_phase(operator, namespace, "tools", "Ready"), what="tools Ready")
    status = ready["status"]
    tarball = volume / "poncho" / f"{env_hash}.tar.gz"
    assert status["hash"] == env_hash
    assert status["artifact"] == f"pvc://envs/poncho/{env_hash}.tar.gz"
    assert status["sizeBytes"] == tarball.stat().st_size > 0
    assert 0 < status["buildSeconds"] < 120
    assert status["jobName"] == job
    built = condition(ready, "Built")
    assert built is not None and (built["status"], built["reason"]) == ("True", "Built")
    # The tarball works: a task run through run-in-env imports the package.
    version = run_in_env(tarball, tmp_path / "unpacked", "python", "-c",
                         "import six; print(six.__version__)")  # fmt: skip
    assert version == "1.16.0"
    # The report outlives the pods: it is recorded on the Job.
    recorded = wait_for(
        lambda: (
            operator.get("job", job, namespace)["metadata"]  # type: ignore[index]
            .get("annotations", {})
            .get("workqueue.dev/build-result")
        ),
        what="the report on the Job",
    )
    assert json.loads(recorded)["size_bytes"] == status["sizeBytes"]

    # Same spec, keys reordered, blanks, duplicates, another spelling: no second Job.
    same = {"pip": [" Six == 1.16.0", "six==1.16.0"], "conda": {"dependencies": []}}
    operator.apply(poncho_env("tools-again", same), namespace)
    again = wait_for(
        lambda: in_phase(operator, namespace, "tools-again", "Ready"), what="tools-again Ready"
    )
    assert again["status"]["hash"] == env_hash
    assert again["status"]["reusedFrom"] == f"{namespace}/tools"
    assert again["status"]["artifact"] == status["artifact"]
    assert condition(again, "Built")["reason"] == "Reused"  # type: ignore[index]
    # An edit of the built object that keeps the content: nothing rebuilt either.
    operator.kubectl(
        "patch", "penv", "tools", "--type=merge", "-p",
        json.dumps({"spec": {"spec": {"pip": ["SIX==1.16.0 "]}}}), namespace=namespace,
    )  # fmt: skip
    wait_for(
        lambda: (
            (obj := operator.get("penv", "tools", namespace))
            and obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
        ),
        what="the operator's pass over the edited spec",
    )
    assert [j["metadata"]["name"] for j in build_jobs(operator, namespace)] == [job]
    assert in_phase(operator, namespace, "tools", "Ready") is not None

    # A changed version is a new hash: a new Job, built, Ready.
    changed = {"pip": ["six==1.15.0"]}
    operator.kubectl(
        "patch", "penv", "tools-again", "--type=merge", "-p",
        json.dumps({"spec": {"spec": changed}}), namespace=namespace,
    )  # fmt: skip
    new_job = job_name(spec_hash(changed))
    node = run_build_pod(operator, namespace, new_job, volume)
    assert node.exit_code == 0, node.message
    rebuilt = wait_for(
        lambda: (
            (obj := in_phase(operator, namespace, "tools-again", "Ready"))
            and obj["status"]["hash"] == spec_hash(changed)
            and obj
        ),
        what="tools-again Ready with the new hash",
    )
    assert "reusedFrom" not in rebuilt["status"]
    assert sorted(j["metadata"]["name"] for j in build_jobs(operator, namespace)) == sorted(
        [job, new_job]
    )
    assert in_phase(operator, namespace, "tools", "Ready") is not None


def test_missing_package_fails_with_the_installer_message_and_retries_with_backoff(
    operator: Cluster, namespace: str, volume: Path
) -> None:
    bad_spec = {"pip": ["wq-operator-no-such-package-7f3a==1.0"]}
    operator.apply(poncho_env("bad", bad_spec), namespace)
    operator.apply(poncho_env("good", SIX), namespace)
    bad_job = job_name(spec_hash(bad_spec))
    seen: set[str] = set()

    first = run_build_pod(operator, namespace, bad_job, volume, seen=seen)
    assert first.exit_code == 3
    good = run_build_pod(operator, namespace, job_name(spec_hash(SIX)), volume)
    assert good.exit_code == 0, good.message

    failed = wait_for(lambda: in_phase(operator, namespace, "bad", "Failed"), what="bad Failed")
    built = condition(failed, "Built")
    assert built is not None and built["status"] == "False"
    assert built["reason"] == "PipInstallFailed"
    assert "was not found in the package registry" in built["message"]
    assert failed["status"]["failedBuilds"] == 1
    job = operator.get("job", bad_job, namespace)
    assert job is not None
    failed_condition = next(c for c in job["status"]["conditions"] if c["type"] == "Failed")
    assert failed_condition["reason"] == "PodFailurePolicy"  # not retried by the Job: no use
    retry_at = datetime.fromisoformat(failed["status"]["nextRetryTime"].replace("Z", "+00:00"))
    delay = (retry_at - datetime.now(UTC)).total_seconds()
    assert 15 < delay <= 31

    # Nothing else in the namespace suffers.
    wait_for(lambda: in_phase(operator, namespace, "good", "Ready"), what="good Ready")
    warnings = [
        e for e in operator.events_for("bad", namespace) if e["reason"] == "PipInstallFailed"
    ]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning"

    # No tight loop: the next try (a new pod) comes only at the retry time, and only one.
    assert pending_build_pod(operator, namespace, bad_job, seen) is None
    second = run_build_pod(operator, namespace, bad_job, volume, seen=seen, timeout=60)
    assert datetime.now(UTC) >= retry_at
    assert second.exit_code == 3
    again = wait_for(
        lambda: (
            (obj := in_phase(operator, namespace, "bad", "Failed"))
            and obj["status"].get("failedBuilds") == 2
            and obj
        ),
        what="the second failure recorded",
    )
    second_retry = datetime.fromisoformat(again["status"]["nextRetryTime"].replace("Z", "+00:00"))
    assert 45 < (second_retry - datetime.now(UTC)).total_seconds() <= 61
    assert in_phase(operator, namespace, "good", "Ready") is not None


def test_a_refused_build_job_fails_the_env_then_builds_once_allowed(
    operator: Cluster, namespace: str, volume: Path
) -> None:
    """A full ResourceQuota refuses the build Job: the PonchoEnv is Failed with the apiserver's
    words (reason JobRefused) and a Warning, and tries again after the retry delay, which
    succeeds once the quota is gone."""
    operator.apply_full_quota("no-jobs", "jobs.batch", namespace)
    operator.apply(poncho_env("quota", SIX), namespace)
    failed = wait_for(lambda: in_phase(operator, namespace, "quota", "Failed"), what="Failed")
    built = condition(failed, "Built")
    assert built is not None and built["reason"] == "JobRefused"
    assert "exceeded quota: no-jobs" in built["message"]
    assert failed["status"]["failedBuilds"] == 1
    assert build_jobs(operator, namespace) == []
    events = [e for e in operator.events_for("quota", namespace) if e["reason"] == "JobRefused"]
    assert [e["type"] for e in events] == ["Warning"]

    operator.kubectl("delete", "resourcequota", "no-jobs", namespace=namespace)
    # The first retry comes 30 s after the refusal.
    wait_for(lambda: build_jobs(operator, namespace), timeout=90, what="the build Job")


def test_env_without_its_claim_is_invalid_and_builds_nothing(
    operator: Cluster, namespace: str
) -> None:
    operator.apply(poncho_env("orphan", SIX), namespace)
    invalid = wait_for(
        lambda: in_phase(operator, namespace, "orphan", "Invalid"), what="orphan Invalid"
    )
    assert condition(invalid, "Accepted")["reason"] == "ClaimNotFound"  # type: ignore[index]
    wait_for_passes("PonchoEnv", namespace, "orphan", 1)
    assert build_jobs(operator, namespace) == []
