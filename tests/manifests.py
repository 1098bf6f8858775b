"""The project's objects as the tests write them: YAML text for ``kubectl apply``."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from typing import Any

API_VERSION = "workqueue.dev/v1alpha1"


def manifest(kind: str, name: str, spec: str) -> str:
    """A ``kind`` object named ``name``; ``spec``: the lines of its spec, indented as the
    caller likes (they are dedented, then put under ``spec:``)."""
    lines = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return f"apiVersion: {API_VERSION}\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{lines}\n"


def manifest_of(kind: str, name: str, spec: Mapping[str, Any]) -> str:
    """The same from a spec mapping, as JSON (which ``kubectl apply`` reads as YAML)."""
    obj = {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}
    return json.dumps(obj)


def external_manager(port: int, *, name: str = "mgr", extra: str = "") -> str:
    """A WorkQueueManager for a manager of the test process (127.0.0.1:``port``), polled every
    second; ``extra``: more spec lines, unindented (e.g. ``telemetryUrl: ...``)."""
    spec = f"mode: External\naddress: 127.0.0.1:{port}\npollIntervalSeconds: 1\n{extra}"
    return manifest("WorkQueueManager", name, spec)


def worker_pool(name: str, spec: str, *, manager: str = "mgr") -> str:
    """A WorkerPool of the WorkQueueManager ``manager``; ``spec``: its other spec lines."""
    others = textwrap.dedent(spec).lstrip("\n")
    return manifest("WorkerPool", name, f"managerRef: {{name: {manager}}}\n{others}")


def object_count_quota(name: str, resource: str) -> str:
    """A ResourceQuota that allows no object of ``resource`` (e.g. ``jobs.batch``): the
    apiserver refuses every create of one, as a full quota does."""
    return (
        f"apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: {name}\n"
        f'spec:\n  hard:\n    count/{resource}: "0"\n'
    )
