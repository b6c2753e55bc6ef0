"""The three parties of an e-commerce parcel as real processes, over HTTP only: the merchant's order, the payment
provider's payment, and the waybill of the external logistics company the order names — whose number postal adopts
and carries to delivery. And the attacks of issue 13 through the running system: keys acting across merchants."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.e2e.journey import order
from tests.e2e.test_journeys import timeline_types

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]


def client(stack, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.url("orders"), headers={"Authorization": f"Bearer {stack.keys[key]}"},
                             timeout=30)


async def test_a_parcel_an_external_company_carries_travels_under_its_number_and_can_be_returned(actors, stack):
    body = {**order("ecommerce", buyer=201), "logistics_company": "YTO"}
    placed = await actors.place(body)  # the merchant's order, then the provider's payment
    logistics_no = f"YT{placed['id'][-12:].upper()}"
    waybill = {"logistics_no": logistics_no, "consignee": body["consignee"], "freight": "0.00",
               "gross_weight_kg": "0.450"}
    response = await actors.logistics.post(f"/v1/orders/{placed['id']}/waybill", json=waybill)
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"id", "order_id", "logistics_code", "logistics_no", "status", "recorded_at"}

    delivered = await actors.wait_status(placed["id"], "delivered", timeout=90)
    assert delivered["tracking_number"] == logistics_no  # postal adopted the company's number
    steps = timeline_types(delivered)
    for step in ("payment.recorded", "waybill.recorded", "waybill.issued", "declaration.released",
                 "parcel.handed_off", "parcel.delivered"):
        assert step in steps, f"{step} missing from the timeline: {steps}"
    assert (await actors.parcel(logistics_no))["carrier"] == "YTO"

    response = await actors.merchant.post(f"/v1/orders/{placed['id']}/return", json={"reason": "wrong size"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "return_requested"


async def test_partner_keys_of_another_merchant_find_nothing_and_the_payment_answer_is_a_receipt(actors, stack):
    body = order("ecommerce", payment=False, buyer=202)
    placed = await actors.place(body)
    claim = {"payer_name": body["consignee"]["name"], "payer_id_type": "resident_id",
             "payer_id_number": body["consignee"]["id_number"], "transaction_id": "E2E-WX-1",
             "amount": body["amount_paid"], "currency": "CNY", "paid_at": datetime.now(UTC).isoformat()}
    async with client(stack, "payment2") as wechat, client(stack, "logistics2") as zto:
        # WECHATPAY and ZTO serve another merchant (M002) only.
        response = await wechat.post(f"/v1/orders/{placed['id']}/payment", json={**claim, "provider": "WeChat Pay"})
        assert (response.status_code, response.json()["code"]) == (404, "order_not_found")
        response = await zto.post(f"/v1/orders/{placed['id']}/waybill",
                                  json={"logistics_no": "ZT0000000001", "consignee": body["consignee"]})
        assert (response.status_code, response.json()["code"]) == (404, "order_not_found")
    receipt = await actors.pay(placed["id"], {**claim, "provider": "Alipay", "amount": "379.01"})  # ±1 CNY: customs'
    assert set(receipt) == {"id", "order_id", "provider", "transaction_id", "amount", "currency", "status",
                            "recorded_at"}
    assert body["consignee"]["id_number"] not in str(receipt)
    async with client(stack, "payment2") as wechat:  # the retry path checks the binding too
        response = await wechat.post(f"/v1/orders/{placed['id']}/payment", json={**claim, "provider": "Alipay",
                                                                                 "amount": "379.01"})
        assert response.status_code == 404 and body["consignee"]["id_number"] not in response.text
