"""The authority's receipt signer writes what shared.ceb.signing.sign_xml writes, byte for byte."""

from __future__ import annotations

import pytest
from lxml import etree

from services.authority.sealing import ReceiptSigner
from shared.ceb.receipts import RECEIPT_OF, Receipt, build_receipt, read_receipt
from shared.ceb.signing import SigningIdentity, sign_xml
from tests.customs.messages.factories import AT

GUID = "0F8FAD5B-D9CB-469F-A165-70867728950E"
RECEIPT_GUID = "7C9E6679-7425-40DE-944B-E07FC1F90AE7"


def receipt(message_type: str, **overrides) -> Receipt:
    values = {"message_type": message_type, "receipt_guid": RECEIPT_GUID, "guid": GUID, "return_status": 120,
              "return_time": AT, "return_info": "accepted into the customs system", "cop_no": "dcl_0123456789",
              "order_no": "MO-2026-0001", "pre_no": "B20260301000000001", "invt_no": "46002026I000000001",
              "answered_type": "CUSITM", "customs_code": "4600", "ebp_code": "6501960002",
              "ebc_code": "M001", "agent_code": "6501960001"}
    values.update(overrides)
    return Receipt(**values)


@pytest.fixture(scope="module")
def identity(keys) -> SigningIdentity:
    return SigningIdentity.from_files(keys.authority.key_file, keys.authority.cert_file)


@pytest.mark.parametrize("message_type", sorted(set(RECEIPT_OF.values())))
def test_every_receipt_type_is_signed_as_sign_xml_signs_it(identity, keys, message_type):
    sent = receipt(message_type)
    signed = ReceiptSigner(identity).sign(build_receipt(sent))
    assert signed == sign_xml(build_receipt(sent), identity)
    assert read_receipt(signed, keys.authority_cert) == read_receipt(sign_xml(build_receipt(sent), identity),
                                                                      keys.authority_cert)


@pytest.mark.parametrize("info", ['rejected: 5 < 6 & "undervalued" > \'declared\'', "审单通过\r\nline two\ttab",
                                  "-"])
def test_text_needing_escapes_is_signed_the_same(identity, keys, info):
    sent = receipt("CEB622", return_info=info, pre_no=None, invt_no=None)
    signed = ReceiptSigner(identity).sign(build_receipt(sent))
    assert signed == sign_xml(build_receipt(sent), identity)
    assert read_receipt(signed, keys.authority_cert).return_info == info


def test_documents_of_another_shape_are_left_to_sign_xml(identity, keys):
    root = etree.Element("{urn:other}Thing", nsmap={"o": "urn:other"})
    etree.SubElement(root, "{urn:other}child").text = "x"
    assert ReceiptSigner(identity).sign(root) == sign_xml(
        etree.fromstring(etree.tostring(root)), identity)
