"""Receipts: built by the authority and read back by customs, for every receipt type; the ranking of statuses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from lxml import etree

from shared.ceb.errors import MessageMalformed, MessageRuleViolation, SignatureInvalid
from shared.ceb.fields import new_guid, to_bytes
from shared.ceb.receipts import (
    MAX_RECORDS,
    RECEIPT_OF,
    Receipt,
    build_receipt,
    build_receipts,
    parse_receipts,
    read_receipt,
    read_receipts,
)
from shared.ceb.signing import sign_xml
from shared.ceb.status import describe, rank, supersedes
from tests.customs.messages.factories import identity, other_identity

AT = datetime(2026, 3, 1, 2, 21, 13, 250000, tzinfo=UTC)


def receipt(message_type: str = "CEB622", **overrides) -> Receipt:
    values = {"message_type": message_type, "receipt_guid": new_guid(), "guid": new_guid(), "return_status": 120,
              "return_time": AT, "return_info": "accepted into the customs system", "cop_no": "dcl_1",
              "order_no": "MO-1", "pre_no": "B20260301000000001", "invt_no": "46002026I000000001",
              "customs_code": "4600", "ebp_code": "6501960002", "ebc_code": "M001", "agent_code": "6501960001"}
    if message_type == "CUSRSP":
        values["answered_type"] = "CUSITM"
    values.update(overrides)
    return Receipt(**values)


@pytest.mark.parametrize("message_type", sorted(set(RECEIPT_OF.values())))
def test_every_receipt_type_round_trips_signed(message_type):
    sent = receipt(message_type)
    data = sign_xml(build_receipt(sent), identity())
    got = read_receipt(data, identity().cert_pem)
    assert (got.message_type, got.receipt_guid, got.guid, got.return_status, got.return_info) == (
        message_type, sent.receipt_guid, sent.guid, 120, sent.return_info)
    assert got.return_time == AT  # YYYYMMDDhhmmssSSS in China time, read back to the millisecond
    if message_type in ("CEB312", "CEB304"):
        assert (got.order_no, got.cop_no) == ("MO-1", None)
    else:
        assert (got.cop_no, got.pre_no, got.invt_no) == ("dcl_1", sent.pre_no, sent.invt_no)
    expected_answered = "CUSITM" if message_type == "CUSRSP" else {v: k for k, v in RECEIPT_OF.items()
                                                                   if v != "CUSRSP"}[message_type]
    assert got.answered_type == expected_answered


def test_the_cusrsp_receipt_is_in_silkgates_namespace():
    root = build_receipt(receipt("CUSRSP"))
    assert root.tag == "{urn:silkgate:customs:1}CUSRSPMessage"


def test_an_unsigned_or_foreign_signed_receipt_is_refused():
    root = build_receipt(receipt())
    with pytest.raises(SignatureInvalid) as caught:
        read_receipt(to_bytes(root), identity().cert_pem)
    assert caught.value.code == "signature_missing"
    with pytest.raises(SignatureInvalid):
        read_receipt(sign_xml(build_receipt(receipt()), other_identity()), identity().cert_pem)


def test_a_signed_document_that_is_not_a_receipt_is_refused():
    probe = etree.Element("{http://www.chinaport.gov.cn/ceb}CEB621Message", guid=new_guid(), version="1.0")
    with pytest.raises(MessageMalformed) as caught:
        read_receipt(sign_xml(probe, identity()), identity().cert_pem)
    assert caught.value.code == "not_a_receipt"


def test_a_signed_receipt_breaking_its_schema_is_refused_naming_the_element():
    root = build_receipt(receipt())
    root.find(".//{*}returnTime").text = "2026-03-01"
    with pytest.raises(MessageMalformed) as caught:
        read_receipt(sign_xml(root, identity()), identity().cert_pem)
    assert (caught.value.code, caught.value.field) == ("schema_invalid", "CEB622Message.InventoryReturn.returnTime")


def test_a_receipt_with_an_unknown_status_is_refused():
    root = build_receipt(receipt())
    root.find(".//{*}returnStatus").text = "777"
    with pytest.raises(MessageMalformed) as caught:
        read_receipt(sign_xml(root, identity()), identity().cert_pem)
    assert caught.value.field == "InventoryReturn.returnStatus"
    with pytest.raises(MessageRuleViolation):
        build_receipt(receipt(return_status=777))


def test_several_records_are_read_but_a_receipt_must_carry_one():
    first = build_receipt(receipt())
    first.append(build_receipt(replace(receipt(), return_status=800))[0])
    assert [r.return_status for r in parse_receipts(first)] == [120, 800]
    with pytest.raises(MessageMalformed) as caught:
        read_receipt(sign_xml(first, identity()), identity().cert_pem)
    assert caught.value.code == "not_one_record"


def test_a_document_of_several_records_is_signed_once_and_read_whole():
    sent = [receipt(), receipt(return_status=800), receipt(cop_no="dcl_2")]
    data = sign_xml(build_receipts(sent), identity())
    assert data.count(b"<ds:SignatureValue") == 1
    got = read_receipts(data, identity().cert_pem)
    assert [(r.guid, r.return_status, r.cop_no) for r in got] == [(r.guid, r.return_status, r.cop_no) for r in sent]
    assert {r.receipt_guid for r in got} == {sent[0].receipt_guid}  # the document's guid
    with pytest.raises(SignatureInvalid):  # one record changed: nothing of the document is read
        read_receipts(data.replace(b"dcl_2", b"dcl_3"), identity().cert_pem)


def test_a_document_holds_one_receipt_type_and_a_bounded_number_of_records():
    with pytest.raises(MessageRuleViolation):
        build_receipts([receipt("CEB622"), receipt("CEB312")])
    with pytest.raises(MessageRuleViolation):
        build_receipts([receipt() for _ in range(MAX_RECORDS + 1)])
    with pytest.raises(MessageRuleViolation):
        build_receipts([])
    document = build_receipts([receipt() for _ in range(MAX_RECORDS)])
    document.append(build_receipt(receipt())[0])  # one record past the bound, signed all the same
    with pytest.raises(MessageMalformed) as caught:
        read_receipts(sign_xml(document, identity()), identity().cert_pem)
    assert caught.value.code == "too_many_records"


def test_a_cusrsp_receipt_needs_the_answered_message_type():
    with pytest.raises(MessageRuleViolation) as caught:
        build_receipt(receipt("CUSRSP", answered_type=None))
    assert caught.value.field == "Response.messageType"


def test_statuses_rank_so_nothing_goes_backwards():
    flow = [2, 120, 300, 500, 503, 399, 100, 800, 899]
    assert [rank(s) for s in flow] == sorted(rank(s) for s in flow)
    assert supersedes(120, None) and supersedes(800, 120) and supersedes(399, 500)
    assert not supersedes(120, 800)  # a late 120 after the release
    assert not supersedes(120, 120)  # a duplicate
    assert not supersedes(300, 399)  # a late review request after the review concluded
    assert not supersedes(-301, None)  # a processing error is recorded, never applied
    assert describe(503) == "detained" and describe(-1) == "processing error" and describe(800) == "released"
    with pytest.raises(ValueError):
        rank(777)


def test_optional_fields_left_out_read_as_none():
    got = read_receipt(sign_xml(build_receipt(receipt(pre_no=None, invt_no=None, return_status=2)), identity()),
                       identity().cert_pem)
    assert (got.return_status, got.pre_no, got.invt_no, got.cop_no) == (2, None, None, "dcl_1")


def test_the_configured_certificate_decides_whichever_was_used_before():
    """The parsed certificates are kept per PEM: verifying with one never lends it to a check with another."""
    mine = sign_xml(build_receipt(receipt()), identity())
    theirs = sign_xml(build_receipt(receipt()), other_identity())
    for _ in range(2):
        assert read_receipt(mine, identity().cert_pem).return_status == 120
        with pytest.raises(SignatureInvalid):
            read_receipt(mine, other_identity().cert_pem)
        assert read_receipt(theirs, other_identity().cert_pem).return_status == 120
        with pytest.raises(SignatureInvalid):
            read_receipt(theirs, identity().cert_pem)
