"""Pure pieces of reconciliation: observations, connections, manager status, manager objects."""

from __future__ import annotations

from datetime import UTC, datetime

from workqueue_operator.api.manager import WorkQueueManagerSpec
from workqueue_operator.api.pool import WorkerPoolSpec
from workqueue_operator.k8s.connection import manager_connection, pool_connection
from workqueue_operator.k8s.manager_objects import manager_deployment, manager_service
from workqueue_operator.k8s.observe import pod_view
from workqueue_operator.k8s.pods import ManagerEndpoint, ManagerProject
from workqueue_operator.managers.status import ManagerPoll, poll_status
from workqueue_operator.scaling import UNKNOWN, PodPhase
from workqueue_operator.scaling.observe import category_demands, worker_views
from workqueue_operator.wq.status_models import CategoryStatus, QueueStatus, WorkerStatus


def test_pod_view_reads_phase_shape_and_times() -> None:
    pod = {
        "metadata": {
            "name": "p-1",
            "labels": {"workqueue.dev/shape": "c1m954d1908"},
            "creationTimestamp": "2026-11-24T10:00:00Z",
        },
        "status": {"phase": "Running", "startTime": "2026-11-24T10:00:05Z"},
    }
    view = pod_view(pod)
    assert (view.name, view.phase, view.shape_id) == ("p-1", PodPhase.RUNNING, "c1m954d1908")
    assert view.started_at is not None and view.started_at - view.created_at == 5
    pod["metadata"]["deletionTimestamp"] = "2026-11-24T10:01:00Z"
    assert pod_view(pod).phase is PodPhase.TERMINATING
    assert pod_view({"metadata": {"name": "x"}}).phase is PodPhase.PENDING


def test_category_demands_use_declared_sizes_only_and_skip_the_whole_queue_row() -> None:
    rows = [
        CategoryStatus.model_validate(r)
        for r in [
            {"category": "whole queue", "tasks_waiting": 9},
            {
                "category": "small",
                "tasks_waiting": 5,
                "tasks_running": 2,
                "max_cores": "1",
                "max_memory": "100",
                "max_disk": "-1",
            },
            {"category": "measured", "tasks_waiting": 1, "max_memory": "~259"},
            {"category": "idle", "tasks_waiting": 0},
        ]
    ]
    small, measured = category_demands(rows)
    assert (small.category, small.waiting, small.running) == ("small", 5, 2)
    assert (small.task.cores, small.task.memory_mb, small.task.disk_mb) == (1, 100, UNKNOWN)
    # A measured peak does not limit what the manager allocates: the task takes a whole worker.
    assert measured.task.is_unknown


def test_worker_views_keep_named_workers() -> None:
    workers = [
        WorkerStatus.model_validate({"hostname": "pool-a-1", "total_tasks_running": 2}),
        WorkerStatus.model_validate({"hostname": ""}),
    ]
    assert [(w.hostname, w.tasks_running) for w in worker_views(workers)] == [("pool-a-1", 2)]


def test_connections_for_each_way_of_naming_a_manager() -> None:
    in_cluster = WorkQueueManagerSpec.model_validate({"image": "m:1", "port": 9200})
    conn = manager_connection("m", "ns", in_cluster)
    assert conn.workers == ManagerEndpoint("m.ns.svc", 9200)
    assert conn.status_address == "m.ns.svc:9200"

    by_project = WorkQueueManagerSpec.model_validate(
        {"mode": "External", "projectName": "p", "catalog": "cat:9097"}
    )
    conn = manager_connection("m", "ns", by_project)
    assert conn.workers == ManagerProject("p", "cat:9097")
    assert conn.status_address is None

    pool = WorkerPoolSpec.model_validate({"manager": {"address": "127.0.0.1:9123"}})
    own = pool_connection(pool, None)
    assert own is not None and own.workers == ManagerEndpoint("127.0.0.1", 9123)
    assert (
        pool_connection(WorkerPoolSpec.model_validate({"managerRef": {"name": "m"}}), None) is None
    )


def test_poll_status_keeps_last_figures_when_unreachable_and_flags_transitions() -> None:
    at = datetime(2026, 11, 24, tzinfo=UTC)
    answered = ManagerPoll(
        at, "h:1", queue=QueueStatus.model_validate({"tasks_waiting": 3, "workers_connected": 1})
    )
    fields, events = poll_status({}, answered, 1)
    assert [e.reason for e in events] == ["StatusAnswered"] and fields["phase"] == "Running"
    assert fields["queue"]["tasksWaiting"] == 3
    assert fields["lastPollTime"] == "2026-11-24T00:00:00Z"
    later = ManagerPoll(datetime(2026, 11, 24, 0, 1, tzinfo=UTC), "h:1", queue=answered.queue)
    again, events_again = poll_status(fields, later, 1)
    assert not events_again
    # Nothing new: no field differs, so lastPollTime stays and nothing needs a write.
    assert "lastPollTime" not in again
    assert all(fields[key] == value for key, value in again.items())

    gone = ManagerPoll(at, "h:1", reason="Unreachable", message="connection refused")
    down, events_down = poll_status(fields, gone, 1)
    assert [(e.type.value, e.reason) for e in events_down] == [("Warning", "Unreachable")]
    assert down["phase"] == "Unreachable" and "queue" not in down
    assert "lastPollTime" in down
    reachable = next(c for c in down["conditions"] if c["type"] == "Reachable")
    assert (reachable["status"], reachable["message"]) == ("False", "connection refused")

    # The same outage failing the next poll in other words: the message follows, no new Event.
    reset = ManagerPoll(at, "h:1", reason="Unreachable", message="connection reset by peer")
    still_down, events_still = poll_status(down, reset, 1)
    assert not events_still
    reachable = next(c for c in still_down["conditions"] if c["type"] == "Reachable")
    assert reachable["message"] == "connection reset by peer"
    # Another reason while down (the manager came back with another password) is news.
    refused = ManagerPoll(at, "h:1", reason="AuthenticationFailed", message="wrong password")
    _, events_auth = poll_status(still_down, refused, 1)
    assert [(e.type.value, e.reason) for e in events_auth] == [("Warning", "AuthenticationFailed")]


def test_an_unanswered_poll_is_said_by_the_managers_pod_when_it_knows_why() -> None:
    at = datetime(2026, 11, 24, tzinfo=UTC)
    gone = ManagerPoll(at, "m.ns.svc:9123", reason="Unreachable", message="Connect call failed")
    assert gone.because_of_pod("") is gone
    said = gone.because_of_pod("the manager's pod m-1: container manager ImagePullBackOff")
    assert said.reason == "ManagerPodNotRunning" and not said.reachable
    assert said.describe() == (
        "the manager's pod m-1: container manager ImagePullBackOff (Connect call failed)"
    )
    fields, events = poll_status({}, said, 1)
    assert fields["phase"] == "Unreachable"
    assert [(e.type.value, e.reason) for e in events] == [("Warning", "ManagerPodNotRunning")]
    answered = ManagerPoll(at, "h:1", queue=QueueStatus.model_validate({"tasks_waiting": 1}))
    assert answered.because_of_pod("anything") is answered


def test_in_cluster_manager_objects() -> None:
    spec = WorkQueueManagerSpec.model_validate(
        {
            "image": "me/manager:1",
            "command": ["python", "run.py"],
            "port": 9200,
            "passwordSecretRef": {"name": "pw"},
        }
    )
    deployment = manager_deployment("m", "ns", "uid-1", spec, "op:1")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert deployment["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    manager, agent = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in manager["env"]}
    assert env["WORKQUEUE_PORT"] == "9200"
    assert env["WORKQUEUE_PASSWORD_FILE"] == "/etc/workqueue/password/password"
    assert "--transactions-log" in agent["args"] and "127.0.0.1:9200" in agent["args"]
    service = manager_service("m", "ns", "uid-1", 9200)
    assert service["spec"]["ports"][0] == {"name": "workqueue", "port": 9200, "targetPort": 9200}
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_in_cluster_manager_pod_template_places_the_pod_and_keeps_the_selector() -> None:
    spec = WorkQueueManagerSpec.model_validate(
        {
            "image": "me/manager:1",
            "template": {
                "labels": {"team": "hep", "app.kubernetes.io/managed-by": "someone-else"},
                "annotations": {"a": "b"},
                "nodeSelector": {"type": "real"},
                "tolerations": [{"key": "k", "operator": "Exists"}],
                "priorityClassName": "high",
                "serviceAccountName": "runner",
            },
        }
    )
    deployment = manager_deployment("m", "ns", "uid-1", spec, "op:1")
    template = deployment["spec"]["template"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert template["metadata"]["labels"]["team"] == "hep"
    # The operator's own labels win: the Deployment's selector must keep matching its pod.
    assert selector.items() <= template["metadata"]["labels"].items()
    assert template["metadata"]["annotations"] == {"a": "b"}
    pod = template["spec"]
    assert pod["nodeSelector"] == {"type": "real"}
    assert pod["tolerations"] == [{"key": "k", "operator": "Exists"}]
    assert pod["priorityClassName"] == "high" and pod["serviceAccountName"] == "runner"
    bare = manager_deployment("m", "ns", "uid-1", WorkQueueManagerSpec(image="x"), "op:1")
    assert not {"nodeSelector", "tolerations", "affinity"} & bare["spec"]["template"]["spec"].keys()


def test_workers_get_a_service_name_they_can_hold() -> None:
    spec = WorkQueueManagerSpec.model_validate({"image": "m:1"})
    long_namespace = "n" * 50
    conn = manager_connection("mgr", long_namespace, spec)
    assert conn.workers == ManagerEndpoint("mgr", 9123)  # the worker keeps 48 characters
    assert conn.status_address == f"mgr.{long_namespace}.svc:9123"
