"""XML-DSig round trip and tampering; the detached signature of JSON messages; signing identities."""

from __future__ import annotations

import re

import pytest
from lxml import etree

from services.customs.messages import build_message
from shared.ceb.errors import MessageMalformed, SignatureInvalid
from shared.ceb.fields import DSIG_NS, to_bytes
from shared.ceb.signing import SigningIdentity, sign_bytes, sign_xml, verify_bytes, verify_xml
from shared.certificates import make_pair
from tests.customs.messages.factories import DECLARANT, facts, identity, mail_facts, other_identity


@pytest.fixture(scope="module")
def filed() -> bytes:
    return build_message("CEB621", facts(), DECLARANT, identity()).body


def test_a_signed_message_verifies_with_the_signers_certificate(filed):
    signed = verify_xml(filed, identity().cert_pem)
    assert etree.QName(signed).localname == "CEB621Message"
    assert signed.find(f"{{{DSIG_NS}}}Signature") is None  # what was signed: the document without its signature
    signature = etree.fromstring(filed)[-1]
    assert signature.tag == f"{{{DSIG_NS}}}Signature"  # enveloped, the root's last child
    assert signature.find(f".//{{{DSIG_NS}}}X509Certificate") is not None  # certificate in KeyInfo
    methods = {element.get("Algorithm") for element in signature.iter() if element.get("Algorithm")}
    assert "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" in methods
    assert "http://www.w3.org/TR/2001/REC-xml-c14n-20010315" in methods


def test_any_changed_byte_of_the_content_fails(filed):
    changed = filed.replace(b"<qty>2</qty>", b"<qty>3</qty>", 1)
    assert changed != filed
    with pytest.raises(SignatureInvalid) as caught:
        verify_xml(changed, identity().cert_pem)
    assert caught.value.code == "signature_invalid"


def test_a_changed_byte_of_the_signature_value_fails(filed):
    start = filed.index(b"<ds:SignatureValue>") + len(b"<ds:SignatureValue>")
    flipped = filed[:start] + (b"A" if filed[start:start + 1] != b"A" else b"B") + filed[start + 1:]
    with pytest.raises(SignatureInvalid):
        verify_xml(flipped, identity().cert_pem)


def test_a_signature_by_another_key_fails_even_with_its_certificate_inside(filed):
    forged = build_message("CEB621", facts(), DECLARANT, other_identity()).body
    with pytest.raises(SignatureInvalid):
        verify_xml(forged, identity().cert_pem)  # the configured certificate decides, not the one carried


def test_an_unsigned_document_is_refused(filed):
    root = etree.fromstring(filed)
    root.remove(root[-1])
    with pytest.raises(SignatureInvalid) as caught:
        verify_xml(to_bytes(root), identity().cert_pem)
    assert caught.value.code == "signature_missing"


def test_a_signature_not_enveloping_the_document_is_refused(filed):
    """A signature moved inside the body (a wrapping trick) is not the root's signature."""
    root = etree.fromstring(filed)
    signature = root[-1]
    root.remove(signature)
    root[0].append(signature)
    with pytest.raises(SignatureInvalid):
        verify_xml(to_bytes(root), identity().cert_pem)


def test_a_signature_inside_the_content_signed_along_is_refused():
    """A second ds:Signature the signer covered (not the root's child) verifies in signxml: the signed element shows
    it, and one signature per document is the rule."""
    root = etree.fromstring(build_message("CEB621", facts(), DECLARANT, identity()).body)
    root[0].append(root[-1])  # the message's own signature moved into its content, then the whole signed again
    twice = sign_xml(root, identity())
    with pytest.raises(SignatureInvalid) as caught:
        verify_xml(twice, identity().cert_pem)
    assert caught.value.code == "signature_invalid"
    assert "exactly one" in caught.value.detail


def test_a_document_signed_twice_is_refused(filed):
    """Two signatures as the root's children: the second (over the first) verifies, the first is still there."""
    twice = sign_xml(etree.fromstring(filed), identity())
    with pytest.raises(SignatureInvalid) as caught:
        verify_xml(twice, identity().cert_pem)
    assert caught.value.code == "signature_invalid"


def test_a_signature_of_one_element_by_its_id_is_not_the_whole_documents():
    from signxml import XMLSigner
    from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

    root = etree.fromstring(build_message("CEB621", facts(), DECLARANT, identity()).body)
    root.remove(root[-1])
    root.set("Id", "whole")
    signer = XMLSigner(signature_algorithm=SignatureMethod.RSA_SHA256, digest_algorithm=DigestAlgorithm.SHA256,
                       c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0)
    by_id = to_bytes(signer.sign(root, key=identity().private_key, cert=[identity().certificate],
                                 reference_uri="#whole"))
    with pytest.raises(SignatureInvalid) as caught:
        verify_xml(by_id, identity().cert_pem)
    assert caught.value.code == "signature_invalid"


def test_a_reference_with_a_transform_signxml_skips_is_refused(filed):
    """signxml skips a transform it does not know (the digest still matches what the signer digested): only the
    enveloped-signature transform and canonicalization make a signature of the whole document."""
    from signxml import XMLSigner
    from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

    class XPathSigner(XMLSigner):
        def _build_transforms_for_reference(self, *, transforms_node, reference, **kwargs):
            super()._build_transforms_for_reference(transforms_node=transforms_node, reference=reference, **kwargs)
            etree.SubElement(transforms_node, f"{{{DSIG_NS}}}Transform",
                             Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116")

    root = etree.fromstring(filed)
    root.remove(root[-1])
    signer = XPathSigner(signature_algorithm=SignatureMethod.RSA_SHA256, digest_algorithm=DigestAlgorithm.SHA256,
                         c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0)
    skipped = to_bytes(signer.sign(root, key=identity().private_key, cert=[identity().certificate]))
    assert b"REC-xpath-19991116" in skipped
    with pytest.raises(SignatureInvalid) as caught:
        verify_xml(skipped, identity().cert_pem)
    assert "whole document" in caught.value.detail


def test_a_signature_breaking_the_xmldsig_schema_is_refused_as_invalid(filed):
    """signxml's schema check of the ds:Signature raises lxml's DocumentInvalid: a refusal, not a crash."""
    broken = filed.replace(b"<ds:SignedInfo>", b"<ds:SignedInfo><ds:Unexpected/>", 1)
    with pytest.raises(SignatureInvalid) as caught:
        verify_xml(broken, identity().cert_pem)
    assert caught.value.code == "signature_invalid"


@pytest.mark.parametrize("empty", [b"<ds:SignatureValue/>", b"<ds:SignatureValue></ds:SignatureValue>"])
def test_an_empty_signature_value_is_refused_as_invalid(filed, empty):
    emptied = re.sub(rb"<ds:SignatureValue>[^<]*</ds:SignatureValue>", empty, filed)
    assert emptied != filed
    with pytest.raises(SignatureInvalid) as caught:
        verify_xml(emptied, identity().cert_pem)
    assert caught.value.code == "signature_invalid"


def test_malformed_xml_is_refused_as_such():
    with pytest.raises(MessageMalformed) as caught:
        verify_xml(b"<CEB621Message><unclosed></CEB621Message>", identity().cert_pem)
    assert caught.value.code == "xml_malformed"


def test_entities_are_not_expanded():
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            b"<x>&b;</x>")
    with pytest.raises((MessageMalformed, SignatureInvalid)):
        verify_xml(bomb, identity().cert_pem)


def test_json_messages_are_signed_over_their_exact_bytes():
    message = build_message("CUSITM", mail_facts(), DECLARANT, identity())
    verify_bytes(message.body, message.signature, identity().cert_pem)
    with pytest.raises(SignatureInvalid):
        verify_bytes(message.body.replace(b"30.00", b"3.00"), message.signature, identity().cert_pem)
    with pytest.raises(SignatureInvalid):
        verify_bytes(message.body, message.signature, other_identity().cert_pem)
    with pytest.raises(SignatureInvalid) as caught:
        verify_bytes(message.body, None, identity().cert_pem)
    assert caught.value.code == "signature_missing"
    with pytest.raises(SignatureInvalid):
        verify_bytes(message.body, "not base64!", identity().cert_pem)


def test_an_identity_whose_key_and_certificate_differ_is_refused_at_load(tmp_path):
    key, _ = make_pair("a")
    _, cert = make_pair("b")
    (tmp_path / "k.pem").write_bytes(key)
    (tmp_path / "c.pem").write_bytes(cert)
    with pytest.raises(ValueError, match="does not belong"):
        SigningIdentity.from_files(tmp_path / "k.pem", tmp_path / "c.pem")


def test_sign_and_verify_a_minimal_document():
    root = etree.Element("{urn:silkgate:customs:1}Probe", nsmap={None: "urn:silkgate:customs:1"})
    root.text = "x"
    data = sign_xml(root, identity())
    assert verify_xml(data, identity().cert_pem).text == "x"
    assert sign_bytes(b"x", identity()) != sign_bytes(b"y", identity())


def _signxml_signed(root: etree._Element, signer: SigningIdentity) -> bytes:
    """What signxml's XMLSigner makes of `root` given the certificate as PEM text (sign_xml hands it the parsed
    certificate, read once)."""
    from signxml import XMLSigner
    from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

    xml_signer = XMLSigner(signature_algorithm=SignatureMethod.RSA_SHA256, digest_algorithm=DigestAlgorithm.SHA256,
                           c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0)
    return to_bytes(xml_signer.sign(root, key=signer.private_key, cert=signer.cert_pem.decode()))


def _documents() -> list[etree._Element]:
    """Every XML message customs files (with the numbers a cancel or return names) and every receipt type."""
    from dataclasses import replace

    from services.customs.messages.outgoing import XML_BUILDERS
    from shared.ceb.fields import new_guid
    from shared.ceb.receipts import RECEIPT_OF, build_receipt
    from tests.customs.messages.factories import export_facts
    from tests.shared.ceb.test_receipts import receipt

    roots = []
    for kind, build in sorted(XML_BUILDERS.items()):
        base = export_facts() if kind in ("CEB303", "CEB603", "CEB605") else facts()
        numbered = replace(base, pre_no="B20260301000000001", invt_no="46002026I000000001", reason="cancelled & <why>")
        roots.append(build(numbered, DECLARANT, guid=new_guid()))
    roots += [build_receipt(receipt(kind)) for kind in sorted(set(RECEIPT_OF.values()))]
    return roots


@pytest.mark.parametrize("root", _documents(), ids=lambda root: etree.QName(root).localname)
def test_sign_xml_with_the_parsed_certificate_writes_what_the_pem_gives_and_leaves_the_document_as_it_was(root):
    """RSA PKCS#1 v1.5 is deterministic: equal bytes mean the same digest, SignedInfo, signature and KeyInfo."""
    unsigned = to_bytes(root)
    signed = sign_xml(root, identity())
    assert to_bytes(root) == unsigned
    assert signed == _signxml_signed(root, identity())
    assert etree.QName(verify_xml(signed, identity().cert_pem)).localname == etree.QName(root).localname


def test_sign_xml_with_a_namespace_prefix_and_characters_c14n_escapes():
    root = etree.Element("{urn:probe}Probe", nsmap={"p": "urn:probe", None: "urn:other"}, note="tab\there\r\n")
    etree.SubElement(root, "{urn:other}Child").text = "a < b & c > d\r"
    etree.SubElement(root, "{urn:probe}Empty", attr='"quoted"')
    signed = sign_xml(root, identity())
    assert signed == _signxml_signed(root, identity())
    verify_xml(signed, identity().cert_pem)
