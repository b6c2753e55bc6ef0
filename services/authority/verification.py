"""Checking what customs files, always with customs' *configured* certificate (never one a message carries): the
enveloped XML-DSig of its XML messages (signxml, through shared.ceb.signing.verify_xml) and the detached signature of
its JSON messages. The certificate is read and checked once, when the sandbox starts.
"""

from __future__ import annotations

from cryptography import x509
from lxml import etree

from shared.ceb.signing import verify_bytes, verify_xml


class FilerCertificate:
    """The filer's (customs') configured certificate, checked to parse when the sandbox starts."""

    def __init__(self, cert_pem: bytes) -> None:
        x509.load_pem_x509_certificate(cert_pem)
        self.pem = cert_pem


def verify_filing(data: bytes, filer: FilerCertificate) -> etree._Element:
    """The signed document, or SignatureInvalid / MessageMalformed as verify_xml raises them."""
    return verify_xml(data, filer.pem)


def verify_detached(data: bytes, signature: str | None, filer: FilerCertificate, *, field: str) -> None:
    """A JSON message's detached signature (verify_bytes); raises SignatureInvalid."""
    verify_bytes(data, signature, filer.pem, field=field)
