"""The documents side by side (services/customs/console/documents.py): one row per shared field, the match's
disagreements highlighted, personal values masked, documents of either waybill shape read."""

from __future__ import annotations

from datetime import UTC, datetime

from services.customs.console.documents import compare_documents
from services.customs.models import Declaration
from services.customs.schemas import DocumentView, FindingView
from services.customs.service import CustomsConfig
from shared.contract.events import PaymentRecorded
from tests.customs.domain.factories import parcel, party, payment

AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
PAYMENT = PaymentRecorded.event_type()


def declaration_of(the_parcel) -> Declaration:
    return Declaration(id="dcl_1", order_id="ord_1", channel=the_parcel.channel,
                       parcel=the_parcel.model_dump(mode="json"))


def document(kind: str, body: dict, source: str) -> DocumentView:
    return DocumentView(kind=kind, source=source, received_at=AT, body=body)


def order_document(the_parcel) -> DocumentView:
    return document("order", {"order_id": "ord_1", "merchant_code": "M", "parcel": the_parcel.model_dump(mode="json")},
                    "silkgate.orders.order.accepted.v1")


def test_the_waybill_an_external_logistics_company_records_is_read_too():
    the_parcel = parcel()
    waybill = {"order_id": "ord_1", "merchant_order_no": "SO-1001", "logistics_code": "KZLOG",
               "logistics_name": "Kazakh Logistics", "logistics_no": "KZ0000123",
               "consignee": party(phone="+86 139 9999 0000").model_dump(mode="json")}
    documents = [order_document(the_parcel), document("waybill", waybill, "silkgate.orders.waybill.recorded.v1")]
    comparison = compare_documents(declaration_of(the_parcel), documents, [], CustomsConfig(), reveal=True)
    rows = {row.key: row for row in comparison.rows}
    assert rows["tracking_number"].values == [None, "KZ0000123"]
    assert rows["carrier"].values == [None, "KZLOG"]
    assert comparison.missing == ["payment"]
    # The match is the domain's: it reads the waybill shape it knows; stored findings still mark the rows.
    assert {row.key for row in comparison.rows if row.disagrees} == set()
    finding = FindingView(code="consignee_mismatch", severity="high", message="differs", fields=["consignee.phone"],
                          source="match", created_at=AT)
    comparison = compare_documents(declaration_of(the_parcel), documents, [finding], CustomsConfig(), reveal=False)
    rows = {row.key: row for row in comparison.rows}
    assert rows["consignee_phone"].disagrees and rows["consignee_phone"].values[1] == "+•• ••• •••• 0000"


def test_the_match_over_the_documents_received_marks_what_disagrees():
    the_parcel = parcel()
    paid = {"order_id": "ord_1", "merchant_code": "M",
            "payment": payment(amount="180.00").model_dump(mode="json")}
    documents = [order_document(the_parcel), document("payment", paid, PAYMENT)]
    comparison = compare_documents(declaration_of(the_parcel), documents, [], CustomsConfig(), reveal=True)
    rows = {row.key: row for row in comparison.rows}
    assert rows["amount_paid"].disagrees and rows["amount_paid"].values == ["100 CNY", "180.00 CNY"]
    assert not rows["buyer_name"].disagrees
    assert rows["buyer_name"].values == ["Aynur Tursun", "Aynur Tursun"] and rows["buyer_name"].personal
    assert "tracking_number" not in rows  # no document carries it yet: no empty row
    assert comparison.missing == ["waybill"] and not comparison.match_unavailable


def test_documents_the_match_cannot_read_are_shown_unhighlighted():
    the_parcel = parcel()
    broken = document("payment", {"order_id": "ord_1", "payment": {"payer_name": "X"}}, PAYMENT)
    comparison = compare_documents(declaration_of(the_parcel), [order_document(the_parcel), broken], [],
                                   CustomsConfig(), reveal=True)
    assert comparison.match_unavailable
    assert {row.key: row.values for row in comparison.rows}["buyer_name"] == ["Aynur Tursun", "X"]


def test_mail_and_express_miss_no_payment_document():
    the_parcel = parcel(channel="mail", trade_mode=None, mail_product="parcel")
    comparison = compare_documents(declaration_of(the_parcel), [order_document(the_parcel)], [], CustomsConfig(),
                                   reveal=False)
    assert comparison.missing == ["waybill"]
