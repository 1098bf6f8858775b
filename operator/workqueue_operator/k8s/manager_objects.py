"""Pure builders of an InCluster manager's Deployment and Service, and of its TLS Secret (or
the cert-manager Certificate that makes it)."""

from __future__ import annotations

import base64
from typing import Any

from workqueue_operator import API_VERSION
from workqueue_operator.api.common import Framework
from workqueue_operator.api.manager import (
    TELEMETRY_AGENT_PORT,
    IssuerReference,
    WorkQueueManagerSpec,
)
from workqueue_operator.k8s.labels import manager_labels
from workqueue_operator.k8s.placement import placement_fields
from workqueue_operator.managers.tls import LOOPBACK

TLS_DIR = "/etc/workqueue/tls"
TLS_FINGERPRINT_ANNOTATION = "workqueue.dev/tls-certificate"
"""On the manager's pod template: a new certificate rolls the pod (the program reads it once)."""
TELEMETRY_DIR = "/var/run/workqueue"
TRANSACTIONS_LOG = f"{TELEMETRY_DIR}/transactions.log"
"""Where a Work Queue manager program writes its transactions log (it is told so)."""
VINE_RUN_INFO = f"{TELEMETRY_DIR}/vine-run-info"
"""A TaskVine manager program's ``run_info_path``; TaskVine writes each run's logs under it
and points ``most-recent`` at the newest run."""
VINE_TRANSACTIONS_LOG = f"{VINE_RUN_INFO}/most-recent/vine-logs/transactions"
PASSWORD_DIR = "/etc/workqueue/password"
SECRET_FILE_MODE = 0o444
"""Mode of the password and TLS files in the manager's pod: readable by any user, since the
manager image's own user is unknown (0440 left them root's and the program's read failed:
"could not set ssl certificate"); only this pod mounts them."""
AGENT_PORT = TELEMETRY_AGENT_PORT
OPERATOR_IMAGE = "workqueue-operator/operator:0.1.0"


def owner_reference(kind: str, name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def manager_owned_metadata(name: str, namespace: str, manager: str, uid: str) -> dict[str, Any]:
    """Metadata of an object ``name`` that the WorkQueueManager ``manager`` owns: its labels
    and its owner reference."""
    return {
        "name": name,
        "namespace": namespace,
        "labels": manager_labels(manager),
        "ownerReferences": [owner_reference("WorkQueueManager", manager, uid)],
    }


def transactions_log(spec: WorkQueueManagerSpec) -> str:
    """The transactions log the telemetry agent follows."""
    return VINE_TRANSACTIONS_LOG if spec.framework is Framework.TASKVINE else TRANSACTIONS_LOG


def manager_env(spec: WorkQueueManagerSpec) -> list[dict[str, str]]:
    """What the manager program is told. It should pass these to its manager: the port, the
    password file, and where to log (Work Queue: the transactions log; TaskVine: the run-info
    path), which the telemetry agent reads."""
    env = [
        {"name": "WORKQUEUE_FRAMEWORK", "value": str(spec.framework)},
        {"name": "WORKQUEUE_PORT", "value": str(spec.port)},
        {"name": "WORKQUEUE_MONITORING", "value": "1" if spec.monitoring else "0"},
    ]
    if spec.framework is Framework.TASKVINE:
        env.append({"name": "WORKQUEUE_RUN_INFO_PATH", "value": VINE_RUN_INFO})
    else:
        env.append({"name": "WORKQUEUE_TRANSACTIONS_LOG", "value": TRANSACTIONS_LOG})
    if spec.project_name:
        env.append({"name": "WORKQUEUE_PROJECT_NAME", "value": spec.project_name})
    if spec.password_secret_ref is not None:
        env.append(
            {
                "name": "WORKQUEUE_PASSWORD_FILE",
                "value": f"{PASSWORD_DIR}/{spec.password_secret_ref.key}",
            }
        )
    if spec.tls is not None:
        env += [
            {"name": "WORKQUEUE_SSL_KEY", "value": f"{TLS_DIR}/tls.key"},
            {"name": "WORKQUEUE_SSL_CERT", "value": f"{TLS_DIR}/tls.crt"},
        ]
    env += [{"name": e.name, "value": e.value} for e in spec.env]
    return env


def manager_deployment(
    name: str,
    namespace: str,
    uid: str,
    spec: WorkQueueManagerSpec,
    agent_image: str,
    *,
    tls_secret: str | None = None,
    tls_fingerprint: str | None = None,
) -> dict[str, Any]:
    """One replica of the user's manager program, with the telemetry agent beside it sharing
    the transactions log through an emptyDir. Recreate: two managers on one port never run.
    With ``tls_secret`` the manager's key and certificate are mounted at TLS_DIR."""
    assert spec.image is not None  # the CRD's CEL rule: InCluster needs image
    labels = manager_labels(name)
    security = {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    mounts: list[dict[str, Any]] = [{"name": "telemetry", "mountPath": TELEMETRY_DIR}]
    volumes: list[dict[str, Any]] = [{"name": "telemetry", "emptyDir": {}}]
    agent_args = [
        "agent",
        "--transactions-log",
        transactions_log(spec),
        "--manager",
        f"127.0.0.1:{spec.port}",
        "--framework",
        str(spec.framework),
        "--listen",
        f":{AGENT_PORT}",
    ]
    if spec.password_secret_ref is not None:
        mounts.append({"name": "password", "mountPath": PASSWORD_DIR, "readOnly": True})
        volumes.append(
            {
                "name": "password",
                "secret": {
                    "secretName": spec.password_secret_ref.name,
                    "defaultMode": SECRET_FILE_MODE,
                },
            }
        )
        agent_args += ["--password-file", f"{PASSWORD_DIR}/{spec.password_secret_ref.key}"]
    manager_mounts = list(mounts)
    if tls_secret is not None:
        manager_mounts.append({"name": "tls", "mountPath": TLS_DIR, "readOnly": True})
        volumes.append(
            {"name": "tls", "secret": {"secretName": tls_secret, "defaultMode": SECRET_FILE_MODE}}
        )
        # The sidecar polls the manager over 127.0.0.1 inside the pod: encrypted, unchecked.
        agent_args += ["--tls-insecure-skip-verify"]
    manager: dict[str, Any] = {
        "name": "manager",
        "image": spec.image,
        "env": manager_env(spec),
        "ports": [{"name": "workqueue", "containerPort": spec.port}],
        "resources": {
            "requests": {"cpu": spec.resources.cpu, "memory": spec.resources.memory},
            "limits": {"memory": spec.resources.memory},
        },
        "volumeMounts": manager_mounts,
        "securityContext": security,
    }
    if spec.command:
        manager["command"] = spec.command
    if spec.args:
        manager["args"] = spec.args
    agent = {
        "name": "telemetry-agent",
        "image": agent_image,
        "args": agent_args,
        "ports": [{"name": "metrics", "containerPort": AGENT_PORT}],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "volumeMounts": mounts,
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": AGENT_PORT}},
        "securityContext": security | {"readOnlyRootFilesystem": True},
    }
    template = spec.template
    pod_metadata: dict[str, Any] = {"labels": {**template.labels, **labels}}
    annotations = dict(template.annotations)
    if tls_fingerprint is not None:
        annotations[TLS_FINGERPRINT_ANNOTATION] = tls_fingerprint
    if annotations:
        pod_metadata["annotations"] = annotations
    pod_spec: dict[str, Any] = {
        "containers": [manager, agent],
        "volumes": volumes,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        **placement_fields(template),
    }
    if template.service_account_name is not None:
        pod_spec["serviceAccountName"] = template.service_account_name
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": manager_owned_metadata(name, namespace, name, uid),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": labels},
            "template": {"metadata": pod_metadata, "spec": pod_spec},
        },
    }


def manager_service(name: str, namespace: str, uid: str, port: int) -> dict[str, Any]:
    """The manager's port for workers and status queries, and the agent's metrics port."""
    labels = manager_labels(name)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": manager_owned_metadata(name, namespace, name, uid),
        "spec": {
            "selector": labels,
            "ports": [
                {"name": "workqueue", "port": port, "targetPort": port},
                {"name": "metrics", "port": AGENT_PORT, "targetPort": AGENT_PORT},
            ],
        },
    }


def manager_tls_secret(
    name: str, namespace: str, uid: str, *, secret_name: str, key_pem: bytes, certificate_pem: bytes
) -> dict[str, Any]:
    """The kubernetes.io/tls Secret of an InCluster manager's self-signed key and certificate
    (its own CA: ca.crt), owned by the WorkQueueManager."""
    encoded = {
        "tls.key": base64.b64encode(key_pem).decode(),
        "tls.crt": base64.b64encode(certificate_pem).decode(),
        "ca.crt": base64.b64encode(certificate_pem).decode(),
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": manager_owned_metadata(secret_name, namespace, name, uid),
        "data": encoded,
    }


def manager_certificate(
    name: str,
    namespace: str,
    uid: str,
    *,
    secret_name: str,
    dns_names: list[str],
    issuer: IssuerReference,
) -> dict[str, Any]:
    """A cert-manager Certificate for an InCluster manager: cert-manager writes secretName."""
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": manager_owned_metadata(secret_name, namespace, name, uid),
        "spec": {
            "secretName": secret_name,
            "commonName": dns_names[2][:64],
            "dnsNames": dns_names,
            "ipAddresses": [LOOPBACK],
            "issuerRef": {"name": issuer.name, "kind": issuer.kind, "group": issuer.group},
        },
    }
