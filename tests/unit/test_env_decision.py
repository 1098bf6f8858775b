"""The build decision, the Job observation and the builder's report (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from workqueue_operator.envs.decision import (
    Action,
    Facts,
    decide,
    job_refused,
    retry_delay,
    stamp,
)
from workqueue_operator.envs.observe import Donor, JobState, JobView, find_donor
from workqueue_operator.envs.result import BuildFailure, BuildSuccess, parse_report
from workqueue_operator.k8s.job_view import job_view

H = "a" * 64
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ARTIFACT = f"pvc://envs/poncho/{H}.tar.gz"
SUCCESS = BuildSuccess(H, ARTIFACT, 1234, 5.5)


def facts(job: JobView | None = None, donor: Donor | None = None, **kw: Any) -> Facts:
    values: dict[str, Any] = {
        "env_hash": H,
        "problem": None,
        "expected_artifact": ARTIFACT,
        "job": job,
        "donor": donor,
        "generation": 1,
        "now": NOW,
    } | kw
    return Facts(**values)


def running() -> JobView:
    return JobView("penv-build-x", JobState.RUNNING, None, False)


def failed(report: BuildFailure | None = None) -> JobView:
    return JobView(
        "penv-build-x",
        JobState.FAILED,
        report or BuildFailure("PipInstallFailed", "x was not found in the package registry"),
        False,
        reason="PodFailurePolicy",
        finished=NOW,
    )


def succeeded(report: BuildSuccess | None = SUCCESS, recorded: bool = False) -> JobView:
    started = NOW - timedelta(seconds=9)
    return JobView("penv-build-x", JobState.SUCCEEDED, report, recorded, "", "", started, NOW)


def apply(status: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = status | changes
    return {k: v for k, v in merged.items() if v is not None}


def test_a_new_env_gets_a_job_then_builds_then_is_ready_and_records_the_report() -> None:
    first = decide({"phase": "Pending"}, facts())
    assert first.action is Action.CREATE_JOB
    assert first.status["hash"] == H and first.status["phase"] == "Building"
    status = apply({"phase": "Pending"}, first.status)
    second = decide(status, facts(running()))
    assert second.action is Action.NONE and second.event is None  # no Event per poll
    status = apply(status, second.status)
    assert status["jobName"] == "penv-build-x"
    done = decide(status, facts(succeeded()))
    assert done.action is Action.RECORD_REPORT and done.record == SUCCESS.to_json()
    assert (done.status["phase"], done.status["artifact"], done.status["sizeBytes"]) == (
        "Ready",
        ARTIFACT,
        1234,
    )
    assert done.status["buildSeconds"] == 5.5
    assert done.event is not None and not done.event.warning
    status = apply(status, done.status)
    built = next(c for c in status["conditions"] if c["type"] == "Built")
    assert (built["status"], built["reason"]) == ("True", "Built")
    # Ready and recorded: nothing more, ever (no rebuild), and no status churn.
    still = decide(status, facts(succeeded(recorded=True)))
    assert (still.action, still.status, still.event) == (Action.NONE, {}, None)
    assert decide(status, facts(None)).action is Action.NONE


def test_a_job_that_succeeded_without_a_report_is_trusted_with_its_own_times() -> None:
    done = decide({"hash": H, "phase": "Building"}, facts(succeeded(report=None)))
    assert done.status["artifact"] == ARTIFACT and done.status.get("sizeBytes") is None
    assert done.status["buildSeconds"] == 9.0
    assert done.action is Action.NONE


def test_a_donor_of_the_same_hash_is_reused_without_a_job() -> None:
    donor = Donor("ns", "first", ARTIFACT, 1234, 5.5)
    decision = decide({}, facts(None, donor))
    assert decision.action is Action.NONE
    assert decision.status["reusedFrom"] == "ns/first"
    assert decision.status["phase"] == "Ready" and decision.status["artifact"] == ARTIFACT


def test_a_changed_hash_clears_the_old_build_and_starts_again() -> None:
    old = {"hash": "b" * 64, "phase": "Ready", "artifact": "pvc://envs/poncho/b.tar.gz",
           "sizeBytes": 9, "reusedFrom": "ns/x"}  # fmt: skip
    decision = decide(old, facts())
    assert decision.action is Action.CREATE_JOB
    status = apply(old, decision.status)
    assert status["hash"] == H and status["phase"] == "Building"
    assert "artifact" not in status and "sizeBytes" not in status and "reusedFrom" not in status


def test_a_failure_is_recorded_once_then_retried_after_a_growing_delay() -> None:
    status = {"hash": H, "phase": "Building", "jobName": "penv-build-x"}
    first = decide(status, facts(failed()))
    assert first.status["phase"] == "Failed" and first.status["failedBuilds"] == 1
    assert first.status["nextRetryTime"] == stamp(NOW + timedelta(seconds=30))
    assert first.event is not None and first.event.warning
    assert first.event.reason == "PipInstallFailed"
    assert "not found in the package registry" in first.event.message
    assert first.wait_seconds == 30
    status = apply(status, first.status)
    # Seen again before the retry time: nothing new (no second count, no Event, no Job).
    later = decide(status, facts(failed(), now=NOW + timedelta(seconds=10)))
    assert (later.action, later.status, later.event) == (Action.NONE, {}, None)
    assert later.wait_seconds == 20
    # The retry time: the failed Job goes, and the next pass makes a new one.
    retry = decide(status, facts(failed(), now=NOW + timedelta(seconds=30)))
    assert retry.action is Action.DELETE_JOB
    recreate = decide(status, facts(None, now=NOW + timedelta(seconds=31)))
    assert recreate.action is Action.CREATE_JOB
    status = apply(status, recreate.status)
    second = decide(status, facts(failed(), now=NOW + timedelta(seconds=40)))
    assert second.status["failedBuilds"] == 2
    assert second.status["nextRetryTime"] == stamp(NOW + timedelta(seconds=100))
    # If the Job vanished while Failed, the delay still holds.
    status = apply(status, second.status)
    waiting = decide(status, facts(None, now=NOW + timedelta(seconds=50)))
    assert waiting.action is Action.NONE and waiting.wait_seconds == 50


def test_a_refused_job_fails_the_env_and_is_tried_again_after_a_growing_delay() -> None:
    status = {"hash": H, "phase": "Pending"}
    assert decide(status, facts(None)).action is Action.CREATE_JOB
    refusal = 'Job.batch "penv-build-x" is invalid: spec.template.spec.tolerations[0]...'
    first = job_refused(status, facts(None), "penv-build-x", refusal)
    assert first.action is Action.NONE
    assert first.status["phase"] == "Failed" and first.status["failedBuilds"] == 1
    assert first.status["jobName"] == "penv-build-x"
    assert first.event is not None and first.event.warning
    assert first.event.reason == "JobRefused" and refusal in first.event.message
    built = next(c for c in first.status["conditions"] if c["type"] == "Built")
    assert (built["status"], built["reason"]) == ("False", "JobRefused")
    assert first.wait_seconds == 30
    status = apply(status, first.status)
    # Before the retry time no Job; after it, one is asked for again, and a second refusal
    # counts a second failure with a longer delay (no Event: the env stays Failed).
    assert decide(status, facts(None, now=NOW + timedelta(seconds=10))).action is Action.NONE
    later = facts(None, now=NOW + timedelta(seconds=31))
    assert decide(status, later).action is Action.CREATE_JOB
    second = job_refused(status, later, "penv-build-x", refusal)
    assert second.status["failedBuilds"] == 2 and second.wait_seconds == 60
    assert second.event is None


def test_retry_delay_doubles_up_to_an_hour() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert retry_delay(20) == 3600


def test_specs_that_cannot_be_built_fail_without_a_job() -> None:
    problem = decide({}, facts(problem=("InvalidSpec", "a spec the builder cannot take")))
    assert problem.action is Action.NONE and problem.status["phase"] == "Failed"
    invalid = decide({"hash": H}, facts(env_hash=None, problem=("InvalidSpec", "installs nothing")))
    assert invalid.status["hash"] is None and invalid.action is Action.NONE


# -- observation -----------------------------------------------------------------------------------


def pod(phase: str, message: str | None, finished: str) -> dict[str, Any]:
    terminated = {"exitCode": 0 if phase == "Succeeded" else 3, "finishedAt": finished}
    if message is not None:
        terminated["message"] = message
    return {
        "status": {
            "phase": phase,
            "containerStatuses": [{"name": "builder", "state": {"terminated": terminated}}],
        }
    }


def job(condition: str | None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    conditions = []
    if condition:
        conditions.append({"type": condition, "status": "True", "reason": "PodFailurePolicy",
                           "lastTransitionTime": "2026-01-01T12:00:00Z"})  # fmt: skip
    return {
        "metadata": {"name": "penv-build-x", "annotations": annotations or {}},
        "status": {"conditions": conditions, "startTime": "2026-01-01T11:59:50Z",
                   "completionTime": "2026-01-01T12:00:00Z"},
    }  # fmt: skip


def test_job_view_reads_the_latest_pods_report() -> None:
    pods = [
        pod("Failed", BuildFailure("Old", "first try").to_json(), "2026-01-01T11:00:00Z"),
        pod("Failed", BuildFailure("PipInstallFailed", "no such package").to_json(),
            "2026-01-01T11:30:00Z"),
    ]  # fmt: skip
    view = job_view(job("Failed"), pods)
    assert view is not None and view.state is JobState.FAILED
    assert view.report == BuildFailure("PipInstallFailed", "no such package")
    assert view.reason == "PodFailurePolicy"
    ok = job_view(job("Complete"), [pod("Succeeded", SUCCESS.to_json(), "2026-01-01T12:00:00Z")])
    assert ok is not None and ok.report == SUCCESS and not ok.recorded
    assert ok.started is not None and ok.finished is not None
    assert (ok.finished - ok.started).total_seconds() == 10
    recorded = job_view(job("Complete", {"workqueue.dev/build-result": SUCCESS.to_json()}), [])
    assert recorded is not None and recorded.recorded and recorded.report == SUCCESS
    assert job_view(job(None), []).state is JobState.RUNNING  # type: ignore[union-attr]
    deleting = job(None)
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T12:00:00Z"
    assert job_view(deleting, []) is None


def test_a_message_that_is_not_a_report_is_the_failure_text() -> None:
    assert parse_report("Traceback ...\nMemoryError") == BuildFailure(
        "BuilderError", "Traceback ...\nMemoryError"
    )
    assert parse_report("") is None
    long = BuildFailure("PipInstallFailed", "x" * 10000).to_json()
    assert len(long.encode()) <= 4096
    assert parse_report(long).reason == "PipInstallFailed"  # type: ignore[union-attr]


def env(ns: str, name: str, env_hash: str = H, phase: str = "Ready", *, share: bool = False,
        artifact: str = ARTIFACT) -> dict[str, Any]:  # fmt: skip
    return {
        "metadata": {"namespace": ns, "name": name},
        "spec": {"shareAcrossNamespaces": share},
        "status": {"hash": env_hash, "phase": phase, "artifact": artifact, "sizeBytes": 7},
    }


def test_donors_are_ready_envs_of_the_hash_and_other_namespaces_only_share_urls() -> None:
    url = f"https://store/{H}.tar.gz"
    envs = [
        env("ns", "me"),
        env("ns", "other-hash", "b" * 64),
        env("ns", "building", phase="Building"),
        env("other", "pvc-shared", share=True),
        env("other", "url-private", artifact=url),
        env("other", "url-shared", share=True, artifact=url),
    ]
    assert find_donor(envs, namespace="ns", name="me", env_hash=H, share=True) == Donor(
        "other", "url-shared", url, 7, None
    )
    assert find_donor(envs, namespace="ns", name="me", env_hash=H, share=False) is None
    local = [*envs, env("ns", "zeta"), env("ns", "alpha")]
    donor = find_donor(local, namespace="ns", name="me", env_hash=H, share=True)
    assert donor is not None and donor.ref == "ns/alpha"


IMAGE_TARGET = f"registry.example.org/envs:{H}-0123456789ab"
IMAGE = f"{IMAGE_TARGET}@sha256:{'c' * 64}"


def test_image_donors_are_the_same_repository_and_base_in_any_sharing_namespace() -> None:
    other_base = f"registry.example.org/envs:{H}-ba9876543210@sha256:{'d' * 64}"
    other_repo = f"registry.example.org/team/envs:{H}-0123456789ab@sha256:{'e' * 64}"
    envs = [
        env("ns", "tarball"),  # a tarball is no image
        env("ns", "base-2", artifact=other_base),
        env("ns", "repo-2", artifact=other_repo),
        env("other", "private", artifact=IMAGE),
        env("other", "shared", share=True, artifact=IMAGE),
    ]
    found = find_donor(envs, namespace="ns", name="me", env_hash=H, share=True, image=IMAGE_TARGET)
    assert found == Donor("other", "shared", IMAGE, 7, None)  # an image is reachable anywhere
    assert (
        find_donor(envs, namespace="ns", name="me", env_hash=H, share=False, image=IMAGE_TARGET)
        is None
    )
    # A tarball output takes no image, however close.
    tarball = find_donor(envs[1:], namespace="ns", name="me", env_hash=H, share=True)
    assert tarball is None
    local = find_donor(
        [*envs, env("ns", "same", artifact=IMAGE)],
        namespace="ns", name="me", env_hash=H, share=True, image=IMAGE_TARGET,
    )  # fmt: skip
    assert local is not None and local.ref == "ns/same"


def test_an_image_job_is_ready_with_the_reported_digest_and_a_lost_report_builds_again() -> None:
    pushed = BuildSuccess(H, IMAGE, 18275, 3.2)
    building = {"hash": H, "phase": "Building"}
    ready = decide(building, facts(succeeded(pushed), expected_artifact=None))
    assert ready.status["phase"] == "Ready" and ready.status["artifact"] == IMAGE
    assert ready.status["sizeBytes"] == 18275
    # An image has no location known beforehand: without the report there is no digest.
    lost = decide(
        {"hash": H, "phase": "Building"}, facts(succeeded(report=None), expected_artifact=None)
    )
    assert lost.status["phase"] == "Failed" and "artifact" not in lost.status
    assert lost.event is not None and lost.event.reason == "ReportLost"
    later = facts(succeeded(report=None), expected_artifact=None, now=NOW + timedelta(seconds=31))
    retry = decide(apply({"hash": H, "phase": "Building"}, lost.status), later)
    assert retry.action is Action.DELETE_JOB  # the next Job finds the tag and reports it


UNSCHEDULABLE = (
    "0/5 nodes are available: 1 node(s) had untolerated taint(s), "
    "4 node(s) didn't match Pod's node affinity/selector."
)


def waiting_pod(name: str, created: str, status: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": created}, "status": status}


EVICTED = waiting_pod("penv-build-x-a", "2026-01-01T11:59:50Z", {
    "phase": "Failed", "reason": "Evicted",
    "message": "The node was low on resource: ephemeral-storage.",
})  # fmt: skip
PENDING = waiting_pod("penv-build-x-b", "2026-01-01T11:59:55Z", {
    "phase": "Pending",
    "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": UNSCHEDULABLE}],
})  # fmt: skip
PULLING = waiting_pod("penv-build-x-c", "2026-01-01T11:59:58Z", {
    "phase": "Pending",
    "conditions": [{"type": "PodScheduled", "status": "True"}],
    "containerStatuses": [{"name": "builder", "state": {"waiting": {
        "reason": "ImagePullBackOff", "message": "Back-off pulling image \"nope:1\""}}}],
})  # fmt: skip
STARTING = waiting_pod("penv-build-x-d", "2026-01-01T11:59:59Z", {
    "phase": "Pending",
    "conditions": [{"type": "PodScheduled", "status": "True"}],
    "containerStatuses": [{"name": "builder", "state": {"waiting": {
        "reason": "ContainerCreating"}}}],
})  # fmt: skip


def test_a_running_job_says_why_its_newest_pod_is_not_building() -> None:
    evicted = job_view(job(None), [EVICTED])
    assert evicted is not None and evicted.state is JobState.RUNNING
    assert evicted.waiting == (
        "build pod penv-build-x-a was evicted: The node was low on resource: ephemeral-storage."
    )
    # The Job made a new pod after the eviction: the newest pod is the one that tells.
    pending = job_view(job(None), [PENDING, EVICTED])
    assert pending is not None
    assert pending.waiting == f"build pod penv-build-x-b cannot be scheduled: {UNSCHEDULABLE}"
    pulling = job_view(job(None), [EVICTED, PULLING])
    assert pulling is not None and pulling.waiting == (
        "build pod penv-build-x-c: container builder ImagePullBackOff: "
        'Back-off pulling image "nope:1"'
    )
    # A container being created, or no pod yet, holds nothing up.
    assert job_view(job(None), [EVICTED, STARTING]).waiting == ""  # type: ignore[union-attr]
    assert job_view(job(None), []).waiting == ""  # type: ignore[union-attr]


def test_a_build_that_waits_says_why_with_one_warning_per_new_reason() -> None:
    status: dict[str, Any] = {"hash": H, "phase": "Building", "jobName": "penv-build-x"}
    why = f"build pod penv-build-x-b cannot be scheduled: {UNSCHEDULABLE}"
    stuck = decide(
        status, facts(JobView("penv-build-x", JobState.RUNNING, None, False, waiting=why))
    )
    status = apply(status, stuck.status)
    built = next(c for c in status["conditions"] if c["type"] == "Built")
    assert (built["status"], built["reason"]) == ("False", "BuildWaiting")
    assert built["message"] == f"build Job penv-build-x is not building: {why}"
    assert status["phase"] == "Building" and stuck.action is Action.NONE
    assert stuck.event is not None and stuck.event.warning and stuck.event.reason == "BuildWaiting"
    # The same reason on the next poll: no new Event, no status churn.
    again = decide(
        status, facts(JobView("penv-build-x", JobState.RUNNING, None, False, waiting=why))
    )
    assert (again.status, again.event) == ({}, None)
    # The pod is scheduled and builds: the condition says so, without a Warning.
    moving = decide(status, facts(running()))
    status = apply(status, moving.status)
    built = next(c for c in status["conditions"] if c["type"] == "Built")
    assert built["reason"] == "Building" and moving.event is None
