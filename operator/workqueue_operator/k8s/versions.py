"""Which of two copies of an object is newer, by ``metadata.resourceVersion``. Pure.

Resource versions are etcd revisions written as decimal integers; since Kubernetes 1.35 the
API documents them as comparable that way (KEP-5504, "comparable resource versions"). A
version that is not a decimal integer (another storage) cannot be ordered: then the copy
offered is taken as the newer one, which is what a plain watch would do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def resource_version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def is_newer(offered: Mapping[str, Any], held: Mapping[str, Any] | None) -> bool:
    """Whether ``offered`` should replace ``held`` (None: nothing held)."""
    return held is None or is_newer_version(resource_version(offered), resource_version(held))


def is_newer_version(new: str, old: str) -> bool:
    """Whether resource version ``new`` comes after ``old`` (True when either cannot be
    ordered)."""
    if new.isdigit() and old.isdigit():
        return int(new) > int(old)
    return True


def revision(obj: Mapping[str, Any]) -> int | None:
    """The object's resource version as an integer; None when it is not a decimal integer."""
    return version_number(resource_version(obj))


def version_number(version: str) -> int | None:
    """A resource version as an integer; None when it is not a decimal integer."""
    return int(version) if version.isdigit() else None
