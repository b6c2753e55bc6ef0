"""Signing and verification: enveloped XML-DSig for XML messages and receipts, a detached signature for JSON.

XML: signxml, enveloped signature over the whole document (reference URI ""), RSA-SHA256, digest SHA-256,
canonical XML 1.0 (C14N), the signer's certificate in KeyInfo; the ds:Signature is the root's last child.
Verification checks the signature with the *configured* certificate of the other side (never the one the message
carries) and returns the element that was actually signed, which is what callers must read (not the raw document).

JSON messages (CUSITM, EXPMANIFEST, REVIEWANSWER, INSPECTIONRECORD) are signed over their exact bytes with the same
key (RSA PKCS#1 v1.5, SHA-256); the signature travels in the transport envelope's head (`Signature`).
"""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from signxml import InvalidInput, InvalidSignature, SignatureConfiguration, XMLSigner, XMLVerifier
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)

from shared.ceb.errors import SignatureInvalid
from shared.ceb.fields import DSIG_NS, parse_xml, to_bytes

C14N = CanonicalizationMethod.CANONICAL_XML_1_0
_EXPECT = SignatureConfiguration(
    require_x509=True,
    location="./",  # the signature must be a child of the root: an enveloped signature of the whole document
    expect_references=1,
    signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
    digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
    default_reference_c14n_method=C14N,
)


@dataclass(frozen=True)
class SigningIdentity:
    """A private key and its certificate (both PEM): who signs."""

    key_pem: bytes
    cert_pem: bytes

    @classmethod
    def from_files(cls, key_file: str | Path, cert_file: str | Path) -> SigningIdentity:
        identity = cls(Path(key_file).read_bytes(), Path(cert_file).read_bytes())
        identity.check()
        return identity

    def check(self) -> None:
        """Fail at start-up, not at the first message, when the key and certificate do not belong together."""
        key = serialization.load_pem_private_key(self.key_pem, password=None)
        cert = x509.load_pem_x509_certificate(self.cert_pem)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError("the signing key must be an RSA key")
        if key.public_key().public_numbers() != cert.public_key().public_numbers():
            raise ValueError("the signing key does not belong to the certificate")

    @cached_property
    def private_key(self) -> rsa.RSAPrivateKey:
        """The key, parsed once: loading a PEM RSA key checks it (~38 ms of CPU here), signing takes ~0.4 ms."""
        key = serialization.load_pem_private_key(self.key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError("the signing key must be an RSA key")
        return key

    @cached_property
    def certificate(self) -> x509.Certificate:
        """The certificate, parsed once: signxml re-reads and checks a PEM string at every signature (~0.1 ms)."""
        return x509.load_pem_x509_certificate(self.cert_pem)


def load_certificate(cert_file: str | Path) -> bytes:
    """A PEM certificate from a file, checked to parse."""
    pem = Path(cert_file).read_bytes()
    x509.load_pem_x509_certificate(pem)
    return pem


def sign_xml(root: etree._Element, identity: SigningIdentity) -> bytes:
    """The document with an enveloped signature appended to its root, as UTF-8 bytes."""
    signer = XMLSigner(signature_algorithm=SignatureMethod.RSA_SHA256, digest_algorithm=DigestAlgorithm.SHA256,
                       c14n_algorithm=C14N)
    signed = signer.sign(root, key=identity.private_key, cert=[identity.certificate])
    return to_bytes(signed)


def verify_xml(data: bytes, cert_pem: bytes, *, field: str = "Signature") -> etree._Element:
    """Check the enveloped signature of `data` against `cert_pem`; return the signed element (the whole document).

    Raises SignatureInvalid: signature_missing when there is none, signature_invalid when it does not verify, was
    made with another certificate, or is not the one signature of the whole document. Malformed XML raises
    MessageMalformed (from parse_xml).

    signxml parses the bytes itself (with parse_xml's parser settings): parsing them first for our own checks too
    was a tenth of a receipt document's verification and reading. The checks that need the received tree run only
    on a refusal (to say why); on success the signed element shows the same: signxml took the signature from the
    root's children (location "./"), the one reference is "" (the whole document) with the enveloped-signature
    transform and canonicalization only, and that transform removed this signature alone, so any other
    ds:Signature of the document is still in the signed element.
    """
    try:
        result = _verifier().verify(data, x509_cert=_certificate(cert_pem), expect_config=_EXPECT, parser=_parser())
    except etree.XMLSyntaxError as exc:
        parse_xml(data)  # raises MessageMalformed, naming the syntax error
        raise SignatureInvalid(field, f"the document cannot be read: {exc}", code="signature_invalid") from exc
    except (InvalidSignature, InvalidInput, etree.DocumentInvalid, TypeError) as exc:
        # DocumentInvalid: the ds:Signature breaks the XML-DSig schema (signxml's validate_schema). TypeError: signxml
        # base64-decodes an empty SignatureValue's text, None (a 500 before, and no evidence kept).
        _check_structure(parse_xml(data), field)
        raise SignatureInvalid(field, f"the signature does not verify: {exc}", code="signature_invalid") from exc
    signed = result.signed_xml if not isinstance(result, list) else None
    references = result.signature_xml.findall(_REFERENCES) if not isinstance(result, list) else []
    if signed is None or len(references) != 1 or not _whole_document(references[0]):
        raise SignatureInvalid(field, "the signature does not cover the whole document", code="signature_invalid")
    if signed.tag == _SIGNATURE or signed.find(_ANY_SIGNATURE) is not None:
        raise SignatureInvalid(field, "exactly one enveloped signature, as the root's child, is expected",
                               code="signature_invalid")
    return signed


def _whole_document(reference: etree._Element) -> bool:
    """The reference is the whole document (URI "") with the enveloped-signature transform and canonicalization
    only: signxml skips a transform it does not know and would apply base64 to the root's text."""
    algorithms = [transform.get("Algorithm") for transform in reference.iterfind(_TRANSFORMS)]
    return reference.get("URI") == "" and _ENVELOPED in algorithms and set(algorithms) <= _WHOLE_DOCUMENT_TRANSFORMS


def _check_structure(root: etree._Element, field: str) -> None:
    """Why a document that did not verify is refused, when its structure already says: no signature, or not
    exactly one signature as the root's child."""
    signatures = root.findall(_SIGNATURE)
    if not signatures:
        raise SignatureInvalid(field, "the document is not signed", code="signature_missing")
    if len(signatures) > 1 or root.findall(_ANY_SIGNATURE) != signatures:
        raise SignatureInvalid(field, "exactly one enveloped signature, as the root's child, is expected",
                               code="signature_invalid")


_SIGNATURE = f"{{{DSIG_NS}}}Signature"
_ANY_SIGNATURE = f".//{{{DSIG_NS}}}Signature"
_REFERENCES = f"{{{DSIG_NS}}}SignedInfo/{{{DSIG_NS}}}Reference"
_TRANSFORMS = f"{{{DSIG_NS}}}Transforms/{{{DSIG_NS}}}Transform"
_ENVELOPED = SignatureConstructionMethod.enveloped.value
_WHOLE_DOCUMENT_TRANSFORMS = frozenset({_ENVELOPED, *(method.value for method in CanonicalizationMethod)})
_verifiers = threading.local()


@lru_cache(maxsize=16)
def _certificate(cert_pem: bytes) -> x509.Certificate:
    """The configured certificate, parsed once: signxml takes the object as it takes the PEM, and the object keeps
    its public key once extracted (parsing the PEM and extracting the key each time was ~15% of a receipt's
    verification). Still the configured certificate, never the one the document carries."""
    return x509.load_pem_x509_certificate(cert_pem)


def _verifier() -> XMLVerifier:
    """This thread's verifier, reused: verify() sets all of its per-call state (the parser too: _parser's, passed at
    each call). Per thread because an lxml parser must not be shared across threads."""
    verifier = getattr(_verifiers, "verifier", None)
    if verifier is None:
        verifier = _verifiers.verifier = XMLVerifier()
    return verifier


def _parser() -> etree.XMLParser:
    """This thread's parser for received documents, with parse_xml's settings (no DTD loaded, no entity resolved,
    no network, no huge trees); signxml refuses any DTD or entity on top."""
    parser = getattr(_verifiers, "parser", None)
    if parser is None:
        parser = _verifiers.parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                                     huge_tree=False, remove_blank_text=False)
    return parser


def sign_bytes(data: bytes, identity: SigningIdentity) -> str:
    """A detached RSA-SHA256 signature of `data`, base64."""
    signature = identity.private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def verify_bytes(data: bytes, signature: str | None, cert_pem: bytes, *, field: str = "Signature") -> None:
    """Check a detached signature made by sign_bytes; raises SignatureInvalid."""
    if not signature:
        raise SignatureInvalid(field, "the message is not signed", code="signature_missing")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureInvalid(field, "the signature is not base64", code="signature_invalid") from exc
    public_key = _certificate(cert_pem).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    try:
        public_key.verify(raw, data, padding.PKCS1v15(), hashes.SHA256())
    except CryptoInvalidSignature as exc:
        raise SignatureInvalid(field, "the signature does not verify", code="signature_invalid") from exc
