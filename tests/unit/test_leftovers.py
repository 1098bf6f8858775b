"""Which namespaces and chart objects a new test run takes for what killed runs left."""

from __future__ import annotations

import os
from typing import Any

from tests.harness import OWNER_HOST_LABEL, owner_labels
from tests.leftovers import (
    RELEASE_NAMESPACE_ANNOTATION,
    left_over_namespaces,
    orphaned_release_objects,
    owner_alive,
)


def namespace(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


def test_only_namespaces_of_a_gone_owner_on_this_host_are_left_over() -> None:
    namespaces = [
        namespace("mine", owner_labels()),
        namespace("dead", owner_labels(pid=2**22 + 1)),  # above pid_max: never a process
        namespace("elsewhere", owner_labels(pid=2**22 + 1) | {OWNER_HOST_LABEL: "other-host"}),
        namespace("demo"),
        namespace("odd", {"test.workqueue.dev/owner-pid": "x"}),
    ]
    assert left_over_namespaces(namespaces, owner_alive) == ["dead"]
    assert owner_alive(owner_labels(os.getpid()))


def test_chart_objects_of_cleared_or_missing_namespaces_are_orphans_others_not() -> None:
    def role(name: str, release_namespace: str | None) -> dict[str, Any]:
        annotations = (
            {} if release_namespace is None else {RELEASE_NAMESPACE_ANNOTATION: release_namespace}
        )
        return {"kind": "ClusterRole", "metadata": {"name": name, "annotations": annotations}}

    objects = [role("a", "doomed"), role("b", "gone"), role("c", "live"), role("d", None)]
    found = orphaned_release_objects(objects, {"doomed"}, lambda ns: ns == "gone")
    assert found == ["clusterrole/a", "clusterrole/b"]
