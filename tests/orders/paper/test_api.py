"""The documents endpoints through the real API, with the events that make documents ready arriving through the
real nats-server: authorization, the 409s, batches, and the tax shown on the order."""

from __future__ import annotations

import io
import json
import zipfile
from decimal import Decimal
from typing import Any

from shared.contract.events import DeclarationFiled, DeclarationHeld, DeclarationReleased, TaxBill, TaxBillLine
from tests.orders import events
from tests.orders.domain.factories import ecommerce_parcel, express_parcel, mail_parcel, party
from tests.orders.events import TRACKING_NUMBER, publish
from tests.orders.paper.papers import CHINESE_ADDRESS, CHINESE_CONSIGNEE, CHINESE_NAME
from tests.orders.paper.pdf import pages
from tests.orders.test_consumers import order_when

# Into China: 10-digit HS codes.
CHINESE_MAIL = mail_parcel(merchant_order_no="MAIL-CN-0001", direction="import", consignee=CHINESE_CONSIGNEE,
                           sender=party(name="Almaty Honey LLP"))
CHINESE_MAIL["lines"] = [{**line, "hs_code": code}
                         for line, code in zip(CHINESE_MAIL["lines"], ("6205200000", "4202210000"), strict=True)]


async def order_with_tracking_number(orders, body: dict[str, Any], number: str = TRACKING_NUMBER) -> str:
    order_id = (await orders.create_order(body))["id"]
    await publish(orders.runtime, events.waybill_issued(order_id, tracking_number=number))
    await order_when(orders, order_id, lambda o: o["tracking_number"] == number)
    return order_id


def declaration(order_id: str, minutes: float, channel: str = "mail") -> dict[str, Any]:
    return {"declaration_id": f"dcl_{order_id[-12:]}", "order_id": order_id, "channel": channel,
            "occurred_at": events.at(minutes)}


async def filed(orders, order_id: str, form: str, channel: str = "mail", minutes: float = 2) -> None:
    await publish(orders.runtime, DeclarationFiled(**declaration(order_id, minutes, channel), status="accepted",
                                                   ceb_code=120, form=form, value_cny=Decimal("128.05")))
    await order_when(orders, order_id, lambda o: o["customs_form"] == form)


def assert_pdf(response, filename: str) -> list:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'inline; filename="{filename}"'
    return pages(response.content)


def assert_problem(response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code, body
    return body


# ── the label ─────────────────────────────────────────────────────────────────


async def test_the_label_of_a_mail_item_with_a_chinese_consignee(orders):
    order_id = await order_with_tracking_number(orders, CHINESE_MAIL)
    response = await orders.client.get(f"/v1/orders/{order_id}/label", headers=orders.merchant)
    [page] = assert_pdf(response, f"{order_id}-label.pdf")
    assert (round(page.width_mm, 1), round(page.height_mm, 1)) == (100.0, 150.0)
    assert page.barcodes() == [("Code128", TRACKING_NUMBER)]
    assert "CP 123 456 785 CN" in page.text
    for expected in (CHINESE_NAME, CHINESE_ADDRESS, "Almaty Honey LLP", "MAIL · IMPORT", "Carrier KZPOST",
                     "S10 CP · parcel", "Weight 1.600 kg"):
        assert expected in page.text, expected


async def test_no_label_before_the_tracking_number_retry_after(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    response = await orders.client.get(f"/v1/orders/{order_id}/label", headers=orders.merchant)
    assert_problem(response, 409, "tracking_number_pending")
    assert response.headers["retry-after"] == "5"


async def test_no_label_for_a_cancelled_order(orders):
    order_id = await order_with_tracking_number(orders, mail_parcel())
    assert (await orders.client.post(f"/v1/orders/{order_id}/cancel", headers=orders.merchant)).status_code == 200
    response = await orders.client.get(f"/v1/orders/{order_id}/label", headers=orders.merchant)
    body = assert_problem(response, 409, "order_not_shippable")
    assert body["order_status"] == "cancelled" and "retry-after" not in response.headers


async def test_ops_may_print_any_merchants_label(orders):
    order_id = await order_with_tracking_number(orders, mail_parcel())
    response = await orders.client.get(f"/v1/orders/{order_id}/label", headers=orders.ops)
    [page] = assert_pdf(response, f"{order_id}-label.pdf")
    assert page.barcodes() == [("Code128", TRACKING_NUMBER)]


# ── authorization ─────────────────────────────────────────────────────────────


async def test_another_merchants_order_is_not_found_on_every_document_endpoint(orders):
    order_id = await order_with_tracking_number(orders, mail_parcel())
    await filed(orders, order_id, "CN23")
    for path in ("label", "customs-form", "commercial-invoice", "documents"):
        response = await orders.client.get(f"/v1/orders/{order_id}/{path}", headers=orders.other_merchant)
        assert_problem(response, 404, "order_not_found")
        # … exactly as an order that does not exist
        missing = await orders.client.get(f"/v1/orders/ord_00000000000000000000000/{path}",
                                          headers=orders.merchant)
        assert_problem(missing, 404, "order_not_found")
    response = await orders.client.post("/v1/documents/labels", json={"order_ids": [order_id], "format": "zip"},
                                        headers=orders.other_merchant)
    results = json.loads(zipfile.ZipFile(io.BytesIO(response.content)).read("results.json"))["results"]
    assert [(r["status"], r["problem"]["code"]) for r in results] == [(404, "order_not_found")]
    assert zipfile.ZipFile(io.BytesIO(response.content)).namelist() == ["results.json"]  # nothing of theirs


async def test_keys_of_other_roles_and_no_key_are_refused(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    response = await orders.client.get(f"/v1/orders/{order_id}/commercial-invoice", headers=orders.payment)
    assert_problem(response, 403, "role_not_allowed")
    response = await orders.client.get(f"/v1/orders/{order_id}/commercial-invoice")
    assert response.status_code == 401
    response = await orders.client.post("/v1/documents/labels", json={"order_ids": [order_id]},
                                        headers=orders.payment)
    assert_problem(response, 403, "role_not_allowed")


# ── the customs form ──────────────────────────────────────────────────────────


async def test_the_cn_form_waits_for_customs_then_prints_the_form_it_chose(orders):
    order_id = await order_with_tracking_number(orders, CHINESE_MAIL)
    response = await orders.client.get(f"/v1/orders/{order_id}/customs-form", headers=orders.merchant)
    assert_problem(response, 409, "customs_form_pending")
    assert response.headers["retry-after"] == "5"

    await filed(orders, order_id, "CN22")
    [page] = assert_pdf(await orders.client.get(f"/v1/orders/{order_id}/customs-form", headers=orders.merchant),
                        f"{order_id}-cn22.pdf")
    assert "CN 22" in page.text and CHINESE_NAME in page.text
    assert (round(page.width_mm), round(page.height_mm)) == (100, 150)

    # A broker's amendment makes it a CN23 (the hold carries customs' new choice): the CN23 prints.
    await publish(orders.runtime, DeclarationHeld(**declaration(order_id, 3), status="manual_review", ceb_code=300,
                                                  reason="value amended", form="CN23"))
    await order_when(orders, order_id, lambda o: o["customs_form"] == "CN23")
    response = await orders.client.get(f"/v1/orders/{order_id}/customs-form", headers=orders.merchant)
    [page] = assert_pdf(response, f"{order_id}-cn23.pdf")
    assert "CN 23" in page.text and page.barcodes() == [("Code128", TRACKING_NUMBER)]
    assert CHINESE_ADDRESS in page.text and "Total value (6)" in page.text


async def test_express_and_ecommerce_have_no_cn_form(orders):
    for body in (express_parcel(), ecommerce_parcel()):
        order_id = (await orders.create_order(body))["id"]
        response = await orders.client.get(f"/v1/orders/{order_id}/customs-form", headers=orders.merchant)
        assert_problem(response, 404, "document_not_applicable")


async def test_a_rejected_order_that_customs_gave_no_form_never_gets_one(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    await publish(orders.runtime, events.rejected(order_id))
    await order_when(orders, order_id, lambda o: o["status"] == "rejected")
    response = await orders.client.get(f"/v1/orders/{order_id}/customs-form", headers=orders.merchant)
    assert_problem(response, 409, "customs_form_unavailable")
    assert "retry-after" not in response.headers


# ── the commercial invoice ────────────────────────────────────────────────────


async def test_the_commercial_invoice_is_ready_at_once(orders):
    order_id = (await orders.create_order(express_parcel()))["id"]
    response = await orders.client.get(f"/v1/orders/{order_id}/commercial-invoice", headers=orders.merchant)
    [page] = assert_pdf(response, f"{order_id}-commercial-invoice.pdf")
    for expected in ("COMMERCIAL INVOICE", "EXP-2026-0001", "Jonas Weber", "8517130000", "199.99", "DAP",
                     "265.99 EUR"):
        assert expected in page.text, expected


# ── what is ready ─────────────────────────────────────────────────────────────


async def test_the_documents_list_says_what_is_ready_and_why_not(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    response = await orders.client.get(f"/v1/orders/{order_id}/documents", headers=orders.merchant)
    assert response.status_code == 200
    listed = {d["document"]: (d["available"], d["code"]) for d in response.json()["documents"]}
    assert listed == {"label": (False, "tracking_number_pending"), "customs_form": (False, "customs_form_pending"),
                      "commercial_invoice": (True, None)}
    await publish(orders.runtime, events.waybill_issued(order_id))
    await filed(orders, order_id, "CN23")
    body = (await orders.client.get(f"/v1/orders/{order_id}/documents", headers=orders.merchant)).json()
    assert all(d["available"] for d in body["documents"])
    assert (body["customs_form"], body["tracking_number"]) == ("CN23", TRACKING_NUMBER)
    for document in body["documents"]:
        assert (await orders.client.get(document["url"], headers=orders.merchant)).status_code == 200


# ── batches ───────────────────────────────────────────────────────────────────


async def test_a_batch_of_labels_is_one_pdf_a_page_per_order_in_the_order_given(orders):
    first = await order_with_tracking_number(orders, mail_parcel(merchant_order_no="B-1"), "RR287043775IN")
    second = await order_with_tracking_number(orders, mail_parcel(merchant_order_no="B-2"), "CP123456785CN")
    response = await orders.client.post("/v1/documents/labels", json={"order_ids": [second, first]},
                                        headers=orders.merchant)
    found = [page.barcodes() for page in assert_pdf(response, "labels.pdf")]
    assert found == [[("Code128", "CP123456785CN")], [("Code128", "RR287043775IN")]]


async def test_a_pdf_batch_with_unknown_and_pending_orders_prints_nothing_and_names_each(orders):
    good = await order_with_tracking_number(orders, mail_parcel(merchant_order_no="B-1"))
    pending = (await orders.create_order(mail_parcel(merchant_order_no="B-2")))["id"]
    theirs = (await orders.client.post("/v1/orders", json=mail_parcel(merchant_order_no="THEIRS"),
                                       headers={**orders.other_merchant, "Idempotency-Key": "theirs"})).json()["id"]
    ids = [good, "ord_unknown", pending, theirs]
    response = await orders.client.post("/v1/documents/labels", json={"order_ids": ids}, headers=orders.merchant)
    body = assert_problem(response, 422, "documents_unavailable")
    assert [(e["field"], e["code"], e["status"], e["order_id"]) for e in body["errors"]] == [
        ("order_ids[1]", "order_not_found", 404, "ord_unknown"),
        ("order_ids[2]", "tracking_number_pending", 409, pending),
        ("order_ids[3]", "order_not_found", 404, theirs),
    ]
    assert body["field"] == "order_ids[1]"
    assert "retry-after" not in response.headers  # unknown orders will not appear by waiting

    response = await orders.client.post("/v1/documents/labels", json={"order_ids": [good, pending]},
                                        headers=orders.merchant)
    assert_problem(response, 422, "documents_unavailable")
    assert response.headers["retry-after"] == "5"  # only a number on its way: worth retrying


async def test_a_zip_batch_has_the_printable_ones_and_every_orders_outcome(orders):
    good = await order_with_tracking_number(orders, mail_parcel(merchant_order_no="B-1"), "RR287043775IN")
    pending = (await orders.create_order(mail_parcel(merchant_order_no="B-2")))["id"]
    also_good = await order_with_tracking_number(orders, mail_parcel(merchant_order_no="B-3"), "CP123456785CN")
    ids = [good, "ord_unknown", pending, also_good]
    response = await orders.client.post("/v1/documents/labels", json={"order_ids": ids, "format": "zip"},
                                        headers=orders.merchant)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == 'attachment; filename="labels.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["labels.pdf", "results.json"]
    results = json.loads(archive.read("results.json"))
    assert results["document"] == "label"
    assert [(r["index"], r["order_id"], r["status"], r["pages"], (r["problem"] or {}).get("code"))
            for r in results["results"]] == [
        (0, good, 200, [1], None),
        (1, "ord_unknown", 404, [], "order_not_found"),
        (2, pending, 409, [], "tracking_number_pending"),
        (3, also_good, 200, [2], None),
    ]
    found = [page.barcodes() for page in pages(archive.read("labels.pdf"))]
    assert found == [[("Code128", "RR287043775IN")], [("Code128", "CP123456785CN")]]


async def test_batches_of_customs_forms_and_invoices(orders):
    mail = await order_with_tracking_number(orders, mail_parcel(merchant_order_no="B-1"))
    await filed(orders, mail, "CN23")
    express = (await orders.create_order(express_parcel()))["id"]
    response = await orders.client.post("/v1/documents/customs-forms", json={"order_ids": [mail, express]},
                                        headers=orders.merchant)
    body = assert_problem(response, 422, "documents_unavailable")
    assert [(e["order_id"], e["code"]) for e in body["errors"]] == [(express, "document_not_applicable")]
    response = await orders.client.post("/v1/documents/commercial-invoices", json={"order_ids": [mail, express]},
                                        headers=orders.merchant)
    invoices = assert_pdf(response, "commercial-invoices.pdf")
    assert ["B-1" in invoices[0].text, "EXP-2026-0001" in invoices[1].text] == [True, True]


async def test_bad_batch_requests_are_refused_with_the_field_at_fault(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    cases = [
        ({"order_ids": [order_id, order_id]}, "duplicate_order_id", "order_ids[1]"),
        ({"order_ids": []}, "too_few_items", "order_ids"),
        ({"order_ids": [f"ord_{n}" for n in range(101)]}, "too_many_items", "order_ids"),
        ({"order_ids": [order_id], "format": "tiff"}, "value_not_allowed", "format"),
        ({"order_ids": ["x" * 65]}, "too_long", "order_ids[0]"),
    ]
    for body, code, field in cases:
        response = await orders.client.post("/v1/documents/labels", json=body, headers=orders.merchant)
        assert assert_problem(response, 422, code)["field"] == field, body
    response = await orders.client.post("/v1/documents/stickers", json={"order_ids": [order_id]},
                                        headers=orders.merchant)
    assert_problem(response, 422, "value_not_allowed")


# ── the tax on the order ──────────────────────────────────────────────────────


async def test_the_order_shows_the_tax_assessed_and_the_tax_bill(orders):
    order_id = (await orders.create_order(ecommerce_parcel()))["id"]
    order = await orders.get_order(order_id)
    assert (order["customs_form"], order["assessed_tax"]) == (None, None)

    bill = TaxBill(tax_no="TX2026030100001", invt_no="I-2026-0001", taxable_value_cny=Decimal("195.70"),
                   vat_cny=Decimal("17.81"), total_cny=Decimal("17.81"), issued_at=events.at(4),
                   lines=[TaxBillLine(line_no=1, hs_code="0409000000", taxable_value_cny=Decimal("144.70"),
                                      vat_cny=Decimal("13.17")),
                          TaxBillLine(line_no=2, hs_code="1905310000", taxable_value_cny=Decimal("51.00"),
                                      vat_cny=Decimal("4.64"))])
    await publish(orders.runtime, DeclarationReleased(
        **declaration(order_id, 4, "ecommerce"), status="released", ceb_code=800, form="inventory_list",
        value_cny=Decimal("183.70"), tax_cny=Decimal("17.81"), tax_bill=bill))
    order = await order_when(orders, order_id, lambda o: o["status"] == "released")
    assert order["customs_form"] == "inventory_list"
    tax = order["assessed_tax"]
    assert (tax["form"], tax["value_cny"], tax["tax_cny"]) == ("inventory_list", "183.70", "17.81")
    assert {k: tax["tax_bill"][k] for k in ("tax_no", "taxable_value_cny", "customs_duty_cny", "vat_cny",
                                            "consumption_tax_cny", "total_cny")} == {
        "tax_no": "TX2026030100001", "taxable_value_cny": "195.70", "customs_duty_cny": "0",
        "vat_cny": "17.81", "consumption_tax_cny": "0", "total_cny": "17.81"}
    assert [line["vat_cny"] for line in tax["tax_bill"]["lines"]] == ["13.17", "4.64"]


async def test_a_release_without_a_bill_shows_the_tax_alone(orders):
    order_id = (await orders.create_order(mail_parcel()))["id"]
    await publish(orders.runtime, events.released(order_id))
    order = await order_when(orders, order_id, lambda o: o["status"] == "released")
    tax = order["assessed_tax"]
    assert (tax["form"], tax["value_cny"], tax["tax_cny"], tax["tax_bill"]) == ("CN23", "128.05", "0", None)


# ── configuration ─────────────────────────────────────────────────────────────


async def test_a_font_file_that_is_not_there_stops_the_settings(tmp_path):
    import pytest
    from pydantic import ValidationError

    from services.orders.settings import OrdersSettings

    with pytest.raises(ValidationError, match="document_cjk_font"):
        OrdersSettings(document_cjk_font=str(tmp_path / "missing.ttf"))
    assert OrdersSettings(document_cjk_font="STSong-Light").document_cjk_font == "STSong-Light"


async def test_an_unusable_font_file_is_a_503_with_a_stable_code_not_a_500(start_orders, tmp_path):
    bogus = tmp_path / "bogus.ttf"
    bogus.write_bytes(b"not a font")
    orders = await start_orders(document_cjk_font=str(bogus))
    order_id = (await orders.create_order(express_parcel()))["id"]
    response = await orders.client.get(f"/v1/orders/{order_id}/commercial-invoice", headers=orders.merchant)
    assert_problem(response, 503, "document_font_unavailable")
