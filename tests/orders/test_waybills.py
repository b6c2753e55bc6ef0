"""Waybills from external logistics companies over HTTP (CEB511): only the company the order names, bound to the
order's merchant, records one; everyone else gets the 404 of a missing order; the answer is a receipt."""

from __future__ import annotations

from shared.contract.events import WaybillRecorded
from tests.orders.domain.factories import RESIDENT_ID, ecommerce_parcel

CONSIGNEE = {"name": "Wang Fang", "phone": "13812345678", "country": "CN", "city": "Beijing",
             "address": "Room 1203, Building 5, Jianwai SOHO, Chaoyang District", "id_type": "resident_id",
             "id_number": RESIDENT_ID}
WAYBILL = {"logistics_no": "YT7890123456789", "consignee": CONSIGNEE, "freight": "12.00", "insured_fee": "0.50",
           "gross_weight_kg": "2.100"}
RECEIPT_FIELDS = {"id", "order_id", "logistics_code", "logistics_no", "status", "recorded_at"}


def carried_by(company: str | None = "YTO", **overrides):
    return ecommerce_parcel(logistics_company=company, **overrides)


async def post_waybill(orders, order_id: str, body: dict | None = None, *, key: dict | None = None):
    return await orders.client.post(f"/v1/orders/{order_id}/waybill", json=body or WAYBILL,
                                    headers=key or orders.logistics)


async def test_the_company_the_order_names_records_its_waybill_and_gets_a_receipt(orders):
    created = await orders.create_order(carried_by(), headers={"X-Correlation-Id": "journey-5"})
    response = await post_waybill(orders, created["id"])
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert set(receipt) == RECEIPT_FIELDS
    assert (receipt["order_id"], receipt["logistics_code"], receipt["logistics_no"], receipt["status"]) == (
        created["id"], "YTO", "YT7890123456789", "recorded")
    assert RESIDENT_ID not in response.text and "Wang Fang" not in response.text
    [envelope] = await orders.outbox_envelopes(WaybillRecorded.event_type())
    assert (envelope.subject, envelope.correlation_id) == (created["id"], "journey-5")
    event = envelope.event()
    assert (event.logistics_code, event.logistics_name, event.logistics_no, event.merchant_order_no) == (
        "YTO", "YTO Express", "YT7890123456789", created["merchant_order_no"])
    assert (str(event.freight), str(event.insured_fee), str(event.gross_weight_kg)) == ("12.00", "0.50", "2.100")
    assert event.consignee.name == "Wang Fang"
    order = await orders.get_order(created["id"])
    assert order["timeline"][-1]["title"] == "Waybill YT7890123456789 recorded by YTO Express"
    assert order["status"] == "accepted"  # the tracking number comes with postal's waybill.issued

    again = await post_waybill(orders, created["id"])
    assert (again.status_code, again.json()) == (200, receipt)
    other = await post_waybill(orders, created["id"], {**WAYBILL, "logistics_no": "YT0000000000001"})
    assert (other.status_code, other.json()["code"]) == (409, "waybill_already_recorded")
    assert len(await orders.outbox_envelopes(WaybillRecorded.event_type())) == 1


async def test_a_logistics_company_acting_for_a_merchant_not_bound_to_it_gets_404(orders):
    # ZTO is bound to M-ALMATY only: M-KASHGAR's order is as unknown to it as a missing one.
    created = await orders.create_order(carried_by())
    foreign = await post_waybill(orders, created["id"], key=orders.other_logistics)
    missing = await post_waybill(orders, "ord_000000000000000000000000", key=orders.other_logistics)
    assert (foreign.status_code, foreign.json()["code"]) == (missing.status_code, missing.json()["code"]) == (
        404, "order_not_found")
    assert RESIDENT_ID not in foreign.text
    assert await orders.outbox_envelopes(WaybillRecorded.event_type()) == []


async def test_a_bound_company_cannot_post_the_waybill_of_a_parcel_it_does_not_carry(orders):
    postal = await orders.create_order(carried_by(None, merchant_order_no="E-POSTAL"))  # silkgate postal carries it
    response = await post_waybill(orders, postal["id"])
    assert (response.status_code, response.json()["code"]) == (404, "order_not_found")


async def test_only_logistics_keys_post_waybills(orders):
    created = await orders.create_order(carried_by())
    for key in (orders.payment, orders.merchant, orders.ops):
        response = await post_waybill(orders, created["id"], key=key)
        assert (response.status_code, response.json()["code"]) == (403, "role_not_allowed")


async def test_a_logistics_number_is_one_parcels_only(orders):
    first = await orders.create_order(carried_by(merchant_order_no="E-1"))
    second = await orders.create_order(carried_by(merchant_order_no="E-2"))
    assert (await post_waybill(orders, first["id"])).status_code == 201
    response = await post_waybill(orders, second["id"])
    assert (response.status_code, response.json()["field"], response.json()["code"]) == (
        409, "logistics_no", "logistics_no_taken")


async def test_a_malformed_waybill_is_a_422(orders):
    created = await orders.create_order(carried_by())
    cases = [
        ({**WAYBILL, "logistics_no": "yt 123"}, "logistics_no", "format_invalid"),
        ({**WAYBILL, "consignee": {**CONSIGNEE, "id_number": "110105194912310021"}}, "consignee.id_number",
         "id_number_invalid"),
        ({**WAYBILL, "consignee": {**CONSIGNEE, "country": "XK"}}, "consignee.country", "country_unknown"),
        ({**WAYBILL, "freight": "-1"}, "freight", "must_not_be_negative"),
        ({**WAYBILL, "pack_no": 1}, "pack_no", "field_unknown"),
    ]
    for body, field, code in cases:
        response = await post_waybill(orders, created["id"], body)
        assert response.status_code == 422, response.text
        assert (response.json()["field"], response.json()["code"]) == (field, code)
    assert await orders.outbox_envelopes(WaybillRecorded.event_type()) == []


async def test_a_cancelled_order_takes_no_waybill(orders):
    created = await orders.create_order(carried_by())
    await orders.client.post(f"/v1/orders/{created['id']}/cancel", headers=orders.merchant)
    response = await post_waybill(orders, created["id"])
    assert (response.status_code, response.json()["code"]) == (409, "order_not_shippable")
