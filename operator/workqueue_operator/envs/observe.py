"""What the operator reads about a build, from plain API JSON (pure): the build Job's state
and report, and other PonchoEnvs whose build of the same hash can be reused."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from workqueue_operator.envs.artifact import UrlArtifact, parse_artifact
from workqueue_operator.envs.result import BuildReport, parse_report
from workqueue_operator.k8s.jobs import BUILDER_CONTAINER, RESULT_ANNOTATION


class JobState(StrEnum):
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class JobView:
    """A build Job as the decision needs it."""

    name: str
    state: JobState
    report: BuildReport | None
    """The builder's report: the one recorded on the Job, else its latest finished pod's."""
    recorded: bool
    """The report is recorded on the Job (annotation), so pods may go."""
    reason: str = ""
    """The Job's Failed condition reason (BackoffLimitExceeded, PodFailurePolicy, ...)."""
    message: str = ""
    started: datetime | None = None
    finished: datetime | None = None


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
    return JobView(meta.get("name", ""), JobState.RUNNING, None, False, started=started)


@dataclass(frozen=True)
class Donor:
    """Another PonchoEnv's finished build of the same hash."""

    namespace: str
    name: str
    artifact: str
    size_bytes: int | None
    build_seconds: float | None

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


def find_donor(
    envs: Iterable[Mapping[str, Any]],
    *,
    namespace: str,
    name: str,
    env_hash: str,
    share: bool,
) -> Donor | None:
    """A Ready PonchoEnv with the same hash whose artifact this one can use: any one of this
    namespace; one of another namespace only when both share across namespaces and the artifact
    is a URL (a claim is only mountable in its own namespace). This namespace's first, then by
    name, so every PonchoEnv picks the same donor."""
    found: list[tuple[int, str, str, Donor]] = []
    for env in envs:
        meta = env.get("metadata") or {}
        status = env.get("status") or {}
        ns, other = meta.get("namespace", ""), meta.get("name", "")
        artifact = status.get("artifact")
        if (ns, other) == (namespace, name) or status.get("hash") != env_hash:
            continue
        if status.get("phase") != "Ready" or not artifact:
            continue
        if ns != namespace:
            shared = bool((env.get("spec") or {}).get("shareAcrossNamespaces"))
            try:
                url = isinstance(parse_artifact(artifact), UrlArtifact)
            except ValueError:
                url = False
            if not (share and shared and url):
                continue
        donor = Donor(ns, other, artifact, status.get("sizeBytes"), status.get("buildSeconds"))
        found.append((0 if ns == namespace else 1, ns, other, donor))
    return min(found, key=lambda item: item[:3])[3] if found else None
