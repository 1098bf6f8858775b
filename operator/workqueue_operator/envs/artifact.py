"""Where a built environment lives, as the string ``status.artifact`` holds.

``pvc://<claim>/<path inside the volume>`` for a tarball on a PersistentVolumeClaim, the
tarball's ``http(s)://`` URL, or an image ``<repository>:<tag>@sha256:<digest>``. Pure.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

PVC_SCHEME = "pvc://"
TARBALL_SUFFIX = ".tar.gz"
UPLOAD_SCHEMES = ("http://", "https://")


@dataclass(frozen=True)
class PvcArtifact:
    """A tarball at ``path`` (relative) inside the volume of ``claim``."""

    claim: str
    path: str

    def __str__(self) -> str:
        return f"{PVC_SCHEME}{self.claim}/{self.path}"


@dataclass(frozen=True)
class UrlArtifact:
    """A tarball at an http(s) URL."""

    url: str

    def __str__(self) -> str:
        return self.url


@dataclass(frozen=True)
class ImageArtifact:
    """An environment image: ``repository:tag``, pushed with manifest ``digest``."""

    repository: str
    tag: str
    digest: str

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}@{self.digest}"

    @property
    def tagged(self) -> str:
        """``repository:tag``: what a build of the same hash on the same base pushes to."""
        return f"{self.repository}:{self.tag}"

    @property
    def by_digest(self) -> str:
        """``repository@digest``: the exact image, as pods name it."""
        return f"{self.repository}@{self.digest}"


Artifact = PvcArtifact | UrlArtifact | ImageArtifact
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
BASE_ID_LENGTH = 12


def tarball_name(env_hash: str) -> str:
    return f"{env_hash}{TARBALL_SUFFIX}"


def pvc_artifact(claim: str, directory: str, env_hash: str) -> PvcArtifact:
    """The tarball of a hash in ``directory`` of a claim's volume."""
    relative = PurePosixPath(directory.strip("/")) / tarball_name(env_hash)
    return PvcArtifact(claim, str(relative))


def url_artifact(prefix: str, env_hash: str) -> UrlArtifact:
    """The tarball of a hash under a URL prefix."""
    return UrlArtifact(f"{prefix.rstrip('/')}/{tarball_name(env_hash)}")


def image_tag(env_hash: str, base_image: str) -> str:
    """The tag of an environment image: the hash, then 12 hex digits of the base image's
    reference (one repository can hold the same environment on several bases)."""
    base_id = hashlib.sha256(base_image.encode()).hexdigest()[:BASE_ID_LENGTH]
    return f"{env_hash}-{base_id}"


def parse_image(text: str) -> ImageArtifact:
    """``repository:tag@sha256:...``; ValueError otherwise."""
    name, _, digest = text.partition("@")
    repository, colon, tag = name.rpartition(":")
    if not _DIGEST.match(digest) or not colon or not repository or "/" in tag or not tag:
        raise ValueError(f"not an image reference repository:tag@sha256:...: {text!r}")
    return ImageArtifact(repository, tag, digest)


def shareable(artifact: Artifact) -> bool:
    """Whether pods of another namespace can use the artifact (a claim mounts only in its own
    namespace; a URL or an image can be reached from anywhere)."""
    return not isinstance(artifact, PvcArtifact)


def parse_artifact(text: str) -> Artifact:
    """The artifact a status string names; ValueError when it names none."""
    if text.startswith(PVC_SCHEME):
        claim, _, path = text[len(PVC_SCHEME) :].partition("/")
        parts = PurePosixPath(path).parts
        if not claim or not path or ".." in parts or path.startswith("/"):
            raise ValueError(f"not a pvc:// artifact: {text!r}")
        return PvcArtifact(claim, path)
    if text.startswith(UPLOAD_SCHEMES):
        return UrlArtifact(text)
    if "@" in text and "://" not in text:
        return parse_image(text)
    raise ValueError(f"unknown artifact location {text!r}")
