"""How workers and the operator reach a manager. Pure: from specs to addresses."""

from __future__ import annotations

from dataclasses import dataclass

from workqueue_operator.api.common import (
    ConfigMapKeyReference,
    Framework,
    SecretKeyReference,
    TlsVerification,
)
from workqueue_operator.api.manager import ManagerMode, WorkQueueManagerSpec
from workqueue_operator.api.pool import WorkerPoolSpec
from workqueue_operator.k8s.manager_objects import AGENT_PORT
from workqueue_operator.k8s.pods import ManagerEndpoint, ManagerProject, ManagerTarget

TLS_SECRET_SUFFIX = "-tls"
CA_KEY = "ca.crt"


@dataclass(frozen=True)
class TlsClient:
    """How the operator checks a TLS manager's certificate: against a CA read from a Secret
    (an InCluster manager's own) or a ConfigMap, the system's roots, or not at all."""

    ca_secret: SecretKeyReference | None = None
    ca_config_map: ConfigMapKeyReference | None = None
    verify: bool = True
    server_name: str | None = None
    """The name the certificate must carry; the polled host when None."""


def tls_secret_name(manager: str, spec: WorkQueueManagerSpec) -> str:
    """The kubernetes.io/tls Secret of an InCluster manager's key and certificate."""
    assert spec.tls is not None
    return spec.tls.secret_name or f"{manager}{TLS_SECRET_SUFFIX}"


def _external_tls(tls: TlsVerification | None) -> TlsClient | None:
    if tls is None:
        return None
    return TlsClient(ca_config_map=tls.ca_config_map_ref, verify=not tls.insecure_skip_verify)


@dataclass(frozen=True)
class ManagerConnection:
    """Where a manager is, for the workers and for the operator's status polls."""

    workers: ManagerTarget
    """What worker pods are told: host and port, or a project name and catalog."""
    status_address: str | None
    """host:port the operator polls; None while only a project name is known (the catalog
    resolves it)."""
    project_name: str | None = None
    catalog: str | None = None
    password: SecretKeyReference | None = None
    framework: Framework = Framework.WORK_QUEUE
    """Which protocol the manager speaks, and which worker program its pools run."""
    tls: TlsClient | None = None
    """The manager speaks TLS (workers get --ssl); how its certificate is checked."""


WORKER_HOST_MAX = 48
"""Work Queue workers of the Debian 2023 snapshot kept only the first 48 characters of the
manager's host name (a longer one was cut and never resolved); kept as the limit so that names
stay short for every supported CCTools."""


def service_host(manager: str, namespace: str) -> str:
    """The DNS name of an InCluster manager's Service."""
    return f"{manager}.{namespace}.svc"


def worker_service_host(manager: str, namespace: str) -> str:
    """The Service name workers are given: the full name when the worker can hold it, else the
    bare Service name, which the pod's DNS search path resolves (workers run in the manager's
    namespace)."""
    full = service_host(manager, namespace)
    return full if len(full) <= WORKER_HOST_MAX else manager


def manager_connection(name: str, namespace: str, spec: WorkQueueManagerSpec) -> ManagerConnection:
    """How a WorkQueueManager is reached."""
    if spec.mode is ManagerMode.IN_CLUSTER:
        host = service_host(name, namespace)
        return ManagerConnection(
            workers=ManagerEndpoint(worker_service_host(name, namespace), spec.port),
            status_address=f"{host}:{spec.port}",
            project_name=spec.project_name,
            password=spec.password_secret_ref,
            framework=spec.framework,
            tls=TlsClient(
                ca_secret=SecretKeyReference(name=tls_secret_name(name, spec), key=CA_KEY),
                server_name=host,
            )
            if spec.tls is not None
            else None,
        )
    if spec.address is not None:
        return ManagerConnection(
            workers=ManagerEndpoint.parse(spec.address),
            status_address=spec.address,
            project_name=spec.project_name,
            password=spec.password_secret_ref,
            framework=spec.framework,
            tls=_external_tls(spec.tls),
        )
    assert spec.project_name is not None  # the CRD's CEL rule guarantees one of the two
    return ManagerConnection(
        workers=ManagerProject(spec.project_name, spec.catalog),
        status_address=None,
        project_name=spec.project_name,
        catalog=spec.catalog,
        password=spec.password_secret_ref,
        framework=spec.framework,
        tls=_external_tls(spec.tls),
    )


def pool_connection(
    spec: WorkerPoolSpec, manager: ManagerConnection | None
) -> ManagerConnection | None:
    """How a WorkerPool's workers reach their manager: through the WorkQueueManager it names
    (``manager``, None when that object is missing) or its own ``spec.manager``."""
    if spec.manager_ref is not None:
        return manager
    assert spec.manager is not None  # the CRD's CEL rule: exactly one of the two
    if spec.manager.address is not None:
        return ManagerConnection(
            workers=ManagerEndpoint.parse(spec.manager.address),
            status_address=spec.manager.address,
            framework=spec.manager.framework,
            tls=_external_tls(spec.manager.tls),
        )
    assert spec.manager.project_name is not None
    return ManagerConnection(
        workers=ManagerProject(spec.manager.project_name, spec.manager.catalog),
        status_address=None,
        project_name=spec.manager.project_name,
        catalog=spec.manager.catalog,
        framework=spec.manager.framework,
        tls=_external_tls(spec.manager.tls),
    )


def telemetry_url(name: str, namespace: str, spec: WorkQueueManagerSpec) -> str | None:
    """Where a WorkQueueManager's telemetry agent answers: its spec's telemetryUrl, or the
    sidecar of an InCluster manager behind its Service."""
    if spec.telemetry_url:
        return spec.telemetry_url
    if spec.mode is ManagerMode.IN_CLUSTER:
        return f"http://{service_host(name, namespace)}:{AGENT_PORT}"
    return None
