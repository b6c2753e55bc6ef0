"""Three-document match (DOMAIN.md §6): order, payment, waybill."""

from datetime import timedelta
from decimal import Decimal

import pytest

from services.customs.domain.matching import (
    WaybillDocument,
    documents_overdue,
    match_documents,
    needs_three_document_match,
    normalize_phone,
    normalize_text,
)
from services.customs.domain.policy import DEFAULT_POLICY as P
from tests.customs.domain.factories import NOW, parcel, party, payment, waybill

D = Decimal


def match(**overrides):
    values = {"order_id": "ord-1", "parcel": parcel(), "payment": payment(), "waybill": waybill(), "policy": P}
    return match_documents(**{**values, **overrides})


def codes(result):
    return {f.code: f.fields for f in result.findings}


def test_only_ecommerce_needs_the_match():
    assert needs_three_document_match("ecommerce")
    assert not needs_three_document_match("mail") and not needs_three_document_match("express")


def test_three_agreeing_documents_match():
    result = match()
    assert result.complete and result.missing == [] and result.findings == [] and result.matched


@pytest.mark.parametrize("absent", ["payment", "waybill"])
def test_a_missing_document_is_listed_not_an_error(absent):
    result = match(**{absent: None})
    assert not result.complete and result.missing == [absent] and not result.matched
    assert result.findings == []


def test_waybill_before_order_and_payment():
    result = match(parcel=None, payment=None)
    assert result.missing == ["order", "payment"] and result.findings == []


def test_waybill_dataclass_is_accepted():
    doc = WaybillDocument(order_no="SO-1001", consignee=party())
    assert match(waybill=doc).matched


def test_order_number_mismatch():
    result = match(waybill=waybill(merchant_order_no="SO-1002"))
    assert codes(result) == {"order_number_mismatch": ["waybill.order_no"]}
    assert result.findings[0].severity == "high"
    assert codes(match(waybill=waybill(order_id="ord-2"))) == {"order_number_mismatch": ["waybill.order_id"]}
    assert "order_number_mismatch" in codes(match(payment_order_id="ord-9"))


def test_amount_within_one_cny_both_sides_of_the_boundary():
    assert match(payment=payment(amount=D("101.00"))).matched
    assert match(payment=payment(amount=D("99.00"))).matched
    assert codes(match(payment=payment(amount=D("101.01")))) == {"amount_mismatch": ["payment.amount",
                                                                                     "order.amount_paid"]}
    assert "amount_mismatch" in codes(match(payment=payment(amount=D("98.99"))))


def test_amount_compared_after_conversion_to_cny():
    order = parcel(currency="USD", goods_value=D("100"), amount_paid=D("100"))  # 710.00 CNY
    assert match(parcel=order, payment=payment(amount=D("711.00"))).matched
    assert "amount_mismatch" in codes(match(parcel=order, payment=payment(amount=D("711.01"))))
    assert match(parcel=order, payment=payment(amount=D("100"), currency="USD")).matched


def test_unknown_payment_currency_is_a_finding_not_a_crash():
    assert codes(match(payment=payment(currency="ZZZ"))) == {"amount_mismatch": ["payment.currency"]}


def test_payer_must_be_the_buyer():
    assert match(payment=payment(payer_name="  aynur   TURSUN ")).matched
    assert codes(match(payment=payment(payer_name="Someone Else"))) == {"payer_mismatch": ["payment.payer_name"]}
    assert codes(match(payment=payment(payer_id_number="110105194912310021"))) == {
        "payer_mismatch": ["payment.payer_id_number"]
    }
    assert match(payment=payment(payer_id_number="11010519491231002x")).matched  # check character case
    assert match(payment=payment(payer_id_number=None, payer_id_type=None)).matched  # ID compared when given


def test_payer_compared_with_explicit_buyer_not_consignee():
    buyer = party(name="Mehmet Ali", id_number="110101199003070011")
    order = parcel(buyer=buyer)
    assert codes(match(parcel=order)) == {"payer_mismatch": ["payment.payer_name", "payment.payer_id_number"]}
    assert match(parcel=order, payment=payment(payer_name="Mehmet Ali", payer_id_number="110101199003070011")).matched


def test_consignee_formatting_differences_still_match():
    same = party(name="AYNUR  TURSUN", phone="+86-138-0013-8000", address="12 renmin east road ,apt 3.")
    assert match(waybill=waybill(consignee=same)).matched
    assert match(waybill=waybill(consignee=party(phone="0086 13800138000"))).matched
    assert match(waybill=waybill(consignee=party(address="１２ Renmin East Road, Apt 3"))).matched  # full-width


def test_consignee_genuine_differences_mismatch():
    other = party(name="Aynur Tursunova", phone="+86 138 0013 8001", address="14 Renmin East Road, Apt 3")
    assert codes(match(waybill=waybill(consignee=other))) == {
        "consignee_mismatch": ["consignee.name", "consignee.phone", "consignee.address"]
    }
    assert codes(match(waybill=waybill(consignee=party(address="12 Renmin West Road, Apt 3")))) == {
        "consignee_mismatch": ["consignee.address"]
    }
    assert codes(match(waybill=waybill(consignee=party(city="Urumqi", country="KZ")))) == {
        "consignee_mismatch": ["consignee.city", "consignee.country"]
    }
    assert match(waybill=waybill(consignee=party(city=None, postal_code=None))).matched  # absent: not compared


def test_normalizers():
    assert normalize_text(" Ａ  b ,c. ") == "a b,c"
    assert normalize_phone("+86 (138) 0013-8000") == normalize_phone("008613800138000") == "8613800138000"
    assert normalize_phone("13800138000") != normalize_phone("+86 13800138000")


def test_document_deadline_is_exclusive_of_its_last_minute():
    assert not documents_overdue(opened_at=NOW, now=NOW + timedelta(minutes=30), policy=P)
    assert documents_overdue(opened_at=NOW, now=NOW + timedelta(minutes=30, seconds=1), policy=P)


def test_identity_required_makes_a_missing_id_a_finding_not_a_pass():
    """Issue 13 finding 2: the payer's identity check was skipped when either side had no ID."""
    no_payer_id = payment(payer_id_type=None, payer_id_number=None)
    assert match(payment=no_payer_id).matched  # not required (e.g. an export): names are compared
    result = match(payment=no_payer_id, require_identity=True)
    assert codes(result) == {"payer_id_missing": ["payment.payer_id_number"]}
    no_buyer_id = parcel(consignee=party(id_type=None, id_number=None))
    assert codes(match(parcel=no_buyer_id, require_identity=True)) == {"payer_id_missing": ["buyer.id_number"]}
    assert match(require_identity=True).matched


def test_the_orders_payment_claim_must_name_the_providers_document():
    """The payment in the merchant's order is its claim (CEB311 payTransactionId), compared, never counted."""
    claimed = parcel(payment=payment(transaction_id="T-1"))
    assert match(parcel=claimed).matched
    other = parcel(payment=payment(provider="wechat", transaction_id="T-9"))
    assert codes(match(parcel=other)) == {"payment_claim_mismatch": ["payment.provider", "payment.transaction_id"]}


def test_an_external_logistics_companys_waybill_is_read_from_its_document():
    body = {"order_id": "ord-1", "merchant_order_no": "SO-1001", "logistics_no": "YT123",
            "consignee": party().model_dump(mode="json"), "logistics_code": "YTO"}
    document = WaybillDocument.from_recorded(body)
    assert document.tracking_number == "YT123" and match(waybill=document).matched
