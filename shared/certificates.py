"""Self-signed signing identities: an RSA key and an X.509 certificate, made once into a directory.

`silkgate up` makes var/certs/customs.{key,crt} (customs signs what it files) and var/certs/authority.{key,crt}
(the sandbox authority signs its receipts); tests make their own in temporary directories. Production loads the
filer's certificate issued for the single window instead: nothing here is needed then.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

KEY_BITS = 2048
VALIDITY = timedelta(days=3650)


@dataclass(frozen=True)
class CertificatePair:
    """Where one identity's private key (PEM, PKCS#8) and certificate (PEM) are."""

    key_file: Path
    cert_file: Path


def make_pair(common_name: str, *, organization: str = "silkgate sandbox") -> tuple[bytes, bytes]:
    """A new RSA key and a self-signed certificate for it, both PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, certificate.public_bytes(serialization.Encoding.PEM)


def ensure_pair(directory: Path, name: str, *, common_name: str | None = None) -> CertificatePair:
    """`<directory>/<name>.key` and `<name>.crt`, made if either is missing; existing ones are kept as they are."""
    directory.mkdir(parents=True, exist_ok=True)
    pair = CertificatePair(directory / f"{name}.key", directory / f"{name}.crt")
    if pair.key_file.exists() and pair.cert_file.exists():
        return pair
    key_pem, cert_pem = make_pair(common_name or f"silkgate {name}")
    _write_private(pair.key_file, key_pem)
    pair.cert_file.write_bytes(cert_pem)
    return pair


def _write_private(path: Path, data: bytes) -> None:
    """Write a private key readable by its owner only, never briefly world-readable."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def certificate_fingerprint(cert_pem: bytes) -> str:
    """The SHA-256 fingerprint of a PEM certificate, hex (how the README and logs name a certificate)."""
    return x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA256()).hex()
