"""Why a pod does not run, read from the pod as the apiserver returns it (pure)."""

from __future__ import annotations

from typing import Any

from workqueue_operator.k8s.observe import pod_view
from workqueue_operator.k8s.pod_trouble import diagnose_pod, newest_pod, pod_trouble
from workqueue_operator.values.pod_trouble import PodTrouble


def pod(name: str, status: dict[str, Any], created: str = "2026-12-07T10:00:00Z") -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": created}, "status": status}


def waiting(reason: str, message: str = "", last: dict[str, Any] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "manager", "state": {"waiting": {"reason": reason}}}
    if message:
        container["state"]["waiting"]["message"] = message
    if last is not None:
        container["lastState"] = {"terminated": last}
    return {"phase": "Pending", "containerStatuses": [container]}


def test_a_pod_that_cannot_pull_its_image_says_so_in_its_words() -> None:
    status = waiting("ImagePullBackOff", 'Back-off pulling image "example.org/mgr:9"')
    assert pod_trouble(pod("m-1", status), "the manager's pod") == (
        "the manager's pod m-1: container manager ImagePullBackOff: "
        'Back-off pulling image "example.org/mgr:9"'
    )


def test_a_crash_loop_says_how_the_last_run_ended() -> None:
    last = {"exitCode": 1, "reason": "Error", "message": "Traceback ...\nKeyError: 'PORT'\n"}
    status = waiting("CrashLoopBackOff", "back-off 10s restarting failed container", last)
    trouble = pod_trouble(pod("m-1", status), "the manager's pod")
    assert trouble.startswith("the manager's pod m-1: container manager CrashLoopBackOff")
    assert trouble.endswith("(last run: exit code 1, Error: Traceback ...\nKeyError: 'PORT')")


def test_an_unschedulable_pod_gives_the_schedulers_message() -> None:
    message = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    status = {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
            }
        ],
    }
    assert pod_trouble(pod("b-1", status), "build pod") == (
        f"build pod b-1 cannot be scheduled: {message}"
    )


def test_an_evicted_pod_says_why() -> None:
    status = {"phase": "Failed", "reason": "Evicted", "message": "The node was low on memory."}
    assert pod_trouble(pod("b-1", status), "build pod") == (
        "build pod b-1 was evicted: The node was low on memory."
    )


def test_a_starting_or_running_pod_has_no_trouble() -> None:
    assert pod_trouble(pod("m-1", waiting("ContainerCreating")), "pod") == ""
    assert pod_trouble(pod("m-1", {"phase": "Running"}), "pod") == ""
    assert pod_trouble(pod("m-1", {}), "pod") == ""


def test_the_newest_pod_not_being_deleted_is_the_one_read() -> None:
    old = pod("m-old", {"phase": "Running"}, "2026-12-07T10:00:00Z")
    new = pod("m-new", {"phase": "Pending"}, "2026-12-07T10:05:00Z")
    going = pod("m-going", {"phase": "Running"}, "2026-12-07T10:09:00Z")
    going["metadata"]["deletionTimestamp"] = "2026-12-07T10:10:00Z"
    assert newest_pod([old, going, new]) is new
    assert newest_pod([going]) is None and newest_pod([]) is None


def test_a_worker_pods_view_carries_its_trouble() -> None:
    status = waiting("ErrImagePull", 'failed to pull and unpack image "nowhere/worker:1"')
    view = pod_view(pod("pool-c1m512d1024-ab12cd", status))
    assert view.trouble == PodTrouble(
        "ImagePullBackOff",
        "worker pod pool-c1m512d1024-ab12cd: container manager ErrImagePull: "
        'failed to pull and unpack image "nowhere/worker:1"',
    )
    assert pod_view(pod("pool-c1m512d1024-ab12ce", {"phase": "Pending"})).trouble is None


def test_each_cause_has_the_reason_kubectl_shows_and_a_failing_pull_is_one_cause() -> None:
    def reason(status: dict[str, Any]) -> str | None:
        trouble = diagnose_pod(pod("p-1", status), "pod")
        return None if trouble is None else trouble.reason

    unschedulable = {
        "phase": "Pending",
        "conditions": [{"type": "PodScheduled", "status": "False", "message": "0/1 nodes"}],
    }
    assert reason(unschedulable) == "Unschedulable"
    gated = {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
    assert reason({"phase": "Pending", "conditions": [gated]}) == "SchedulingGated"
    assert reason(waiting("RunContainerError")) == "RunContainerError"
    assert reason(waiting("ErrImageNeverPull")) == "ErrImageNeverPull"
    # The kubelet alternates between these two while a pull keeps failing: one reason.
    assert reason(waiting("ErrImagePull")) == reason(waiting("ImagePullBackOff"))
    assert reason(waiting("ImagePullBackOff")) == "ImagePullBackOff"
    assert reason(waiting("CrashLoopBackOff")) == "CrashLoopBackOff"
    assert reason(waiting("CreateContainerConfigError")) == "CreateContainerConfigError"
    assert reason({"phase": "Failed", "reason": "Evicted"}) == "Evicted"
    assert reason(waiting("ContainerCreating")) is None
