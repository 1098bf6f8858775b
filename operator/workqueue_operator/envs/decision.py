"""The PonchoEnv build decision (pure): from the current status and what was observed (the
hash, the build Job, a donor of the same hash), the status to write, the one action to take,
the Event to post and when to look again.

Phases: Pending -> Building -> Ready, or -> Failed -> (after a delay) Building again. A hash
that is built already is never built again: a Ready PonchoEnv stays Ready, a finished Job of
the hash is read instead of re-run, and a donor's artifact is reused. A failed build is tried
again after 30 s, 60 s, 120 s, ... (at most an hour), never at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from workqueue_operator.api.common import merge_condition
from workqueue_operator.api.env import EnvPhase
from workqueue_operator.envs.observe import Donor, JobState, JobView
from workqueue_operator.envs.result import BuildFailure, BuildSuccess

BUILT = "Built"
"""The condition that says whether the environment is built (True) and, if not, why."""
BUILD_POLL_S = 2.0
READY_RECHECK_S = 60.0
BLOCKED_RECHECK_S = 60.0
RETRY_BASE_S = 30.0
RETRY_MAX_S = 3600.0

RESET_FIELDS = (
    "artifact",
    "sizeBytes",
    "buildSeconds",
    "jobName",
    "lastBuildTime",
    "reusedFrom",
    "failedBuilds",
    "nextRetryTime",
)
"""Status fields that belong to one hash: cleared when the hash changes."""


class Action(StrEnum):
    NONE = "None"
    CREATE_JOB = "CreateJob"
    DELETE_JOB = "DeleteJob"
    """Delete the failed Job so that the next pass makes a new one (a retry)."""
    RECORD_REPORT = "RecordReport"
    """Copy the builder's report onto the finished Job (it outlives the pods)."""


@dataclass(frozen=True)
class Event:
    warning: bool
    reason: str
    message: str


@dataclass(frozen=True)
class Facts:
    """What the controller observed this pass."""

    env_hash: str | None
    """None when the spec cannot be normalised (see ``problem``)."""
    problem: tuple[str, str] | None
    """(reason, message) when the spec cannot be built by this operator."""
    expected_artifact: str | None
    """Where this PonchoEnv's own build puts the tarball; None for an image (its digest comes
    only with the builder's report)."""
    job: JobView | None
    donor: Donor | None
    generation: int | None
    now: datetime


@dataclass(frozen=True)
class Decision:
    status: dict[str, Any]
    """Fields to merge into status (None deletes); empty when nothing changes."""
    wait_seconds: float
    action: Action = Action.NONE
    event: Event | None = None
    record: str | None = field(default=None)
    """The report JSON to record (RECORD_REPORT)."""


def retry_delay(failures: int) -> float:
    """Seconds before the next try after ``failures`` failed builds in a row."""
    return float(min(RETRY_BASE_S * 2.0 ** max(failures - 1, 0), RETRY_MAX_S))


def stamp(moment: datetime) -> str:
    """A Kubernetes timestamp."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


class _Pass:
    """One decision pass: the status as it stands, and the fields it changes."""

    def __init__(self, status: Mapping[str, Any], facts: Facts) -> None:
        self.facts = facts
        self.changes: dict[str, Any] = {}
        self.status = dict(status)
        if facts.env_hash is not None and status.get("hash") != facts.env_hash:
            self.set(hash=facts.env_hash, phase=EnvPhase.PENDING.value)
            self.set(**dict.fromkeys(RESET_FIELDS))

    @property
    def phase(self) -> str | None:
        value = self.status.get("phase")
        return None if value is None else str(value)

    def set(self, **fields: Any) -> None:
        for key, value in fields.items():
            if self.status.get(key) != value:
                self.changes[key] = value
            self.status[key] = value

    def outcome(
        self,
        phase: EnvPhase,
        *,
        ok: bool,
        reason: str,
        message: str,
        wait: float,
        action: Action = Action.NONE,
        record: str | None = None,
        warn_on_change: bool = False,
        **fields: Any,
    ) -> Decision:
        """The decision that ends in ``phase``, with the Built condition and an Event when the
        phase changes (``warn_on_change``: a Warning when the condition changes, too)."""
        previous = self.phase
        conditions, changed = merge_condition(
            self.status,
            type_=BUILT,
            ok=ok,
            reason=reason,
            message=message,
            generation=self.facts.generation,
        )
        self.set(phase=phase.value, **fields)
        if changed:
            self.set(conditions=conditions)
        event = None
        if previous != phase.value:
            event = Event(warning=phase is EnvPhase.FAILED, reason=reason, message=message)
        elif warn_on_change and changed:
            event = Event(warning=True, reason=reason, message=message)
        return Decision(self.changes, wait, action, event, record)


def _ready_from_job(p: _Pass, job: JobView, expected: str | None) -> Decision:
    report = job.report
    record = None
    artifact: str | None
    size: int | None
    seconds: float | None
    if isinstance(report, BuildSuccess):
        artifact, size, seconds = report.artifact, report.size_bytes, report.build_seconds
        if not job.recorded:
            record = report.to_json()
    elif expected is None:  # an image, and its digest went with the pods: build again (the
        # builder finds the tag and reports the digest)
        lost = dataclasses.replace(
            job,
            state=JobState.FAILED,
            reason="ReportLost",
            message="the Job succeeded but its pods, and the image digest they reported, are gone",
        )
        return _failed(p, lost)
    else:  # no report (the pods are gone, or nothing really ran): the Job's word for it
        artifact, size = expected, None
        seconds = (
            (job.finished - job.started).total_seconds() if job.finished and job.started else None
        )
    return p.outcome(
        EnvPhase.READY,
        ok=True,
        reason="Built",
        message=f"built by Job {job.name} into {artifact}",
        wait=READY_RECHECK_S,
        action=Action.RECORD_REPORT if record else Action.NONE,
        record=record,
        artifact=artifact,
        sizeBytes=size,
        buildSeconds=seconds,
        jobName=job.name,
        lastBuildTime=stamp(job.finished) if job.finished else None,
        failedBuilds=None,
        nextRetryTime=None,
    )


def _failed(p: _Pass, job: JobView) -> Decision:
    now = p.facts.now
    retry_at = _time(p.status.get("nextRetryTime"))
    if p.phase == EnvPhase.FAILED.value and retry_at is not None:
        if now >= retry_at:
            return Decision(
                p.changes,
                BUILD_POLL_S,
                Action.DELETE_JOB,
                Event(False, "BuildRetry", f"building again after {job.reason}"),
            )
        return Decision(p.changes, (retry_at - now).total_seconds())
    report = job.report
    if isinstance(report, BuildFailure):
        reason, detail = report.reason, report.message
    else:
        reason, detail = job.reason, job.message
    message = f"build Job {job.name} failed ({job.reason}): {detail}".strip()
    return _count_failure(
        p,
        reason,
        message,
        jobName=job.name,
        lastBuildTime=stamp(job.finished) if job.finished else None,
    )


def _count_failure(p: _Pass, reason: str, message: str, **fields: Any) -> Decision:
    """Failed, one more failure counted, and the next try after the delay it earns."""
    failures = int(p.status.get("failedBuilds") or 0) + 1
    delay = retry_delay(failures)
    return p.outcome(
        EnvPhase.FAILED,
        ok=False,
        reason=reason,
        message=f"{message}; next try in {delay:.0f} s",
        wait=delay,
        failedBuilds=failures,
        nextRetryTime=stamp(p.facts.now + timedelta(seconds=delay)),
        **fields,
    )


def job_refused(status: Mapping[str, Any], facts: Facts, job_name: str, refusal: str) -> Decision:
    """The decision when the apiserver refused to create the build Job that :func:`decide`
    asked for (``refusal``: its message): Failed, counted as a failed build, tried again after
    the same delays."""
    return _count_failure(
        _Pass(status, facts),
        "JobRefused",
        f"the apiserver refused build Job {job_name}: {refusal}",
        jobName=job_name,
    )


def decide(status: Mapping[str, Any], facts: Facts) -> Decision:
    """The next step of an accepted PonchoEnv."""
    p = _Pass(status, facts)
    if facts.problem is not None or facts.env_hash is None:
        reason, message = facts.problem or ("InvalidSpec", "the spec cannot be built")
        if facts.env_hash is None:
            p.set(hash=None)
        return p.outcome(
            EnvPhase.FAILED, ok=False, reason=reason, message=message, wait=BLOCKED_RECHECK_S
        )
    job = facts.job
    if p.phase == EnvPhase.READY.value and p.status.get("artifact"):
        unrecorded = job is not None and job.state is JobState.SUCCEEDED and not job.recorded
        if unrecorded and job is not None and isinstance(job.report, BuildSuccess):
            record = job.report.to_json()
            return Decision(p.changes, READY_RECHECK_S, Action.RECORD_REPORT, None, record)
        return Decision(p.changes, READY_RECHECK_S)
    donor = facts.donor
    if donor is not None:
        return p.outcome(
            EnvPhase.READY,
            ok=True,
            reason="Reused",
            message=f"reuses the build of {donor.ref}: {donor.artifact}",
            wait=READY_RECHECK_S,
            artifact=donor.artifact,
            sizeBytes=donor.size_bytes,
            buildSeconds=donor.build_seconds,
            reusedFrom=donor.ref,
            failedBuilds=None,
            nextRetryTime=None,
        )
    if job is not None and job.state is JobState.SUCCEEDED:
        return _ready_from_job(p, job, facts.expected_artifact)
    if job is not None and job.state is JobState.FAILED:
        return _failed(p, job)
    if job is not None:  # running, or waiting for its pod (a Warning when the reason changes)
        return p.outcome(
            EnvPhase.BUILDING,
            ok=False,
            reason="BuildWaiting" if job.waiting else "Building",
            message=f"build Job {job.name} "
            + (f"is not building: {job.waiting}" if job.waiting else "is running"),
            wait=BUILD_POLL_S,
            warn_on_change=bool(job.waiting),
            jobName=job.name,
        )
    retry_at = _time(p.status.get("nextRetryTime"))
    if p.phase == EnvPhase.FAILED.value and retry_at is not None and facts.now < retry_at:
        return Decision(p.changes, (retry_at - facts.now).total_seconds())
    return p.outcome(
        EnvPhase.BUILDING,
        ok=False,
        reason="Building",
        message="build Job created",
        wait=BUILD_POLL_S,
        action=Action.CREATE_JOB,
    )
