"""Over 600 invalid or hostile objects (tests/integration/hostile_objects.py) against the real
apiserver with the operator running: each is rejected by the CRD schema, or accepted by it and
then marked ``Accepted=False`` by the operator with a reason and a Warning Event. Valid objects
beside them keep working and the operator's passes never fail.

Objects are created the way ``kubectl apply`` sends them (server-side field validation Strict:
an unknown field is an error, not silently dropped). ``pytest -s`` prints the counts."""

from __future__ import annotations

import json
import sys
import textwrap
import time
import uuid
from collections import Counter
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from tests.cctools.manager import ManagerFactory
from tests.harness import Cluster, condition, wait_for, wait_for_passes
from tests.integration.hostile_objects import (
    ELSEWHERE,
    WRONG_KEY_SECRET,
    Hostile,
    hostile_objects,
)
from workqueue_operator.controllers import metrics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
GROUP, VERSION = "workqueue.dev", "v1alpha1"


def create(api: Any, namespace: str, hostile: Hostile) -> str | None:
    """The apiserver's refusal, or None when it stored the object."""
    try:
        api.create_namespaced_custom_object(
            GROUP, VERSION, namespace, hostile.plural, hostile.body, field_validation="Strict"
        )
    except ApiException as error:
        if error.status in (400, 422):
            body = json.loads(error.body or "{}")
            return str(body.get("message") or error.reason)
        raise
    return None


def test_every_hostile_object_is_refused_and_valid_neighbours_keep_working(
    operator: Cluster, namespace: str, manager_factory: ManagerFactory
) -> None:
    # What references "to another namespace" point at: real objects, elsewhere.
    elsewhere = f"{namespace[:40]}-else-{uuid.uuid4().hex[:4]}"
    operator.create_namespace(elsewhere)
    operator.apply(
        textwrap.dedent(
            f"""
            apiVersion: workqueue.dev/v1alpha1
            kind: WorkQueueManager
            metadata: {{name: {ELSEWHERE}}}
            spec: {{mode: External, address: "127.0.0.1:1"}}
            """
        ),
        elsewhere,
    )
    # A Secret without the key a manager's passwordSecretRef names by default.
    operator.kubectl(
        "create", "secret", "generic", WRONG_KEY_SECRET, "--from-literal=pass=x",
        namespace=namespace,
    )  # fmt: skip
    # Valid neighbours: a manager that answers and a pool that follows it.
    manager = manager_factory()
    operator.apply(
        textwrap.dedent(
            f"""
            apiVersion: workqueue.dev/v1alpha1
            kind: WorkQueueManager
            metadata: {{name: valid-mgr}}
            spec: {{mode: External, address: "127.0.0.1:{manager.port}", pollIntervalSeconds: 1}}
            ---
            apiVersion: workqueue.dev/v1alpha1
            kind: WorkerPool
            metadata: {{name: valid-pool}}
            spec: {{managerRef: {{name: valid-mgr}}, minWorkers: 1,
                    autoscale: {{pollIntervalSeconds: 1}}}}
            """
        ),
        namespace,
    )
    wait_for_passes("WorkerPool", namespace, "valid-pool", 1)

    api = kubernetes.client.CustomObjectsApi(
        kubernetes.config.new_client_from_config(str(operator.kubeconfig))
    )
    objects = hostile_objects()
    assert len(objects) >= 500
    started = time.monotonic()
    refused = {h.name: create(api, namespace, h) for h in objects}
    stored = [h for h in objects if refused[h.name] is None]

    def verdicts() -> dict[str, dict[str, Any]] | None:
        found = {}
        for hostile in stored:
            obj = api.get_namespaced_custom_object(
                GROUP, VERSION, namespace, hostile.plural, hostile.name
            )
            accepted = condition(obj, "Accepted")
            if accepted is None:
                return None
            found[hostile.name] = accepted
        return found

    judged = wait_for(verdicts, timeout=180, interval=2, what="the operator's verdicts")
    events = json.loads(
        operator.kubectl("get", "events", "-o", "json", namespace=namespace).stdout
    )["items"]
    warned = {
        e["involvedObject"]["name"]
        for e in events
        if e["type"] == "Warning" and e["reason"] != "Unreachable"
    }

    wrongly_accepted = [(h.kind, h.damage) for h in stored if judged[h.name]["status"] != "False"]
    without_reason = [h.damage for h in stored if not judged[h.name].get("message")]
    without_event = [h.damage for h in stored if h.name not in warned]
    counts = {
        "objects": len(objects),
        "rejected by the schema": len(objects) - len(stored),
        "Accepted=False by the operator": sum(
            1 for h in stored if judged[h.name]["status"] == "False"
        ),
        "operator reasons": dict(Counter(judged[h.name]["reason"] for h in stored)),
        "by kind": dict(Counter(h.kind for h in objects)),
        "seconds": round(time.monotonic() - started, 1),
    }
    # To the real stdout (the session operator's KopfRunner swaps sys.stdout while it runs).
    print("\nhostile input:", json.dumps(counts), file=sys.__stdout__)
    assert wrongly_accepted == [], wrongly_accepted
    assert without_reason == [] and without_event == [], (without_reason, without_event)
    assert all(refused[h.name] for h in objects if h not in stored)  # each with a message

    # The neighbours: still accepted, the manager still answers, the pool still decides.
    wait_for_passes("WorkerPool", namespace, "valid-pool", 2)
    wait_for_passes("WorkQueueManager", namespace, "valid-mgr", 2)
    for kind, name in (("wqm", "valid-mgr"), ("wqpool", "valid-pool")):
        assert condition(operator.get(kind, name, namespace), "Accepted")["status"] == "True"  # type: ignore[index]
    assert condition(operator.get("wqm", "valid-mgr", namespace), "Reachable")["status"] == "True"  # type: ignore[index]
    pool = operator.get("wqpool", "valid-pool", namespace) or {}
    assert pool["status"]["desiredReplicas"] == 1, pool["status"]
    # Every hostile object the schema let through had a pass that ended without an error.
    wait_for(
        lambda: all(metrics.last_pass(h.kind, namespace, h.name) for h in stored),
        timeout=30,
        what="a pass without error of every stored hostile object",
    )
    operator.kubectl("delete", "namespace", elsewhere, "--wait=false", check=False)
