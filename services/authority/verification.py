"""Checking a filed XML message's signature with the filer's configured certificate, without signxml's overhead.

shared.ceb.signing.verify_xml (signxml) parses a message six times, validates the signature element against the
XML-DSig schema, and reads the configured certificate again for every message: ~0.4 ms a message, more than the
rest of reading it. Customs' messages all carry the one signature shape signxml writes (an enveloped RSA-SHA256
signature over the whole document, C14N 1.0, SHA-256 digest, the certificate in KeyInfo); for exactly that shape
this module checks what signxml checks — the certificate is valid now, SignedInfo canonicalised as signxml does
verifies with the configured certificate's key, the digest of the document without its signature is the signed
one — and returns, as signxml does, the document parsed from the bytes that were digested (only signed content).

Anything else — another shape, a DTD or entity, a certificate out of its validity, a signature or digest that does
not verify — goes to verify_xml itself, which gives the verdict and the error: this path only ever accepts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime
from functools import cached_property

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from shared.ceb.errors import MessageMalformed
from shared.ceb.fields import DSIG_NS, parse_xml
from shared.ceb.signing import verify_xml

_C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
_RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"


def _ds(name: str) -> str:
    return f"{{{DSIG_NS}}}{name}"


_SIGNATURE, _SIGNED_INFO, _SIGNATURE_VALUE, _KEY_INFO = (_ds("Signature"), _ds("SignedInfo"), _ds("SignatureValue"),
                                                         _ds("KeyInfo"))
_REFERENCE, _TRANSFORMS, _DIGEST_VALUE, _X509_DATA = (_ds("Reference"), _ds("Transforms"), _ds("DigestValue"),
                                                      _ds("X509Data"))
# The payload parser of signxml: what the signed bytes are read back with.
_PAYLOAD_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class FilerCertificate:
    """The filer's (customs') configured certificate, read once."""

    def __init__(self, cert_pem: bytes) -> None:
        self.pem = cert_pem
        self.certificate = x509.load_pem_x509_certificate(cert_pem)

    @cached_property
    def rsa_key(self) -> rsa.RSAPublicKey | None:
        key = self.certificate.public_key()
        return key if isinstance(key, rsa.RSAPublicKey) else None

    def valid_now(self) -> bool:
        now = datetime.now(UTC)
        return self.certificate.not_valid_before_utc <= now <= self.certificate.not_valid_after_utc


def verify_filing(data: bytes, filer: FilerCertificate) -> etree._Element:
    """verify_xml(data, filer.pem): the signed document, or SignatureInvalid / MessageMalformed as it raises them."""
    signed = _verified_plain_signature(data, filer)
    return signed if signed is not None else verify_xml(data, filer.pem)


def _verified_plain_signature(data: bytes, filer: FilerCertificate) -> etree._Element | None:
    """The signed document when `data` carries signxml's plain enveloped signature and it verifies; else None."""
    key = filer.rsa_key
    if key is None or not filer.valid_now():
        return None
    try:
        root = parse_xml(data)
    except MessageMalformed:
        return None
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or next(root.iter(etree.Entity), None):
        return None
    signatures = root.findall(_SIGNATURE)
    if len(signatures) != 1 or root.findall(f".//{_SIGNATURE}") != signatures:
        return None
    signature = signatures[0]
    if signature is not root[-1] or signature.tail is not None or not _plain(signature):
        return None
    signed_info = signature[0]
    digest_value = signed_info[2][2].text or ""
    try:
        expected_digest = base64.b64decode(digest_value, validate=True)
        raw_signature = base64.b64decode(signature[1].text or "", validate=True)
    except (binascii.Error, ValueError):
        return None
    # signxml canonicalises SignedInfo in a re-parsed copy of the signature element (namespaces in scope included).
    copy = etree.fromstring(etree.tostring(signature), parser=_PAYLOAD_PARSER)
    try:
        key.verify(raw_signature, etree.tostring(copy[0], method="c14n"), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return None
    root.remove(signature)  # the enveloped-signature transform (the signature has no tail text to keep)
    payload = etree.tostring(root, method="c14n")
    if hashlib.sha256(payload).digest() != expected_digest:
        return None
    return etree.fromstring(payload, parser=_PAYLOAD_PARSER)


def _plain(signature: etree._Element) -> bool:
    """Exactly the signature signxml writes: no other element, attribute, algorithm or text anywhere."""
    if signature.attrib or [child.tag for child in signature] != [_SIGNED_INFO, _SIGNATURE_VALUE, _KEY_INFO]:
        return False
    signed_info, signature_value, key_info = signature
    if signed_info.attrib or [c.tag for c in signed_info] != [_ds("CanonicalizationMethod"), _ds("SignatureMethod"),
                                                               _REFERENCE]:
        return False
    c14n_method, signature_method, reference = signed_info
    if not (_algorithm(c14n_method, _C14N) and _algorithm(signature_method, _RSA_SHA256)):
        return False
    if dict(reference.attrib) != {"URI": ""} or [c.tag for c in reference] != [_TRANSFORMS, _ds("DigestMethod"),
                                                                              _DIGEST_VALUE]:
        return False
    transforms, digest_method, digest_value = reference
    if transforms.attrib or len(transforms) != 2 or not (_algorithm(transforms[0], _ENVELOPED)
                                                         and _algorithm(transforms[1], _C14N)):
        return False
    if not _algorithm(digest_method, _SHA256) or digest_value.attrib or len(digest_value):
        return False
    if signature_value.attrib or len(signature_value):
        return False
    if key_info.attrib or [c.tag for c in key_info] != [_X509_DATA]:
        return False
    x509_data = key_info[0]
    if x509_data.attrib or not len(x509_data) or any(
            c.tag != _ds("X509Certificate") or c.attrib or len(c) or not _base64(c.text) for c in x509_data):
        return False
    # Only whitespace between the elements (the values' own text aside).
    valued = {digest_value, signature_value, *x509_data}
    for element in signature.iter():
        if element is not signature and _blank(element.tail) is False:
            return False
        if element not in valued and _blank(element.text) is False:
            return False
    return True


def _algorithm(element: etree._Element, algorithm: str) -> bool:
    return dict(element.attrib) == {"Algorithm": algorithm} and not len(element) and _blank(element.text)


def _base64(text: str | None) -> bool:
    """What the XML-DSig schema's base64Binary takes (whitespace between the characters allowed)."""
    try:
        base64.b64decode("".join((text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return bool(text)


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()
