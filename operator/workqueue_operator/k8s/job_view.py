"""A PonchoEnv's build Job and its pods as the apiserver returns them (plain JSON), read into the
``JobView`` the build decision takes. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from workqueue_operator.envs.observe import JobState, JobView
from workqueue_operator.envs.result import BuildReport, parse_report
from workqueue_operator.k8s.jobs import BUILDER_CONTAINER, RESULT_ANNOTATION
from workqueue_operator.k8s.pod_trouble import newest_pod_trouble


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _condition(job: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == type_ and condition.get("status") == "True":
            return dict(condition)
    return None


def pod_message(pod: Mapping[str, Any]) -> tuple[str | None, datetime | None]:
    """The builder container's termination message and finish time, if it terminated."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") != BUILDER_CONTAINER:
            continue
        terminated = (status.get("state") or {}).get("terminated")
        if terminated:
            return terminated.get("message"), _time(terminated.get("finishedAt"))
    return None, None


def latest_report(pods: Iterable[Mapping[str, Any]], phase: str) -> BuildReport | None:
    """The report of the most recently finished pod in ``phase`` (Succeeded or Failed)."""
    found: list[tuple[float, str]] = []
    for pod in pods:
        if (pod.get("status") or {}).get("phase") != phase:
            continue
        message, finished = pod_message(pod)
        if message:
            found.append((finished.timestamp() if finished else 0.0, message))
    return parse_report(max(found)[1]) if found else None


def job_view(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> JobView | None:
    """The Job's state and report; None for a Job being deleted (as good as gone)."""
    meta = job.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return None
    status = job.get("status") or {}
    recorded_text = (meta.get("annotations") or {}).get(RESULT_ANNOTATION)
    recorded = parse_report(recorded_text) if recorded_text else None
    complete = _condition(job, "Complete")
    failed = _condition(job, "Failed")
    started = _time(status.get("startTime"))
    if complete is not None:
        report = recorded or latest_report(pods, "Succeeded")
        finished = _time(status.get("completionTime")) or _time(complete.get("lastTransitionTime"))
        return JobView(
            meta.get("name", ""),
            JobState.SUCCEEDED,
            report,
            recorded is not None,
            started=started,
            finished=finished,
        )
    if failed is not None:
        return JobView(
            meta.get("name", ""),
            JobState.FAILED,
            latest_report(pods, "Failed"),
            recorded=False,
            reason=str(failed.get("reason") or "JobFailed"),
            message=str(failed.get("message") or ""),
            started=started,
            finished=_time(failed.get("lastTransitionTime")),
        )
    return JobView(
        meta.get("name", ""),
        JobState.RUNNING,
        None,
        False,
        started=started,
        waiting=newest_pod_trouble(pods, "build pod"),
    )
