"""An InCluster manager's TLS: the certificate the operator makes, when it makes a new one, what
it does with the user's and cert-manager's Secrets, the objects that carry it, and how the
operator's polls check it."""

from __future__ import annotations

import argparse
import asyncio
import base64
import ipaddress
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509

from tests.unit.kube_memory import InMemoryKube
from workqueue_operator.api.manager import IssuerReference, WorkQueueManagerSpec
from workqueue_operator.commands.agent import config_from_args, register
from workqueue_operator.controllers.loop import Context, Pass
from workqueue_operator.controllers.manager import ManagerMemory, deploy_manager
from workqueue_operator.controllers.manager_tls import (
    ManagerTlsSecret,
    NotDeployed,
    ensure_manager_tls,
)
from workqueue_operator.k8s.connection import manager_connection
from workqueue_operator.k8s.manager_objects import (
    TLS_DIR,
    TLS_FINGERPRINT_ANNOTATION,
    manager_certificate,
    manager_deployment,
)
from workqueue_operator.managers.tls import (
    RENEW_BEFORE,
    fingerprint,
    manager_names,
    needs_renewal,
    plan_tls_secret,
    self_signed,
)
from workqueue_operator.wq.status import TlsError, client_tls

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
NAMES = manager_names("mgr", "science")


def spec(**tls: Any) -> WorkQueueManagerSpec:
    return WorkQueueManagerSpec.model_validate(
        {"mode": "InCluster", "image": "registry.local/manager:1", "tls": tls}
    )


def test_the_certificate_names_the_managers_service_in_every_spelling_and_loopback() -> None:
    made = self_signed(NAMES[3], NAMES, NOW)
    certificate = x509.load_pem_x509_certificate(made.certificate_pem)
    alt = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert alt.get_values_for_type(x509.DNSName) == [
        "mgr",
        "mgr.science",
        "mgr.science.svc",
        "mgr.science.svc.cluster.local",
        "localhost",
    ]
    assert alt.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert certificate.not_valid_before_utc < NOW < certificate.not_valid_after_utc
    assert needs_renewal(made.certificate_pem, NAMES, NOW) is None


def test_a_certificate_is_renewed_when_missing_unreadable_ending_or_naming_other_hosts() -> None:
    made = self_signed(NAMES[3], NAMES, NOW)
    assert needs_renewal(None, NAMES, NOW) == "there is no certificate yet"
    assert "cannot be read" in (needs_renewal(b"not a certificate", NAMES, NOW) or "")
    late = NOW + timedelta(days=365) - RENEW_BEFORE + timedelta(hours=1)
    assert "ends on" in (needs_renewal(made.certificate_pem, NAMES, late) or "")
    assert needs_renewal(made.certificate_pem, NAMES, late - timedelta(hours=2)) is None
    other = manager_names("other", "science")
    assert needs_renewal(made.certificate_pem, other, NOW) == (
        "the certificate does not name other, other.science, other.science.svc, "
        "other.science.svc.cluster.local"
    )


def test_the_operator_makes_and_renews_only_its_own_secret() -> None:
    made = self_signed(NAMES[3], NAMES, NOW)
    data = {"tls.crt": made.certificate_pem, "tls.key": made.key_pem}
    late = NOW + timedelta(days=360)

    def plan(data: dict[str, bytes] | None, *, ours: bool, at: datetime = NOW) -> Any:
        return plan_tls_secret(
            "mgr-tls",
            data,
            made_by_operator=ours,
            issued_by_cert_manager=False,
            names=NAMES,
            now=at,
        )

    assert plan(None, ours=False).make == "there is no certificate yet"
    assert plan(data, ours=True).certificate_pem == made.certificate_pem
    assert "ends on" in plan(data, ours=True, at=late).make
    # The user's Secret is used as it is, even near its end: the operator never overwrites it.
    assert plan(data, ours=False, at=late).certificate_pem == made.certificate_pem
    assert plan({"tls.crt": made.certificate_pem}, ours=False).waiting == (
        "Secret mgr-tls has no tls.key"
    )


def test_a_cert_manager_secret_is_waited_for_and_never_made() -> None:
    made = self_signed(NAMES[3], NAMES, NOW)
    data = {"tls.crt": made.certificate_pem, "tls.key": made.key_pem}

    def plan(data: dict[str, bytes] | None) -> Any:
        return plan_tls_secret(
            "mgr-tls",
            data,
            made_by_operator=False,
            issued_by_cert_manager=True,
            names=NAMES,
            now=NOW,
        )

    assert plan(None).waiting == "cert-manager has not issued Secret mgr-tls yet"
    assert plan(None).make is None
    assert plan(data).certificate_pem == made.certificate_pem


def test_the_first_pass_makes_the_secret_and_the_next_uses_it() -> None:
    kube = InMemoryKube()
    found, events = asyncio.run(
        ensure_manager_tls(kube, "mgr", "science", "uid-1", spec(), apply_certificate=True)
    )
    assert isinstance(found, ManagerTlsSecret) and found.secret_name == "mgr-tls"
    [secret] = kube.applied
    assert secret["kind"] == "Secret" and secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    certificate = base64.b64decode(secret["data"]["tls.crt"])
    assert base64.b64decode(secret["data"]["ca.crt"]) == certificate
    assert found.fingerprint == fingerprint(certificate)
    assert [e.reason for e in events] == ["CertificateIssued"]
    again, events = asyncio.run(
        ensure_manager_tls(kube, "mgr", "science", "uid-1", spec(), apply_certificate=False)
    )
    assert again == found and events == [] and len(kube.applied) == 1


def test_the_users_secret_without_a_key_is_waited_for_not_replaced() -> None:
    made = self_signed(NAMES[3], NAMES, NOW)
    kube = InMemoryKube(secrets={("science", "mine"): {"tls.crt": made.certificate_pem}})
    found, _ = asyncio.run(
        ensure_manager_tls(
            kube, "mgr", "science", "uid-1", spec(secretName="mine"), apply_certificate=True
        )
    )
    assert found == NotDeployed("CertificatePending", "Secret mine has no tls.key")
    assert kube.applied == []


def test_with_an_issuer_the_operator_asks_cert_manager_and_waits() -> None:
    kube = InMemoryKube()
    issuer = {"name": "campus-ca", "kind": "ClusterIssuer"}
    found, _ = asyncio.run(
        ensure_manager_tls(
            kube, "mgr", "science", "uid-1", spec(issuerRef=issuer), apply_certificate=True
        )
    )
    assert found == NotDeployed(
        "CertificatePending", "cert-manager has not issued Secret mgr-tls yet"
    )
    [certificate] = kube.applied
    assert certificate["kind"] == "Certificate"
    assert certificate["spec"]["secretName"] == "mgr-tls"
    assert certificate["spec"]["dnsNames"] == NAMES
    assert certificate["spec"]["ipAddresses"] == ["127.0.0.1"]
    assert certificate["spec"]["issuerRef"] == {
        "name": "campus-ca",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }
    assert (
        manager_certificate(
            "mgr",
            "science",
            "uid-1",
            secret_name="mgr-tls",
            dns_names=NAMES,
            issuer=IssuerReference(name="campus-ca", kind="ClusterIssuer"),
        )
        == certificate
    )


def test_thedeploy_managerment_mounts_the_secret_and_rolls_with_the_certificate() -> None:
    deployment = manager_deployment(
        "mgr", "science", "uid-1", spec(), "agent:1", tls_secret="mgr-tls", tls_fingerprint="ab12"
    )
    template = deployment["spec"]["template"]
    manager, agent = template["spec"]["containers"]
    assert {"name": "tls", "mountPath": TLS_DIR, "readOnly": True} in manager["volumeMounts"]
    assert {"name": "WORKQUEUE_SSL_KEY", "value": f"{TLS_DIR}/tls.key"} in manager["env"]
    assert {"name": "WORKQUEUE_SSL_CERT", "value": f"{TLS_DIR}/tls.crt"} in manager["env"]
    assert "--tls-insecure-skip-verify" in agent["args"]
    assert {"name": "tls", "secret": {"secretName": "mgr-tls", "defaultMode": 0o444}} in template[
        "spec"
    ]["volumes"]
    assert template["metadata"]["annotations"][TLS_FINGERPRINT_ANNOTATION] == "ab12"
    plain = manager_deployment("mgr", "science", "uid-1", spec(), "agent:1")
    assert "annotations" not in plain["spec"]["template"]["metadata"]


def pass_of(kube: InMemoryKube, manager_spec: WorkQueueManagerSpec, memory: ManagerMemory) -> Any:
    return Pass(
        name="mgr",
        namespace="science",
        uid="uid-1",
        generation=1,
        spec=manager_spec,
        status={},
        memory=memory,
        context=Context(kube=kube, namespace="science"),
        logger=logging.getLogger("test"),
    )


def test_a_new_certificate_redeploys_the_manager_and_a_steady_one_does_not() -> None:
    kube = InMemoryKube()
    memory, waiting, _ = asyncio.run(deploy_manager(pass_of(kube, spec(), ManagerMemory())))
    assert waiting is None
    assert [o["kind"] for o in kube.applied] == ["Secret", "Deployment", "Service"]
    first = memory.deployed_certificate
    # Within the recheck interval nothing is read or applied.
    memory, _, _ = asyncio.run(deploy_manager(pass_of(kube, spec(), memory)))
    assert len(kube.applied) == 3
    # The Secret replaced (by its owner, or on renewal): the next read rolls the pod.
    made = self_signed(NAMES[3], NAMES, NOW + timedelta(days=1))
    kube.secrets["science", "mgr-tls"] = {"tls.crt": made.certificate_pem, "tls.key": made.key_pem}
    memory, _, _ = asyncio.run(deploy_manager(pass_of(kube, spec(), ManagerMemory(1, first, None))))
    assert [o["kind"] for o in kube.applied[3:]] == ["Deployment", "Service"]
    assert memory.deployed_certificate == fingerprint(made.certificate_pem) != first


def test_the_operator_checks_an_incluster_manager_against_its_own_secret() -> None:
    connection = manager_connection("mgr", "science", spec())
    assert connection.tls is not None
    assert connection.tls.ca_secret is not None and connection.tls.ca_secret.name == "mgr-tls"
    assert connection.tls.ca_secret.key == "ca.crt"
    assert connection.tls.server_name == "mgr.science.svc"


def test_an_unreadable_ca_is_a_tls_error() -> None:
    with pytest.raises(TlsError, match="not PEM certificates"):
        client_tls(
            b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", verify=True
        )
    made = self_signed(NAMES[3], NAMES, NOW)
    assert client_tls(made.certificate_pem, verify=True).check_hostname


def test_agent_tls_flags_imply_tls() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["agent", "--manager", "m:9123", "--tls-insecure-skip-verify"])
    config = config_from_args(args)
    assert config.tls and not config.tls_verify
    config = config_from_args(parser.parse_args(["agent", "--manager", "m:9123"]))
    assert not config.tls
