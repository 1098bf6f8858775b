"""What the operator knows about a build (pure): the build Job as the decision sees it
(``k8s.job_view`` reads it from the apiserver's JSON), and other PonchoEnvs whose build of the
same hash can be reused."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from workqueue_operator.envs.artifact import (
    Artifact,
    ImageArtifact,
    parse_artifact,
    shareable,
)
from workqueue_operator.envs.result import BuildReport


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
    waiting: str = ""
    """Why a running build is not under way ('' when nothing holds it): its pod cannot be
    scheduled, its image cannot be pulled, it was evicted
    (``k8s.pod_trouble.newest_pod_trouble``)."""


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


def serves(artifact: Artifact, image: str | None) -> bool:
    """Whether a donor's artifact is what this PonchoEnv's output asks for: an image output
    (``image`` = the ``repository:tag`` it pushes) only that image; a tarball output only a
    tarball."""
    if image is None:
        return not isinstance(artifact, ImageArtifact)
    return isinstance(artifact, ImageArtifact) and artifact.tagged == image


def find_donor(
    envs: Iterable[Mapping[str, Any]],
    *,
    namespace: str,
    name: str,
    env_hash: str,
    share: bool,
    image: str | None = None,
) -> Donor | None:
    """A Ready PonchoEnv with the same hash whose artifact this one can use (:func:`serves`;
    ``image``: the ``repository:tag`` an image output pushes): any one of this namespace; one
    of another namespace only when both share across namespaces and the artifact is a URL or an
    image (a claim is only mountable in its own namespace). This namespace's first, then by
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
        try:
            parsed = parse_artifact(artifact)
        except ValueError:
            continue
        if not serves(parsed, image):
            continue
        if ns != namespace:
            shared = bool((env.get("spec") or {}).get("shareAcrossNamespaces"))
            if not (share and shared and shareable(parsed)):
                continue
        donor = Donor(ns, other, artifact, status.get("sizeBytes"), status.get("buildSeconds"))
        found.append((0 if ns == namespace else 1, ns, other, donor))
    return min(found, key=lambda item: item[:3])[3] if found else None
