"""The authority's check of a filed XML message's signature gives what shared.ceb.signing.verify_xml gives: the same
signed document, or the same error — whatever was done to the message."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from lxml import etree

from services.authority import verification
from services.authority.verification import FilerCertificate, verify_filing
from shared.ceb.errors import ExchangeError
from shared.ceb.fields import DSIG_NS, to_bytes
from shared.ceb.signing import SigningIdentity, sign_xml, verify_xml
from tests.authority.support import message, with_facts
from tests.customs.messages.factories import export_facts, facts, other_identity


def outcome(check, data: bytes, cert_pem: bytes):
    try:
        return "signed", etree.tostring(check(data, cert_pem))
    except ExchangeError as exc:
        return type(exc).__name__, exc.code, exc.field, re.sub(r"validation time \S+", "", exc.detail)


def assert_same(data: bytes, cert_pem: bytes, *, fast: bool | None = None) -> tuple:
    expected = outcome(verify_xml, data, cert_pem)
    assert outcome(lambda d, pem: verify_filing(d, FilerCertificate(pem)), data, cert_pem) == expected
    if fast is not None:  # whether the direct check took it, or left it to verify_xml
        assert (verification._verified_plain_signature(data, FilerCertificate(cert_pem)) is not None) is fast
    return expected


def resigned(data: bytes, change, identity: SigningIdentity) -> bytes:
    root = etree.fromstring(data)
    root.remove(root[-1])
    change(root)
    return sign_xml(root, identity)


@pytest.mark.parametrize("kind", ["CEB311", "CEB621", "CEB623", "CEB625"])
def test_customs_messages_are_checked_directly_and_read_as_verify_xml_reads_them(keys, kind):
    filed = message(kind, keys, pre_no="B20260301000000001", invt_no="46002026I000000001", reason="wrong size")
    assert assert_same(filed.body, keys.customs.cert_file.read_bytes(), fast=True)[0] == "signed"


def test_export_messages_too(keys):
    for kind in ("CEB303", "CEB603"):
        filed = with_facts(kind, keys, export_facts())
        assert assert_same(filed.body, keys.customs.cert_file.read_bytes(), fast=True)[0] == "signed"


def test_what_was_not_signed_by_the_configured_certificate_is_refused_as_verify_xml_refuses_it(keys):
    cert = keys.customs.cert_file.read_bytes()
    body = message("CEB621", keys).body
    forged = with_facts("CEB621", keys, facts())
    forged_body = resigned(forged.body, lambda root: None, other_identity())
    assert assert_same(forged_body, cert, fast=False)[:2] == ("SignatureInvalid", "signature_invalid")
    tampered = body.replace(b"<copNo>dcl_", b"<copNo>dcX_")
    assert assert_same(tampered, cert, fast=False)[:2] == ("SignatureInvalid", "signature_invalid")
    value = etree.fromstring(body).find(f".//{{{DSIG_NS}}}SignatureValue").text
    flipped = body.replace(value.encode(), (value[:10] + ("A" if value[10] != "A" else "B") + value[11:]).encode())
    assert assert_same(flipped, cert, fast=False)[:2] == ("SignatureInvalid", "signature_invalid")
    unsigned = etree.fromstring(body)
    unsigned.remove(unsigned[-1])
    assert assert_same(to_bytes(unsigned), cert, fast=False)[:2] == ("SignatureInvalid", "signature_missing")
    assert assert_same(b"<not xml", cert, fast=False)[:2] == ("MessageMalformed", "xml_malformed")


def test_a_second_signature_or_one_in_another_place_is_left_to_verify_xml(keys):
    cert = keys.customs.cert_file.read_bytes()
    body = message("CEB621", keys).body
    root = etree.fromstring(body)
    root[0].append(etree.fromstring(etree.tostring(root[-1])))  # a copy of the signature inside the record
    assert assert_same(to_bytes(root), cert, fast=False)[0] == "SignatureInvalid"
    moved = etree.fromstring(body)
    moved[0].append(moved[-1])  # the only signature, not the root's child
    assert assert_same(to_bytes(moved), cert, fast=False)[0] == "SignatureInvalid"


@pytest.mark.parametrize("change", [
    lambda sig: sig.set("Id", "sig-1"),
    lambda sig: sig[0].insert(0, etree.Comment("a comment inside SignedInfo")),
    lambda sig: sig[2].insert(0, etree.Element(f"{{{DSIG_NS}}}KeyName")),
    lambda sig: sig[0][2][0][1].set("Algorithm", "http://www.w3.org/2001/10/xml-exc-c14n#"),
    lambda sig: sig[0][2].set("Id", "ref-1"),
    lambda sig: setattr(sig, "tail", "\n"),
])
def test_any_other_signature_shape_is_left_to_verify_xml(keys, change):
    cert = keys.customs.cert_file.read_bytes()
    root = etree.fromstring(message("CEB621", keys).body)
    change(root[-1])
    assert_same(to_bytes(root), cert, fast=False)


def test_documents_with_a_dtd_are_left_to_verify_xml(keys):
    cert = keys.customs.cert_file.read_bytes()
    body = message("CEB621", keys).body
    with_dtd = body.replace(b"?>\n", b"?>\n<!DOCTYPE x [<!ENTITY e \"x\">]>\n", 1)
    assert_same(with_dtd, cert, fast=False)


def test_a_certificate_out_of_its_validity_is_left_to_verify_xml(keys):
    identity = keys.customs_identity
    key = serialization.load_pem_private_key(identity.key_pem, password=None)
    current = x509.load_pem_x509_certificate(identity.cert_pem)
    expired = (x509.CertificateBuilder().subject_name(current.subject).issuer_name(current.issuer)
               .public_key(current.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(datetime.now(UTC) - timedelta(days=30))
               .not_valid_after(datetime.now(UTC) - timedelta(days=1)).sign(key, hashes.SHA256()))
    pem = expired.public_bytes(serialization.Encoding.PEM)
    assert not FilerCertificate(pem).valid_now()
    assert assert_same(message("CEB621", keys).body, pem, fast=False)[0] == "SignatureInvalid"
