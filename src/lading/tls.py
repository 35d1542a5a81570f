"""TLS: the context of lading's outgoing connections, and the check of the certificate
and key that ``lading serve`` is given for its own HTTPS.

Loading the system's certificate authorities costs about 70 ms, which every new client
paid; an ``SSLContext`` can be shared by any number of clients and threads, so a process
makes one, the first time one is wanted.
"""

from __future__ import annotations

import functools
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lading.lazy import LazyModule

if TYPE_CHECKING:
    import httpx
    from cryptography import exceptions, x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
else:  # only with TLS, a Swift store or a fetch (lading.lazy)
    httpx = LazyModule("httpx")
    exceptions = LazyModule("cryptography.exceptions")
    x509 = LazyModule("cryptography.x509")
    serialization = LazyModule("cryptography.hazmat.primitives.serialization")


@functools.cache
def client_context() -> ssl.SSLContext:
    """The context that verifies servers against the system's certificate authorities."""
    return httpx.create_ssl_context()


class CertificateProblem(Exception):
    """Why ``lading serve`` cannot serve HTTPS with the files it was given: one line that
    names the file."""


def check_server_files(certificate: Path, key: Path) -> str | None:
    """Refuse what granian would fail on, in its own words or not at all: files that cannot
    be read, are not PEM, a key that is encrypted or is not the certificate's. Returns a
    warning for a certificate out of its validity period, which clients will refuse."""
    chain = _read(certificate, "tls.certificate")
    try:
        leaf = x509.load_pem_x509_certificates(chain)[0]
    except ValueError:
        raise CertificateProblem(
            f"tls.certificate {certificate} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ) from None
    try:
        private = serialization.load_pem_private_key(_read(key, "tls.key"), password=None)
    except TypeError:
        raise CertificateProblem(
            f"tls.key {key} is encrypted: lading needs it unencrypted, readable by its "
            "user only (openssl pkey -in KEY -out PLAIN)"
        ) from None
    except (ValueError, exceptions.UnsupportedAlgorithm):
        raise CertificateProblem(
            f"tls.key {key} holds no PEM private key (-----BEGIN PRIVATE KEY-----)"
        ) from None
    if _public(private.public_key()) != _public(leaf.public_key()):
        raise CertificateProblem(
            f"tls.key {key} is not the key of the certificate in tls.certificate {certificate}"
        )
    now = datetime.now(UTC)
    if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        return (
            f"tls.certificate {certificate} is valid from {leaf.not_valid_before_utc:%Y-%m-%d} "
            f"to {leaf.not_valid_after_utc:%Y-%m-%d}, not now: clients will refuse it"
        )
    return None


def _read(path: Path, setting: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CertificateProblem(
            f"{setting} {path} cannot be read: {exc.strerror or exc}"
        ) from None


def _public(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
