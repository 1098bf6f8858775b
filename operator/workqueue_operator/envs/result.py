"""What the builder reports, and how the operator reads it back.

The builder ends by writing one JSON object to its termination-message file (Kubernetes shows
it in the pod's ``state.terminated.message``, at most 4096 bytes) and exits with a code that
says whether trying again can help. With ``terminationMessagePolicy: FallbackToLogsOnError``
a builder that died before writing gets the tail of its log there instead; :func:`parse_report`
takes that too. Pure.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any

MESSAGE_LIMIT = 4096
"""The kubelet's limit on a termination message."""
DETAIL_LIMIT = 3000
"""How much of an installer's output a report keeps (its tail: errors come last)."""


class ExitCode(IntEnum):
    """The builder's exit codes. The Job's podFailurePolicy fails the Job at once on the
    permanent ones; the others are retried by the Job's backoffLimit."""

    OK = 0
    TRANSIENT = 1
    """Something that may work next time: a network fetch, the disk, a crash."""
    BAD_SPEC = 2
    """The spec is malformed, or its hash is not the one the operator expected."""
    INSTALL_FAILED = 3
    """An installer (micromamba, uv) refused the spec: a package or version that does not
    exist, a conflict. Trying the same spec again gives the same answer."""
    REGISTRY_REFUSED = 4
    """The registry refused the credentials or the access (401/403), or the base image does
    not exist: trying again at once gives the same answer."""


PERMANENT_EXIT_CODES = (ExitCode.BAD_SPEC, ExitCode.INSTALL_FAILED, ExitCode.REGISTRY_REFUSED)


@dataclass(frozen=True)
class BuildSuccess:
    """The environment is where ``artifact`` says: a tarball, or an image by digest."""

    hash: str
    artifact: str
    size_bytes: int
    build_seconds: float
    reused: bool = False
    """The tarball or image existed already (same hash): nothing was built."""

    def to_json(self) -> str:
        return json.dumps({"ok": True, **asdict(self)}, sort_keys=True)


@dataclass(frozen=True)
class BuildFailure:
    """Why the build failed: a CamelCase reason and the installer's own words."""

    reason: str
    message: str

    def to_json(self) -> str:
        text = json.dumps({"ok": False, "reason": self.reason, "message": self.message})
        if len(text.encode()) <= MESSAGE_LIMIT:
            return text
        keep = tail(self.message, MESSAGE_LIMIT - 200)
        return json.dumps({"ok": False, "reason": self.reason, "message": keep})


BuildReport = BuildSuccess | BuildFailure


def tail(text: str, limit: int = DETAIL_LIMIT) -> str:
    """The last ``limit`` characters of ``text``, cut at a line start when one is near."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    newline = cut.find("\n")
    if 0 <= newline < limit // 4:
        cut = cut[newline + 1 :]
    return "…" + cut


def parse_report(message: str | None) -> BuildReport | None:
    """The report in a termination message; a failure with the raw text when the message is
    not a report (the log tail the kubelet fell back to); None when there is no message."""
    if message is None or not message.strip():
        return None
    try:
        data: Any = json.loads(message)
    except ValueError:
        return BuildFailure("BuilderError", tail(message))
    if not isinstance(data, dict):
        return BuildFailure("BuilderError", tail(message))
    if data.get("ok") is True:
        try:
            return BuildSuccess(
                hash=str(data["hash"]),
                artifact=str(data["artifact"]),
                size_bytes=int(data["size_bytes"]),
                build_seconds=float(data["build_seconds"]),
                reused=bool(data.get("reused", False)),
            )
        except (KeyError, TypeError, ValueError):
            return BuildFailure("BuilderError", tail(message))
    return BuildFailure(str(data.get("reason") or "BuildFailed"), str(data.get("message") or ""))
