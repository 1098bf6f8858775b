"""Where a built environment lives, as the string ``status.artifact`` holds.

``pvc://<claim>/<path inside the volume>`` for a tarball on a PersistentVolumeClaim, or the
tarball's ``http(s)://`` URL. Pure.
"""

from __future__ import annotations

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


Artifact = PvcArtifact | UrlArtifact


def tarball_name(env_hash: str) -> str:
    return f"{env_hash}{TARBALL_SUFFIX}"


def pvc_artifact(claim: str, directory: str, env_hash: str) -> PvcArtifact:
    """The tarball of a hash in ``directory`` of a claim's volume."""
    relative = PurePosixPath(directory.strip("/")) / tarball_name(env_hash)
    return PvcArtifact(claim, str(relative))


def url_artifact(prefix: str, env_hash: str) -> UrlArtifact:
    """The tarball of a hash under a URL prefix."""
    return UrlArtifact(f"{prefix.rstrip('/')}/{tarball_name(env_hash)}")


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
    raise ValueError(f"unknown artifact location {text!r}")
