"""An InCluster manager's TLS Secret: made and renewed by the operator (self-signed), asked of
cert-manager (a Certificate), or the user's own; what to do is ``managers.tls.plan_tls_secret``.
Glue only."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from workqueue_operator.api.acceptance import Event, EventType
from workqueue_operator.api.common import now
from workqueue_operator.api.manager import WorkQueueManagerSpec
from workqueue_operator.k8s.client import NOT_FOUND, KubeApi, RefusedError
from workqueue_operator.k8s.connection import tls_secret_name
from workqueue_operator.k8s.labels import MANAGED_BY, MANAGED_BY_LABEL, MANAGER_LABEL
from workqueue_operator.k8s.manager_objects import manager_certificate, manager_tls_secret
from workqueue_operator.managers.tls import (
    fingerprint,
    manager_names,
    plan_tls_secret,
    self_signed,
)


@dataclass(frozen=True)
class ManagerTlsSecret:
    """The Secret an InCluster manager mounts, and its certificate's fingerprint."""

    secret_name: str
    fingerprint: str


@dataclass(frozen=True)
class NotDeployed:
    """Why the manager is not deployed (yet): its TLS certificate is pending, or the apiserver
    refused one of its objects (Reachable=False with this reason, and a Warning)."""

    reason: str
    message: str


async def ensure_manager_tls(
    kube: KubeApi,
    name: str,
    namespace: str,
    uid: str,
    spec: WorkQueueManagerSpec,
    *,
    apply_certificate: bool,
) -> tuple[ManagerTlsSecret | NotDeployed, list[Event]]:
    """Read the manager's TLS Secret and make, renew or wait for it as the plan says.
    ``apply_certificate``: (re)apply the cert-manager Certificate first (a new generation)."""
    assert spec.tls is not None
    secret_name = tls_secret_name(name, spec)
    names = manager_names(name, namespace)
    if spec.tls.issuer_ref is not None and apply_certificate:
        certificate = manager_certificate(
            name,
            namespace,
            uid,
            secret_name=secret_name,
            dns_names=names,
            issuer=spec.tls.issuer_ref,
        )
        try:
            await asyncio.to_thread(kube.apply, certificate)
        except RefusedError as error:
            message = f"the cert-manager Certificate {secret_name} was refused: {error.message}"
            if error.status == NOT_FOUND:
                message += " (the cluster has no Certificate kind: is cert-manager installed?)"
            return NotDeployed("CertificateRefused", message), []
    stored = await asyncio.to_thread(kube.read_secret, namespace, secret_name)
    made_by_operator = stored is not None and (
        stored.labels.get(MANAGED_BY_LABEL) == MANAGED_BY
        and stored.labels.get(MANAGER_LABEL) == name
    )
    plan = plan_tls_secret(
        secret_name,
        stored.data if stored is not None else None,
        made_by_operator=made_by_operator,
        issued_by_cert_manager=spec.tls.issuer_ref is not None,
        names=names,
        now=now(),
    )
    if plan.waiting is not None:
        return NotDeployed("CertificatePending", plan.waiting), []
    if plan.make is not None:
        made = self_signed(names[3], names, now())
        secret = manager_tls_secret(
            name,
            namespace,
            uid,
            secret_name=secret_name,
            key_pem=made.key_pem,
            certificate_pem=made.certificate_pem,
        )
        await asyncio.to_thread(kube.apply, secret)
        event = Event(
            EventType.NORMAL,
            "CertificateIssued",
            f"made a self-signed certificate in Secret {secret_name} ({plan.make})",
        )
        return ManagerTlsSecret(secret_name, fingerprint(made.certificate_pem)), [event]
    assert plan.certificate_pem is not None
    return ManagerTlsSecret(secret_name, fingerprint(plan.certificate_pem)), []
