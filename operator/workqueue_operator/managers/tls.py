"""The key and certificate of an InCluster manager's TLS: the names it answers to, a
self-signed certificate for them, and when to make a new one. Pure (the caller supplies the
time)."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALIDITY = timedelta(days=365)
RENEW_BEFORE = timedelta(days=30)
"""A certificate that ends within this is replaced (the manager's pod restarts to take it)."""
LOOPBACK = "127.0.0.1"
"""Also a name of the certificate: the telemetry sidecar polls the manager in its own pod."""


def manager_names(name: str, namespace: str) -> list[str]:
    """The DNS names an InCluster manager is reached by: its Service, in every spelling."""
    service = f"{name}.{namespace}.svc"
    return [name, f"{name}.{namespace}", service, f"{service}.cluster.local", "localhost"]


@dataclass(frozen=True)
class KeyAndCertificate:
    key_pem: bytes
    certificate_pem: bytes


def self_signed(
    common_name: str,
    dns_names: list[str],
    now: datetime,
    validity: timedelta = VALIDITY,
    ip_addresses: tuple[str, ...] = (LOOPBACK,),
) -> KeyAndCertificate:
    """A new P-256 key and a self-signed certificate for ``dns_names`` and ``ip_addresses``,
    valid from a minute before ``now`` for ``validity``. It is its own CA: the operator checks
    the manager against it (the Secret's ca.crt)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + validity)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return KeyAndCertificate(
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
    )


def needs_renewal(certificate_pem: bytes | None, names: list[str], now: datetime) -> str | None:
    """Why a new certificate is needed (none yet, unreadable, ending soon, not for these
    names), or None when the one there will do."""
    if not certificate_pem:
        return "there is no certificate yet"
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError as error:
        return f"the certificate cannot be read ({error})"
    if certificate.not_valid_after_utc - now < RENEW_BEFORE:
        return f"the certificate ends on {certificate.not_valid_after_utc:%Y-%m-%d}"
    try:
        alt = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return "the certificate names no host"
    missing = sorted(set(names) - set(alt.value.get_values_for_type(x509.DNSName)))
    return f"the certificate does not name {', '.join(missing)}" if missing else None


TLS_KEYS = ("tls.crt", "tls.key")


@dataclass(frozen=True)
class TlsSecretPlan:
    """What an InCluster manager's TLS Secret calls for: make a new self-signed certificate
    (``make``, and why), use the one there (``certificate_pem``), or wait (``waiting``, why)."""

    make: str | None = None
    certificate_pem: bytes | None = None
    waiting: str | None = None


def plan_tls_secret(
    secret_name: str,
    data: Mapping[str, bytes] | None,
    *,
    made_by_operator: bool,
    issued_by_cert_manager: bool,
    names: list[str],
    now: datetime,
) -> TlsSecretPlan:
    """Decide about the TLS Secret ``secret_name`` (``data`` None: it does not exist).

    The operator makes, and renews, only a Secret it made itself; cert-manager's and the
    user's are used as they are, once they hold a key and a certificate."""
    if issued_by_cert_manager:
        if data is None:
            return TlsSecretPlan(waiting=f"cert-manager has not issued Secret {secret_name} yet")
    elif data is None or made_by_operator:
        reason = needs_renewal(data.get("tls.crt") if data else None, names, now)
        if reason is not None:
            return TlsSecretPlan(make=reason)
    assert data is not None
    missing = [key for key in TLS_KEYS if not data.get(key)]
    if missing:
        return TlsSecretPlan(waiting=f"Secret {secret_name} has no {' or '.join(missing)}")
    return TlsSecretPlan(certificate_pem=data["tls.crt"])


def fingerprint(certificate_pem: bytes) -> str:
    """A short hash of a certificate: it rolls the manager's pod when it changes."""
    return hashlib.sha256(certificate_pem).hexdigest()[:16]
