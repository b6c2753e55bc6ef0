"""Signing receipts: the enveloped XML-DSig of shared.ceb.signing.sign_xml, written out directly.

sign_xml goes through signxml, which re-parses the document twice, rebuilds the signature as a tree, re-reads the
certificate and re-wraps its PEM for every document: about half of a receipt's signing cost besides the RSA
operation itself. A receipt is small and always the same shape (one default namespace, the signature appended to
the root), so the authority writes the same signature as text: the digest of the document's canonical form (C14N
1.0), the SignedInfo canonicalised as signxml does (it inherits the root's namespace), its RSA-SHA256 signature,
and the certificate as signxml puts it in KeyInfo. The bytes are those sign_xml makes (RSA PKCS#1 v1.5 signatures
are deterministic), which tests/authority/test_sealing.py checks receipt type by receipt type; anything of another
shape is signed by sign_xml itself.
"""

from __future__ import annotations

import base64
import hashlib
import re

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from shared.ceb.fields import CEB_NS, SILKGATE_NS
from shared.ceb.signing import SigningIdentity, sign_xml

DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\s*\n(.+?)-----END CERTIFICATE-----", re.DOTALL)
_NAMESPACES = (CEB_NS, SILKGATE_NS)  # the receipts' (plain URIs: written as they are)
_DECLARATION = b"<?xml version='1.0' encoding='UTF-8'?>\n"


def _signed_info(*, canonical: bool, digest: str) -> str:
    """SignedInfo as it is signed (canonical: namespaces written by the caller, empty elements as start-end pairs)
    or as it is written inside the document (empty elements closed in place, as lxml serialises them)."""

    def empty(name: str, algorithm: str) -> str:
        if canonical:
            return f'<ds:{name} Algorithm="{algorithm}"></ds:{name}>'
        return f'<ds:{name} Algorithm="{algorithm}"/>'

    return (f"{empty('CanonicalizationMethod', _C14N)}{empty('SignatureMethod', _RSA_SHA256)}"
            f'<ds:Reference URI=""><ds:Transforms>{empty("Transform", _ENVELOPED)}{empty("Transform", _C14N)}'
            f"</ds:Transforms>{empty('DigestMethod', _SHA256)}<ds:DigestValue>{digest}</ds:DigestValue>"
            "</ds:Reference></ds:SignedInfo>")


class ReceiptSigner:
    """Signs receipt documents with the authority's identity; the key and certificate are prepared once."""

    def __init__(self, identity: SigningIdentity) -> None:
        self.identity = identity
        self._key = identity.private_key
        chain = _PEM.findall(identity.cert_pem.decode().replace("\r", ""))
        if not chain:
            raise ValueError("the signing certificate holds no PEM certificate")
        certificates = "".join(f"<ds:X509Certificate>{text}</ds:X509Certificate>" for text in chain)
        self._key_info = f"<ds:KeyInfo><ds:X509Data>{certificates}</ds:X509Data></ds:KeyInfo>"

    def sign(self, root: etree._Element) -> bytes:
        """The document with its enveloped signature, as UTF-8 bytes: what sign_xml(root, identity) gives."""
        namespace = etree.QName(root).namespace
        if namespace not in _NAMESPACES or root.nsmap != {None: namespace} or root.getparent() is not None:
            return sign_xml(root, self.identity)
        document = etree.tostring(root, encoding="UTF-8")  # no declaration: the root element alone
        closing = f"</{etree.QName(root).localname}>".encode()
        if not document.endswith(closing):
            return sign_xml(root, self.identity)  # an empty root (<x/>): not a receipt
        # signxml digests a re-parsed copy of the document; so does this (the same canonical bytes either way).
        canonical = etree.tostring(etree.fromstring(document), method="c14n")
        digest = base64.b64encode(hashlib.sha256(canonical).digest()).decode()
        signed_info = (f'<ds:SignedInfo xmlns="{namespace}" xmlns:ds="{DSIG_NS}">'
                       f"{_signed_info(canonical=True, digest=digest)}")
        signature = self._key.sign(signed_info.encode(), padding.PKCS1v15(), hashes.SHA256())
        element = (f'<ds:Signature xmlns:ds="{DSIG_NS}"><ds:SignedInfo>{_signed_info(canonical=False, digest=digest)}'
                   f"<ds:SignatureValue>{base64.b64encode(signature).decode()}</ds:SignatureValue>"
                   f"{self._key_info}</ds:Signature>")
        return _DECLARATION + document[:-len(closing)] + element.encode() + closing
