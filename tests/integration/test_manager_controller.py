"""WorkQueueManager reconciliation on the real apiserver, with a real Work Queue manager."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.cctools.manager import ManagerFactory
from tests.harness import Cluster, condition, wait_for, wait_for_passes
from tests.manifests import external_manager, manifest
from workqueue_operator.api.common import Framework
from workqueue_operator.k8s.manager_objects import TLS_FINGERPRINT_ANNOTATION
from workqueue_operator.managers.tls import fingerprint, manager_names, needs_renewal, self_signed

pytestmark = pytest.mark.integration


def test_external_manager_status_follows_the_real_queue(
    operator: Cluster, namespace: str, manager_factory: ManagerFactory
) -> None:
    manager = manager_factory()
    for _ in range(7):
        manager.submit("true", category="alpha")
    operator.apply(external_manager(manager.port, name="ext"), namespace)

    def figures() -> dict[str, Any] | None:
        obj = operator.get("wqm", "ext", namespace)
        queue = (obj or {}).get("status", {}).get("queue")
        return obj if queue and queue["tasksWaiting"] == 7 else None

    obj = wait_for(figures, timeout=60, what="the queue figures in status")
    assert obj["status"]["phase"] == "Running"
    # kubectl wait, as a user or a GitOps tool waits for a manager.
    operator.kubectl(
        "wait", "--for=condition=Ready", "wqm/ext", "--timeout=30s", namespace=namespace
    )
    assert obj["status"]["address"] == f"127.0.0.1:{manager.port}"
    reachable = condition(obj, "Reachable")
    assert reachable is not None and reachable["status"] == "True"
    categories = {c["category"]: c for c in obj["status"]["categories"]}
    assert categories["alpha"]["tasksWaiting"] == 7

    manager.shutdown()
    down = operator.wait_condition(
        "wqm", "ext", namespace, "Reachable", status="False", what="Reachable=False at the stop"
    )
    assert down["reason"] == "Unreachable"
    ready = condition(operator.get("wqm", "ext", namespace), "Ready")
    assert ready is not None and (ready["status"], ready["reason"]) == ("False", "Unreachable")
    assert operator.get("wqm", "ext", namespace)["status"]["phase"] == "Unreachable"  # type: ignore[index]
    warnings = wait_for(
        lambda: [e for e in operator.events_for("ext", namespace) if e["reason"] == "Unreachable"],
        what="an Unreachable Event",
    )
    # Events on transitions only: three more polls (one a second) must not add any.
    wait_for_passes("WorkQueueManager", namespace, "ext", 3)
    again = [e for e in operator.events_for("ext", namespace) if e["reason"] == "Unreachable"]
    assert len(warnings) == len(again) == 1
    assert again[0].get("count", 1) == 1


def test_in_cluster_manager_gets_a_deployment_and_service_that_roll_out(
    operator: Cluster, namespace: str
) -> None:
    spec = "image: example.org/my-manager:1\ncommand: [python3, /app/manager.py]\nport: 9200"
    spec += "\nresources: {cpu: 2, memory: 1073741824}"  # whole numbers, as Kubernetes takes them
    preferred = {
        "weight": 1,
        "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
    }
    affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [preferred]}}
    spec += f"\ntemplate: {{affinity: {json.dumps(affinity)}}}"
    operator.apply(manifest("WorkQueueManager", "inside", spec), namespace)
    deployment = wait_for(
        lambda: operator.get("deployment", "inside", namespace), what="the manager Deployment"
    )
    service = wait_for(lambda: operator.get("service", "inside", namespace), what="the Service")
    owner = deployment["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"]) == (
        "WorkQueueManager",
        "inside",
        True,
    )
    assert service["spec"]["ports"][0]["port"] == 9200
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["manager", "telemetry-agent"]
    assert containers[0]["image"] == "example.org/my-manager:1"
    assert containers[0]["resources"]["requests"] == {"cpu": "2", "memory": "1073741824"}
    assert deployment["spec"]["template"]["spec"]["affinity"] == affinity

    operator.kubectl(
        "patch",
        "wqm",
        "inside",
        "--type=merge",
        "-p",
        '{"spec":{"image":"example.org/my-manager:2"}}',
        namespace=namespace,
    )
    wait_for(
        lambda: (
            (d := operator.get("deployment", "inside", namespace))
            and d["spec"]["template"]["spec"]["containers"][0]["image"]
            == "example.org/my-manager:2"
        ),
        what="the new image rolled out",
    )


def test_in_cluster_manager_whose_deployment_is_refused_says_so_and_deploys_once_allowed(
    operator: Cluster, namespace: str
) -> None:
    """A full ResourceQuota refuses the manager's Deployment: the manager says so in its
    Reachable condition with the apiserver's words and one Warning, then deploys by itself once
    the quota is gone."""
    operator.apply_full_quota("no-deployments", "deployments.apps", namespace)
    spec = "image: example.org/my-manager:1\nport: 9200\npollIntervalSeconds: 1"
    operator.apply(manifest("WorkQueueManager", "quota", spec), namespace)
    refused = operator.wait_condition(
        "wqm", "quota", namespace, "Reachable", reason="DeploymentRefused", what="the refusal"
    )
    assert refused["status"] == "False"
    assert "exceeded quota: no-deployments" in refused["message"]
    assert operator.get("deployment", "quota", namespace) is None
    wait_for_passes("WorkQueueManager", namespace, "quota", 3)
    warnings = [
        e for e in operator.events_for("quota", namespace) if e["reason"] == "DeploymentRefused"
    ]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning"
    assert warnings[0].get("count", 1) == 1

    operator.kubectl("delete", "resourcequota", "no-deployments", namespace=namespace)
    wait_for(lambda: operator.get("deployment", "quota", namespace), what="the Deployment")
    wait_for(lambda: operator.get("service", "quota", namespace), what="the Service")


def test_in_cluster_manager_whose_pod_cannot_run_says_why_in_the_pods_words(
    operator: Cluster, namespace: str
) -> None:
    """A manager pod no node can take: Reachable=False says so with the scheduler's message,
    not just that the port does not answer."""
    spec = (
        "image: example.org/my-manager:1\nport: 9200\npollIntervalSeconds: 1\n"
        "template: {nodeSelector: {workqueue.dev/test-nowhere: 'true'}}"
    )
    operator.apply(manifest("WorkQueueManager", "stuck", spec), namespace)
    stuck = operator.wait_condition(
        "wqm", "stuck", namespace, "Reachable", reason="ManagerPodNotRunning", what="the pod's word"
    )
    assert stuck["status"] == "False"
    assert "the manager's pod stuck-" in stuck["message"]
    assert "cannot be scheduled: 0/" in stuck["message"]
    assert "node affinity/selector" in stuck["message"]


def tls_files(tmp_path: Path, names: list[str]) -> tuple[Path, Path, bytes]:
    made = self_signed(names[0], names, datetime.now(UTC))
    key, cert = tmp_path / "tls.key", tmp_path / "tls.crt"
    key.write_bytes(made.key_pem)
    cert.write_bytes(made.certificate_pem)
    return key, cert, made.certificate_pem


def reachable_reason(operator: Cluster, name: str, namespace: str) -> str | None:
    found = condition(operator.get("wqm", name, namespace), "Reachable")
    return None if found is None else f"{found['status']} {found['reason']}"


@pytest.mark.parametrize("framework", ["WorkQueue", "TaskVine"])
def test_an_external_tls_manager_is_checked_against_the_ca_in_its_config_map(
    operator: Cluster,
    namespace: str,
    manager_factory: ManagerFactory,
    tmp_path: Path,
    framework: str,
) -> None:
    """The operator polls a real ssl manager through TLS, checking its certificate against the
    ConfigMap's CA; another CA, or no ConfigMap, is TLSFailed with an Event."""
    key, cert, _ = tls_files(tmp_path, ["localhost"])
    manager = manager_factory(framework=Framework(framework), ssl=(key, cert))
    other = tmp_path / "other.crt"
    other.write_bytes(self_signed("other", ["other"], datetime.now(UTC)).certificate_pem)
    operator.kubectl("create", "configmap", "ca", f"--from-file=ca.crt={cert}", namespace=namespace)
    operator.kubectl(
        "create", "configmap", "wrong-ca", f"--from-file=ca.crt={other}", namespace=namespace
    )
    tls = f"framework: {framework}\ntls:\n  caConfigMapRef: {{name: ca, key: ca.crt}}"
    operator.apply(external_manager(manager.port, name="secure", extra=tls), namespace)

    def use_ca_config_map(config_map: str) -> None:
        ca_ref = {"name": config_map, "key": "ca.crt"}
        patch = json.dumps({"spec": {"tls": {"caConfigMapRef": ca_ref}}})
        operator.kubectl("patch", "wqm", "secure", "--type=merge", "-p", patch, namespace=namespace)

    wait_for(
        lambda: reachable_reason(operator, "secure", namespace) == "True StatusAnswered",
        what="Reachable through TLS",
    )
    use_ca_config_map("wrong-ca")
    wait_for(
        lambda: reachable_reason(operator, "secure", namespace) == "False TLSFailed",
        what="TLSFailed against another CA",
    )
    message = condition(operator.get("wqm", "secure", namespace), "Reachable")["message"]  # type: ignore[index]
    assert "the manager's certificate failed the check: self-signed certificate" in message
    wait_for(
        lambda: [e for e in operator.events_for("secure", namespace) if e["reason"] == "TLSFailed"],
        what="a TLSFailed Event",
    )
    use_ca_config_map("missing")
    wait_for(
        lambda: (
            "ConfigMap missing has no key ca.crt"
            in (condition(operator.get("wqm", "secure", namespace), "Reachable") or {}).get(
                "message", ""
            )
        ),
        what="the missing ConfigMap named",
    )


def in_cluster_tls(name: str, tls: str) -> str:
    return manifest("WorkQueueManager", name, f"image: example.org/my-manager:1\ntls: {tls}")


def test_an_in_cluster_tls_manager_gets_a_certificate_its_own_or_the_users(
    operator: Cluster, namespace: str, tmp_path: Path
) -> None:
    """tls: {} makes a self-signed Secret (owned, labelled, naming the Service) that the
    Deployment mounts and is annotated with; secretName of the user's own Secret is used as it
    is; issuerRef without cert-manager says so."""
    operator.apply(in_cluster_tls("made", "{}"), namespace)
    secret = wait_for(lambda: operator.get("secret", "made-tls", namespace), what="the TLS Secret")
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["ownerReferences"][0]["name"] == "made"
    certificate = base64.b64decode(secret["data"]["tls.crt"])
    assert needs_renewal(certificate, manager_names("made", namespace), datetime.now(UTC)) is None
    deployment = wait_for(
        lambda: operator.get("deployment", "made", namespace), what="the manager Deployment"
    )
    template = deployment["spec"]["template"]
    assert template["metadata"]["annotations"][TLS_FINGERPRINT_ANNOTATION] == fingerprint(
        certificate
    )
    assert {"name": "tls", "secret": {"secretName": "made-tls", "defaultMode": 0o444}} in template[
        "spec"
    ]["volumes"]
    wait_for(
        lambda: [
            e for e in operator.events_for("made", namespace) if e["reason"] == "CertificateIssued"
        ],
        what="a CertificateIssued Event",
    )

    key, cert, mine = tls_files(tmp_path, ["mine"])
    operator.kubectl(
        "create", "secret", "tls", "mine", f"--key={key}", f"--cert={cert}", namespace=namespace
    )
    operator.apply(in_cluster_tls("users", "{secretName: mine}"), namespace)
    deployment = wait_for(
        lambda: operator.get("deployment", "users", namespace), what="the Deployment"
    )
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations[TLS_FINGERPRINT_ANNOTATION] == fingerprint(mine)
    stored = operator.get("secret", "mine", namespace)
    assert stored is not None and base64.b64decode(stored["data"]["tls.crt"]) == mine

    operator.apply(in_cluster_tls("issued", "{issuerRef: {name: campus-ca}}"), namespace)
    wait_for(
        lambda: reachable_reason(operator, "issued", namespace) == "False CertificateRefused",
        what="CertificateRefused",
    )
    message = condition(operator.get("wqm", "issued", namespace), "Reachable")["message"]  # type: ignore[index]
    assert "is cert-manager installed?" in message
    assert operator.get("deployment", "issued", namespace) is None
