"""The message builders: every message validates against the project's XSD and is signed; each field rule of
DOMAIN.md §11 refuses bad input naming the element at fault."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest
from lxml import etree

from services.customs.messages import (
    FilingLine,
    MessageRuleViolation,
    build_ceb311,
    build_ceb621,
    build_ceb623,
    build_filing,
    build_message,
    cancel_kind,
    filing_kinds,
)
from shared.ceb.fields import CEB_NS, new_guid
from shared.ceb.schema import schema_errors
from shared.ceb.signing import verify_xml
from tests.customs.messages.factories import (
    DECLARANT,
    export_facts,
    express_facts,
    facts,
    identity,
    line,
    mail_facts,
    parcel,
)

NS = {"c": CEB_NS}


def text(root: etree._Element, path: str) -> list[str]:
    return [element.text for element in root.xpath(path, namespaces=NS)]


def xml_of(message) -> etree._Element:
    """A filed XML message after checking its signature with the filer's certificate and its XSD."""
    root = verify_xml(message.body, identity().cert_pem)
    assert schema_errors(root) == []
    return root


@pytest.mark.parametrize(("make", "kinds"), [
    (facts, ("CEB311", "CEB621")), (export_facts, ("CEB303", "CEB603")), (mail_facts, ("CUSITM",)),
    (express_facts, ("EXPMANIFEST",)),
])
def test_a_filing_is_the_messages_its_channel_and_direction_need_each_signed_with_its_own_guid(make, kinds):
    f = make()
    messages = build_filing(f, DECLARANT, identity())
    assert tuple(m.kind for m in messages) == kinds == filing_kinds(f.channel, f.direction)
    assert len({m.guid for m in messages}) == len(messages)
    for message in messages:
        assert message.cop_no == f.declaration_id
        if message.content_type == "application/xml":
            root = xml_of(message)
            assert root.tag == f"{{{CEB_NS}}}{message.kind}Message" and root.get("guid") == message.guid
            assert text(root, "//c:guid")[0] == message.guid  # the head names the message's own guid
            assert text(root, "c:BaseTransfer/c:dxpId") == [DECLARANT.dxp_id]
        else:
            assert message.signature  # JSON: a detached signature over the exact bytes


def test_the_import_order_carries_the_amounts_the_buyer_and_the_payment():
    root = xml_of(build_message("CEB311", facts(), DECLARANT, identity()))
    head = "c:Order/c:OrderHead/c:"
    assert text(root, head + "goodsValue") == ["121"]  # 91.00 + 30.00
    assert text(root, head + "acturalPaid") == ["137.01"]  # 121 + 10 freight + 11.01 tax - 5 discount
    assert text(root, head + "currency") == ["142"]
    assert text(root, head + "buyerIdType") == ["1"] and text(root, head + "buyerIdNumber") == ["11010519491231002X"]
    assert text(root, head + "payTransactionId") == ["2026030122001400001"]
    assert text(root, head + "appTime") == ["20260301102113"]  # China time
    assert text(root, "c:Order/c:OrderList/c:gnum") == ["1", "2"]
    assert text(root, "c:Order/c:OrderList/c:country") == ["145", "145"]  # Kazakhstan
    assert text(root, "c:Order/c:OrderList/c:unit") == ["035", "035"]  # KGM → kilograms


def test_the_import_inventory_list_carries_ten_digit_codes_the_route_and_the_weights():
    root = xml_of(build_message("CEB621", facts(), DECLARANT, identity()))
    head = "c:Inventory/c:InventoryHead/c:"
    assert text(root, head + "copNo") == ["dcl_0123456789abcdef01234567"]
    assert text(root, head + "logisticsNo") == ["SGE000000017CN"]
    assert text(root, head + "ieFlag") == ["I"] and text(root, head + "tradeMode") == ["9610"]
    assert text(root, head + "country") == ["145"]  # departure: the sender's country
    assert text(root, head + "customsCode") == [DECLARANT.customs_code]
    assert text(root, head + "netWeight") == ["3"]
    assert text(root, "c:Inventory/c:InventoryList/c:gcode") == ["0813100000", "0804200000"]


def test_the_export_list_names_the_destination():
    root = xml_of(build_message("CEB603", export_facts(), DECLARANT, identity()))
    assert text(root, "c:Inventory/c:InventoryHead/c:ieFlag") == ["E"]
    assert text(root, "c:Inventory/c:InventoryHead/c:country") == ["304"]  # Germany


def test_line_numbers_run_from_one_whatever_an_amendment_left():
    f = facts()
    amended = tuple(replace(item, line_no=number) for item, number in zip(f.lines, (3, 7), strict=True))
    root = xml_of(build_message("CEB621", replace(f, lines=amended), DECLARANT, identity()))
    assert text(root, "c:Inventory/c:InventoryList/c:gnum") == ["1", "2"]


def test_amended_lines_are_filed_not_the_merchants():
    f = facts()
    corrected = replace(f.lines[0], hs_code="0813400000", name="dried apricots, stoned")
    root = xml_of(build_message("CEB621", replace(f, lines=(corrected, f.lines[1])), DECLARANT, identity()))
    assert text(root, "c:Inventory/c:InventoryList/c:gcode")[0] == "0813400000"
    assert text(root, "c:Inventory/c:InventoryList/c:gname")[0] == "dried apricots, stoned"


def test_cancel_and_return_name_the_list_customs_accepted():
    f = facts(pre_no="B20260301000000001", invt_no="46002026I000000001", reason="order cancelled by the buyer")
    assert cancel_kind("ecommerce", "import") == "CEB623" and cancel_kind("ecommerce", "export") == "CEB605"
    assert cancel_kind("mail", "export") == "CUSITM"  # mail and express cancel with app_type 3
    for kind, record in (("CEB623", "c:InvtCancel"), ("CEB625", "c:InvtRefund/c:InvtRefundHead")):
        root = xml_of(build_message(kind, f, DECLARANT, identity()))
        assert text(root, f"{record}/c:invtNo") == ["46002026I000000001"]
        assert text(root, f"{record}/c:reason") == ["order cancelled by the buyer"]
    export = export_facts(pre_no="B20260301000000002", invt_no="46002026E000000002", reason="cancelled")
    root = xml_of(build_message("CEB605", export, DECLARANT, identity()))
    assert text(root, "c:InvtCancel/c:copNo") == [export.declaration_id]


def test_the_mail_and_express_messages_carry_their_item_ids_categories_and_totals():
    cusitm = build_message("CUSITM", mail_facts(), DECLARANT, identity())
    from shared.ceb.json_messages import parse_json_message

    item = parse_json_message("CUSITM", cusitm.body)
    assert (item.item_id, item.form, item.category, item.total_value, item.currency) == (
        "CP123456785CN", "CN23", "gift", Decimal("30.00"), "USD")
    manifest = parse_json_message("EXPMANIFEST", build_message("EXPMANIFEST", express_facts(), DECLARANT,
                                                               identity()).body)
    assert (manifest.waybill_no, manifest.category, manifest.carrier) == ("SGX0000000019", "C", "SGX")


# ── field rules: each refuses bad input naming the element ──────────────────────────────────────────────────────


def refused(build, f) -> MessageRuleViolation:
    with pytest.raises(MessageRuleViolation) as caught:
        build(f, DECLARANT, guid=new_guid())
    return caught.value


def test_amount_paid_must_be_goods_plus_freight_plus_tax_minus_discount():
    error = refused(build_ceb311, facts(tax_total=Decimal(0)))  # the buyer paid 11.01 tax the order omits
    assert (error.field, error.code) == ("OrderHead.acturalPaid", "arithmetic")
    assert "137.01" in error.detail


def test_a_line_total_must_be_price_times_quantity():
    f = facts()
    wrong = replace(f.lines[1], total_price=Decimal("31.00"))
    error = refused(build_ceb621, replace(f, lines=(f.lines[0], wrong)))
    assert (error.field, error.code) == ("InventoryList[2].totalPrice", "arithmetic")
    # A quantity with three places: a total less than a cent from price × qty is right.
    odd = FilingLine.from_order_line(line(1, quantity=Decimal("1.333"), unit_price=Decimal("3.00"),
                                          total_price=Decimal("4.00")))
    build_ceb621(replace(f, lines=(odd,)), DECLARANT, guid=new_guid())


def test_an_inventory_line_needs_a_ten_digit_hs_code():
    f = facts()
    short = replace(f.lines[1], hs_code="080420")
    error = refused(build_ceb621, replace(f, lines=(f.lines[0], short)))
    assert (error.field, error.code) == ("InventoryList[2].gcode", "format")
    build_ceb311(replace(f, lines=(f.lines[0], short)), DECLARANT, guid=new_guid())  # the order does not need one


def test_lengths_are_the_standards():
    error = refused(build_ceb311, facts(parcel(merchant_order_no="M" * 61)))
    assert (error.field, error.code) == ("OrderHead.orderNo", "too_long")
    long_name = parcel(consignee=parcel().consignee.model_copy(update={"address": "x" * 201}))
    assert refused(build_ceb621, facts(long_name)).field == "InventoryHead.consigneeAddress"


@pytest.mark.parametrize(("change", "field"), [
    ({"unit": "XYZ"}, "OrderList[1].unit"),
    ({"origin_country": "ZZ"}, "OrderList[1].country"),
])
def test_codes_come_from_the_tables(change, field):
    f = facts()
    error = refused(build_ceb311, replace(f, lines=(replace(f.lines[0], **change), f.lines[1])))
    assert (error.field, error.code) == (field, "code_table")


def test_one_message_one_currency():
    f = facts()
    error = refused(build_ceb621, replace(f, lines=(replace(f.lines[0], currency="USD"), f.lines[1])))
    assert (error.field, error.code) == ("InventoryHead.currency", "code_table")


def test_app_time_needs_a_time_zone_and_app_type_its_table():
    assert refused(build_ceb621, facts(app_time=datetime(2026, 3, 1, 10, 0))).field == "InventoryHead.appTime"
    assert refused(build_ceb621, facts(app_type=4)).field == "InventoryHead.appType"


def test_the_declarant_codes_are_checked():
    with pytest.raises(MessageRuleViolation) as caught:
        build_ceb621(facts(), replace(DECLARANT, customs_code="460"), guid=new_guid())
    assert caught.value.field == "InventoryHead.customsCode"
    with pytest.raises(MessageRuleViolation) as caught:
        build_ceb621(facts(trade_mode="1210"), DECLARANT, guid=new_guid())
    assert caught.value.field == "InventoryHead.emsNo"
    build_ceb621(facts(trade_mode="1210"), replace(DECLARANT, ems_no="T4600W000001"), guid=new_guid())


def test_import_needs_the_buyers_id_and_the_payment_document():
    no_id = parcel(consignee=parcel().consignee.model_copy(update={"id_type": None, "id_number": None}))
    assert refused(build_ceb311, facts(no_id)).field == "OrderHead.buyerIdNumber"
    unpaid = parcel(payment=None)
    assert refused(build_ceb311, facts(unpaid, payment=None)).field == "OrderHead.payTransactionId"
    assert refused(build_ceb311, facts(pay_code=None)).field == "OrderHead.payCode"


def test_a_cancel_needs_customs_numbers_and_a_reason():
    assert refused(build_ceb623, facts(reason="cancelled")).field == "InvtCancel.preNo"
    f = facts(pre_no="B20260301000000001", invt_no="46002026I000000001")
    assert refused(build_ceb623, f).field == "InvtCancel.reason"


def test_the_message_guid_must_be_upper_case_36_characters():
    with pytest.raises(MessageRuleViolation) as caught:
        build_ceb621(facts(), DECLARANT, guid=new_guid().lower())
    assert caught.value.field == "CEB621Message@guid"


@pytest.mark.parametrize(("make", "change", "field"), [
    (mail_facts, {"tracking_number": "SGX0000000019"}, "item_id"),  # a mail item has an S10 id
    (mail_facts, {"form": "express_C"}, "form"),
    (express_facts, {"form": "CN23"}, "category"),
])
def test_json_messages_refuse_what_their_model_refuses(make, change, field):
    f = replace(make(), **change)
    kind = filing_kinds(f.channel, f.direction)[0]
    with pytest.raises(MessageRuleViolation) as caught:
        build_message(kind, f, DECLARANT, identity())
    assert caught.value.field == field


def test_a_json_line_needs_a_numeric_hs_code():
    f = mail_facts()
    with pytest.raises(MessageRuleViolation) as caught:
        build_message("CUSITM", replace(f, lines=(replace(f.lines[0], hs_code="scarf"),)), DECLARANT, identity())
    assert caught.value.field == "lines.0.hs_code"


def test_the_schema_is_the_last_net_before_signing():
    """A value no builder rule covers but the XSD does (a transport mode outside its code list, from settings) is
    refused by the XSD, naming the element's path, and nothing is signed."""
    with pytest.raises(MessageRuleViolation) as caught:
        build_message("CEB621", facts(), replace(DECLARANT, traf_mode="r"), identity())
    assert caught.value.code == "schema"
    assert caught.value.field == "CEB621Message.Inventory.InventoryHead.trafMode"
