"""WorkQueueManager: a Work Queue or TaskVine manager, run by the operator or reached outside the
cluster."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from workqueue_operator.api.common import (
    ByteQuantity,
    CamelModel,
    Condition,
    EnvVar,
    Framework,
    HttpUrlPrefix,
    ImageReference,
    ObjectName,
    Quantity,
    SecretKeyReference,
    TlsVerification,
    cel,
    pattern_said,
    with_cel,
)
from workqueue_operator.api.scheduling import PodTemplate

# host:port, where host is a DNS name or an IPv4 address and port 1-65535.
PORT_PATTERN = (
    r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
)
ADDRESS_PATTERN = rf"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?:{PORT_PATTERN}$"
Address = Annotated[
    str,
    Field(
        pattern=ADDRESS_PATTERN,
        max_length=260,
        json_schema_extra=pattern_said(
            "must be host:port, a DNS name or IPv4 address and a port from 1 to 65535, e.g. "
            "login1.example.org:9123"
        ),
    ),
]
ProjectName = Annotated[str, Field(min_length=1, max_length=128)]


class ManagerMode(StrEnum):
    IN_CLUSTER = "InCluster"
    EXTERNAL = "External"


class ContainerResources(CamelModel):
    """Requests (and equal limits) of the manager container."""

    cpu: Quantity = "500m"
    """CPU, as a Kubernetes quantity."""
    memory: ByteQuantity = "512Mi"
    """Memory, as a Kubernetes quantity."""


class IssuerReference(CamelModel):
    """A cert-manager Issuer or ClusterIssuer."""

    name: ObjectName
    """Name of the issuer."""
    kind: Literal["Issuer", "ClusterIssuer"] = "Issuer"
    """Issuer (in this namespace) or ClusterIssuer."""
    group: str = "cert-manager.io"
    """API group of the issuer."""


class ManagerTls(TlsVerification):
    """TLS between the manager and its workers (CCTools' ssl), and for the operator's polls.

    InCluster: the manager gets a key and certificate from the kubernetes.io/tls Secret
    secretName, mounted at /etc/workqueue/tls (WORKQUEUE_SSL_KEY, WORKQUEUE_SSL_CERT). The
    operator makes that Secret (a self-signed certificate for the manager's Service names, kept
    renewed) unless it exists, or asks cert-manager for it (issuerRef). External: the manager
    has its own; caConfigMapRef or insecureSkipVerify say how the operator checks it. Workers
    connect with --ssl either way."""

    secret_name: ObjectName | None = None
    """InCluster: the TLS Secret of the manager's key and certificate; <name>-tls when unset."""
    issuer_ref: IssuerReference | None = None
    """InCluster: have cert-manager issue the certificate (a Certificate the operator makes)
    instead of the operator's self-signed one."""


TELEMETRY_AGENT_PORT = 9090
"""The port of the telemetry agent that runs beside an InCluster manager, in its pod and on its
Service: the manager's own port must be another."""


class WorkQueueManagerSpec(CamelModel):
    """Desired state of a WorkQueueManager."""

    model_config = ConfigDict(
        json_schema_extra=with_cel(
            cel(
                f"self.mode != 'InCluster' || self.port != {TELEMETRY_AGENT_PORT}",
                f"port {TELEMETRY_AGENT_PORT} is the telemetry agent's, beside an InCluster "
                "manager in its pod: give the manager another port (the default is 9123)",
            ),
            cel(
                "self.mode != 'InCluster' || has(self.image)",
                "mode InCluster needs image: the container that runs the manager program",
            ),
            cel(
                "self.mode != 'External' || has(self.address) || has(self.projectName)",
                "mode External needs address (host:port) or projectName (resolved through a "
                "catalog server)",
            ),
            cel(
                "self.mode != 'InCluster' || !has(self.address)",
                "address is only for mode External; an InCluster manager is reached through "
                "its Service",
            ),
            cel(
                "self.mode != 'External' || (!has(self.image) && "
                "(!has(self.command) || size(self.command) == 0) && "
                "(!has(self.args) || size(self.args) == 0) && "
                "(!has(self.env) || size(self.env) == 0))",
                "image, command, args and env are only for mode InCluster: the operator deploys "
                "nothing for an External manager",
            ),
            cel(
                "!has(self.catalog) || (self.mode == 'External' && !has(self.address))",
                "catalog is only used to find an External manager by projectName, without address",
            ),
            cel(
                "!has(self.tls) || self.mode == 'InCluster' || "
                "(!has(self.tls.secretName) && !has(self.tls.issuerRef))",
                "tls.secretName and tls.issuerRef are only for mode InCluster: an External "
                "manager brings its own certificate",
            ),
            cel(
                "!has(self.tls) || self.mode == 'External' || "
                "(!has(self.tls.caConfigMapRef) && "
                "!(has(self.tls.insecureSkipVerify) && self.tls.insecureSkipVerify))",
                "tls.caConfigMapRef and tls.insecureSkipVerify are only for mode External: an "
                "InCluster manager's certificate is checked against its own Secret",
            ),
        )
    )

    framework: Framework = Framework.WORK_QUEUE
    """WorkQueue (ndcctools.work_queue, work_queue_worker) or TaskVine (ndcctools.taskvine,
    vine_worker): the manager's status protocol and the workers its WorkerPools run."""
    mode: ManagerMode = ManagerMode.IN_CLUSTER
    """InCluster: the operator runs image/command as a one-replica Deployment with a Service on
    port. External: nothing is deployed; the operator reaches address, or resolves projectName
    through the catalog server."""
    image: ImageReference | None = None
    """Container image of the manager program (mode InCluster)."""
    command: list[str] | None = None
    """Command of the manager container; the image's entry point when unset."""
    args: list[str] | None = None
    """Arguments of the manager container."""
    env: Annotated[
        list[EnvVar],
        Field(
            max_length=128,
            json_schema_extra=with_cel(
                cel(
                    "self.all(e, !e.name.startsWith('WORKQUEUE_'))",
                    "env must not set WORKQUEUE_* variables: the operator sets them from the spec "
                    "(port, framework, monitoring, projectName, passwordSecretRef, tls), and the "
                    "telemetry agent reads the files they name",
                )
            ),
        ),
    ] = Field(default_factory=list)
    """Extra environment variables of the manager container (not WORKQUEUE_*: the operator's)."""
    resources: ContainerResources = Field(default_factory=ContainerResources)
    """CPU and memory of the manager container (mode InCluster)."""
    template: PodTemplate = Field(default_factory=PodTemplate)
    """Labels, annotations, placement and service account of the manager's pod (mode
    InCluster)."""
    port: Annotated[int, Field(ge=1, le=65535)] = 9123
    """Port the manager listens on for workers and status queries."""
    address: Address | None = None
    """host:port of an External manager."""
    project_name: ProjectName | None = None
    """The manager's project name. External managers may be found by it through the catalog."""
    catalog: Address | None = None
    """host:port of the catalog server used to resolve projectName."""
    password_secret_ref: SecretKeyReference | None = None
    """Secret holding the manager's password, shared by manager and workers."""
    tls: ManagerTls | None = None
    """TLS between the manager and its workers; unset: plain TCP."""
    monitoring: bool = True
    """Tasks are measured with resource_monitor; the telemetry agent collects what they used."""
    poll_interval_seconds: Annotated[int, Field(ge=1, le=3600)] = 5
    """How often the operator polls the manager's status."""
    telemetry_url: HttpUrlPrefix | None = None
    """URL of the telemetry agent beside an External manager (http://host:9090), which
    WorkerPools with sizing mode Buckets read. InCluster managers have one as a sidecar."""


class QueueFigures(CamelModel):
    """The manager's queue as last read over its status protocol."""

    tasks_waiting: int = 0
    """Tasks waiting for a worker."""
    tasks_running: int = 0
    """Tasks running on workers."""
    tasks_done: int = 0
    """Tasks finished and returned to the application."""
    tasks_failed: int = 0
    """Tasks that failed."""
    workers_connected: int = 0
    """Workers connected to the manager."""
    workers_busy: int = 0
    """Connected workers running at least one task."""
    workers_idle: int = 0
    """Connected workers running no task."""


class CategoryFigures(CamelModel):
    """Per-category queue figures."""

    category: str
    """Category name."""
    tasks_waiting: int = 0
    """Tasks of this category waiting."""
    tasks_running: int = 0
    """Tasks of this category running."""
    tasks_done: int = 0
    """Tasks of this category done."""


class WorkQueueManagerStatus(CamelModel):
    """Observed state of a WorkQueueManager."""

    observed_generation: int | None = None
    """The metadata.generation last acted on."""
    phase: str | None = None
    """A one-word summary for humans: Pending, Running, Unreachable, Invalid."""
    conditions: list[Condition] = Field(default_factory=list)
    """Accepted, Reachable and other conditions."""
    address: str | None = None
    """host:port at which the operator reaches the manager."""
    queue: QueueFigures | None = None
    """Queue figures from the last successful poll."""
    categories: list[CategoryFigures] = Field(default_factory=list)
    """Per-category figures from the last successful poll."""
    last_poll_time: datetime | None = None
    """When a poll last changed this status (polls that find nothing new write nothing)."""


class WorkQueueManager(CamelModel):
    """A Work Queue or TaskVine manager: the user's program (or an external one such as a Parsl
    script), with its Service, password Secret and live status."""

    spec: WorkQueueManagerSpec
    """Desired state."""
    status: WorkQueueManagerStatus = Field(default_factory=WorkQueueManagerStatus)
    """Observed state, written by the operator."""
