"""PonchoEnv: a Poncho software environment, built once per content hash."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from workqueue_operator.api.common import (
    HTTP_URL_PREFIX_PATTERN,
    REPOSITORY_NAME_PATTERN,
    ByteQuantity,
    CamelModel,
    Condition,
    ConfigMapKeyReference,
    EnvVar,
    GitRemote,
    HttpUrl,
    ImageReference,
    LabelMap,
    LocalObjectReference,
    ObjectName,
    Quantity,
    cel,
    pattern_said,
    url_field,
    with_cel,
)
from workqueue_operator.api.pool import DEFAULT_WORKER_IMAGE
from workqueue_operator.api.scheduling import Affinity, Toleration

DEFAULT_BUILDER_IMAGE = "workqueue-operator/builder:0.1.0"
DOCKER_CONFIG_KEY = ".dockerconfigjson"
"""The key of a kubernetes.io/dockerconfigjson Secret."""


class PvcTarball(CamelModel):
    """A tarball on a PersistentVolumeClaim."""

    claim_name: ObjectName
    """Name of the PersistentVolumeClaim (ReadWriteMany, or ReadOnlyMany for workers)."""
    directory: str = "poncho"
    """Directory inside the volume; the tarball is <directory>/<hash>.tar.gz."""


TarballUrlPrefix = Annotated[
    str,
    url_field(
        HTTP_URL_PREFIX_PATTERN,
        "must be an http:// or https:// URL prefix (a WebDAV share, an open object-store bucket) "
        "that takes PUT and GET of <prefix>/<hash>.tar.gz, with a host name, no query or "
        "fragment, and no blanks, quotes or shell characters; s3:// and gs:// are not supported",
    ),
]
"""An http(s) URL prefix the builder PUTs a tarball under and workers GET it from (a HEAD
first, when the server answers it, finds one already there): an :data:`HttpUrlPrefix` whose
error also names what it must take and the object-store schemes that are not supported."""


class TarballOutput(CamelModel):
    """Where the packed environment goes."""

    model_config = ConfigDict(
        json_schema_extra=with_cel(
            cel("has(self.pvc) != has(self.url)", "tarball needs exactly one of pvc or url"),
        )
    )

    pvc: PvcTarball | None = None
    """A PersistentVolumeClaim."""
    url: TarballUrlPrefix | None = None
    """An http(s) URL prefix that takes PUT and GET (a WebDAV share, an open object-store
    bucket), without a query or fragment; the tarball is <url>/<hash>.tar.gz."""


REPOSITORY_PATTERN = REPOSITORY_NAME_PATTERN
"""An image repository (``registry.example.org:5000/team/envs``), without a tag or digest."""


class ImageOutput(CamelModel):
    """An environment image: the base image plus one layer holding the environment at
    /opt/poncho/<hash>, pushed to a registry."""

    repository: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            pattern=REPOSITORY_PATTERN,
            json_schema_extra=pattern_said(
                "must be an image repository without tag or digest: [registry[:port]/]path with "
                "a lowercase path, e.g. registry.example.org/team/envs"
            ),
        ),
    ]
    """Image repository without a tag (registry.example.org/team/envs); the tag is the
    environment's hash followed by 12 hex digits naming the base image."""
    push_secret_ref: LocalObjectReference | None = None
    """A kubernetes.io/dockerconfigjson Secret: the build Job pushes the image (and pulls the
    base image) with its credentials."""
    pull_secret_ref: LocalObjectReference | None = None
    """A kubernetes.io/dockerconfigjson Secret the worker pods pull the image with
    (imagePullSecrets); pushSecretRef when unset."""
    base_image: ImageReference | None = None
    """The image the environment layer goes on, as the builder reaches it; the operator's
    default worker image when unset. It must hold the worker program (a worker image)."""
    insecure: bool = False
    """The registry speaks plain HTTP, or TLS with a certificate that cannot be verified: let
    the builder push anyway (crane --insecure). Nodes need their own setting to pull from it
    (containerd's hosts.toml). For a private CA, prefer builder.caBundle."""

    @property
    def base(self) -> str:
        """The base image in effect."""
        return self.base_image or DEFAULT_WORKER_IMAGE

    @property
    def pull_secret(self) -> str | None:
        """The Secret worker pods pull with, if any."""
        ref = self.pull_secret_ref or self.push_secret_ref
        return None if ref is None else ref.name


class EnvOutput(CamelModel):
    """The artefact a build produces."""

    model_config = ConfigDict(
        json_schema_extra=with_cel(
            cel(
                "has(self.tarball) != has(self.image)",
                "output needs exactly one of tarball or image",
            ),
        )
    )

    tarball: TarballOutput | None = None
    """A relocatable tarball (poncho_package_run unpacks it)."""
    image: ImageOutput | None = None
    """An image with the environment inside."""


class CondaSection(CamelModel):
    """The conda part of a Poncho spec, as in a conda environment file."""

    channels: list[str] = Field(default_factory=list)
    """Conda channels, in priority order."""
    dependencies: list[Any] = Field(default_factory=list)
    """Conda packages ("numpy=1.26"), and optionally {"pip": ["pkg==1.0", ...]}."""


class GitSource(CamelModel):
    """A git repository fetched into the environment."""

    remote: GitRemote
    """Repository URL (https://, git://, ssh:// or user@host:path)."""
    ref: str | None = None
    """Branch, tag or commit; the default branch when unset."""


class HttpSource(CamelModel):
    """A file fetched over HTTP into the environment."""

    url: HttpUrl
    """URL of the file (http:// or https://)."""
    type: Literal["tar", "file"] | None = None
    """"tar" to unpack it; "file" (or unset) for a plain file."""
    compression: Literal["gzip"] | None = None
    """"gzip" to decompress it (a gzipped tar, or a gzipped plain file)."""


VARIABLE_KEYS = Field(
    max_length=64,
    json_schema_extra=with_cel(
        cel(
            "self.all(k, k.matches('^[A-Za-z_][A-Za-z0-9_]*$'))",
            "keys must be environment variable names (letters, digits and '_', not starting "
            "with a digit)",
        )
    ),
)


class PonchoSpec(CamelModel):
    """A Poncho JSON spec (CCTools poncho_package_create)."""

    model_config = ConfigDict(
        json_schema_extra=with_cel(
            cel(
                "has(self.conda) || (has(self.pip) && size(self.pip) > 0) || "
                "(has(self.git) && size(self.git) > 0) || (has(self.http) && size(self.http) > 0)",
                "spec installs nothing: it needs at least one of the Poncho sections conda, pip, "
                "git, http, with something in it",
            ),
        )
    )

    conda: CondaSection | None = None
    """Conda channels and packages."""
    pip: list[str] | None = None
    """pip requirements ("requests==2.32.3")."""
    git: Annotated[dict[str, GitSource], VARIABLE_KEYS] | None = None
    """Git repositories; each key names an environment variable set to the checkout."""
    http: Annotated[dict[str, HttpSource], VARIABLE_KEYS] | None = None
    """Files over HTTP; each key names an environment variable set to the file."""


class BuilderResources(CamelModel):
    """Resources of the build container."""

    model_config = ConfigDict(
        json_schema_extra=with_cel(
            cel(
                "!has(self.memory) || !has(self.memoryLimit) || "
                "quantity(string(self.memory)).compareTo(quantity(string(self.memoryLimit))) <= 0",
                "memory (the request) must not be more than memoryLimit",
            ),
        )
    )

    cpu: Quantity = "1"
    """CPU request (no limit: the build may use idle cores)."""
    memory: ByteQuantity = "2Gi"
    """Memory request."""
    memory_limit: ByteQuantity = "4Gi"
    """Memory limit."""


class BuilderPod(CamelModel):
    """The build Job's pod: where it runs, what it may use, what it trusts."""

    node_selector: LabelMap = Field(default_factory=dict)
    """Node selector of the build pod."""
    tolerations: Annotated[list[Toleration], Field(max_length=64)] = Field(default_factory=list)
    """Tolerations of the build pod."""
    affinity: Affinity | None = None
    """Affinity of the build pod (core/v1 Affinity)."""
    priority_class_name: ObjectName | None = None
    """Priority class of the build pod."""
    resources: BuilderResources = Field(default_factory=BuilderResources)
    """CPU and memory of the build container."""
    env: list[EnvVar] = Field(default_factory=list)
    """Extra environment of the build container, e.g. HTTPS_PROXY, NO_PROXY or UV_INDEX_URL
    (uv reads its UV_* settings)."""
    ca_bundle: ConfigMapKeyReference | None = None
    """A ConfigMap key holding PEM certificates that the builder trusts instead of its image's
    (uv, git and http downloads): for a TLS-inspecting proxy or a private index. Include the
    public roots too if the builder also reaches public servers directly."""


class PonchoEnvSpec(CamelModel):
    """Desired state of a PonchoEnv."""

    spec: PonchoSpec
    """The Poncho JSON spec of the environment."""
    output: EnvOutput
    """Where the built environment goes."""
    builder_image: ImageReference = DEFAULT_BUILDER_IMAGE
    """Image of the builder Job (and of worker pods' init container that unpacks the
    environment)."""
    builder: BuilderPod = Field(default_factory=BuilderPod)
    """The build Job's pod: placement, resources, environment, trusted certificates."""
    share_across_namespaces: bool = False
    """Reuse a build of the same hash made for another namespace."""


class EnvPhase(StrEnum):
    PENDING = "Pending"
    BUILDING = "Building"
    READY = "Ready"
    FAILED = "Failed"
    INVALID = "Invalid"


class PonchoEnvStatus(CamelModel):
    """Observed state of a PonchoEnv."""

    observed_generation: int | None = None
    """The metadata.generation last acted on."""
    phase: EnvPhase | None = None
    """Pending, Building, Ready, Failed, or Invalid (the spec was not accepted)."""
    conditions: list[Condition] = Field(default_factory=list)
    """Accepted, Built and other conditions."""
    hash: str | None = None
    """Content hash of the normalised spec."""
    artifact: str | None = None
    """Where the built environment is: pvc://<claim>/<path> or the tarball's URL, or the image
    as <repository>:<tag>@sha256:<digest>."""
    size_bytes: int | None = None
    """Size of the artefact: the tarball, or the environment's layer (compressed)."""
    build_seconds: float | None = None
    """How long the build took."""
    job_name: str | None = None
    """Name of the builder Job."""
    last_build_time: datetime | None = None
    """When the last build finished."""
    reused_from: str | None = None
    """namespace/name of the PonchoEnv whose build of the same hash this one reuses."""
    failed_builds: int | None = None
    """Failed builds of this hash in a row."""
    next_retry_time: datetime | None = None
    """When a failed build is tried again (the delay doubles with each failure)."""


class PonchoEnv(CamelModel):
    """A Poncho JSON spec built once, by content hash, into an environment tarball or image."""

    spec: PonchoEnvSpec
    """Desired state."""
    status: PonchoEnvStatus = Field(default_factory=PonchoEnvStatus)
    """Observed state, written by the operator."""
