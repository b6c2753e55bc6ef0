"""Reading, listing and cancelling orders over HTTP; tenancy; the OpenAPI document. (Payments, waybills and
returns: test_payments.py, test_waybills.py, test_returns.py.)"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from shared.contract.events import OrderCancelled
from tests.orders.domain.factories import express_parcel, mail_parcel

# ── GET /v1/orders/{id} and tenancy ───────────────────────────────────────────


async def test_a_merchant_reads_its_order(orders):
    created = await orders.create_order(express_parcel())
    order = await orders.get_order(created["id"])
    assert order["status"] == "accepted" and order["channel"] == "express"
    assert order["tracking_number"] is None and order["customs_status"] is None and order["status_reason"] is None
    assert order["timeline"] == [{"type": "silkgate.orders.order.accepted.v1", "title": "Order EXP-2026-0001 accepted",
                                  "occurred_at": order["created_at"]}]


async def test_another_merchants_order_is_not_found(orders):
    created = await orders.create_order(mail_parcel())
    for path, method in ((f"/v1/orders/{created['id']}", "GET"), (f"/v1/orders/{created['id']}/cancel", "POST")):
        response = await orders.client.request(method, path, headers=orders.other_merchant)
        assert response.status_code == 404, path
        assert response.json()["code"] == "order_not_found"
    listed = await orders.client.get("/v1/orders", headers=orders.other_merchant)
    assert listed.json()["data"] == []
    assert (await orders.get_order(created["id"]))["status"] == "accepted"  # the cancel did nothing


async def test_ops_reads_every_order_and_unknown_ids_are_404(orders):
    created = await orders.create_order(mail_parcel())
    assert (await orders.get_order(created["id"], headers=orders.ops))["id"] == created["id"]
    response = await orders.client.get("/v1/orders/ord_000000000000000000000000", headers=orders.merchant)
    assert response.status_code == 404 and response.json()["code"] == "order_not_found"


async def test_keys_and_roles_are_checked(orders):
    assert (await orders.client.get("/v1/orders")).json()["code"] == "api_key_missing"
    response = await orders.client.get("/v1/orders", headers={"Authorization": "Bearer sg_merchant_nope"})
    assert (response.status_code, response.json()["code"]) == (401, "api_key_invalid")
    response = await orders.client.get("/v1/orders", headers=orders.payment)
    assert (response.status_code, response.json()["code"]) == (403, "role_not_allowed")
    response = await orders.client.post("/v1/orders", json=mail_parcel(), headers={**orders.ops, "Idempotency-Key": "k"})
    assert response.status_code == 403


# ── GET /v1/orders ────────────────────────────────────────────────────────────


async def _create_many(orders, count, **overrides):
    return [(await orders.create_order(mail_parcel(merchant_order_no=f"M-{i:02d}", **overrides)))["id"]
            for i in range(count)]


async def test_pages_walk_every_order_newest_first_once(orders):
    ids = await _create_many(orders, 5)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"starting_after": cursor} if cursor else {})}
        page = (await orders.client.get("/v1/orders", params=params, headers=orders.merchant)).json()
        pages += 1
        seen += [order["id"] for order in page["data"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
        assert cursor == page["data"][-1]["id"]
    assert pages == 3
    assert seen == list(reversed(ids))
    assert "parcel" not in page["data"][0] and "timeline" not in page["data"][0]


async def test_list_filters(orders):
    mail_ids = await _create_many(orders, 2)
    express = await orders.create_order(express_parcel())
    other = await orders.client.post("/v1/orders", json=express_parcel(),
                                     headers={**orders.other_merchant, "Idempotency-Key": "x"})
    await orders.client.post(f"/v1/orders/{mail_ids[0]}/cancel", headers=orders.merchant)

    async def ids(**params):
        response = await orders.client.get("/v1/orders", params=params, headers=orders.merchant)
        assert response.status_code == 200, response.text
        return [o["id"] for o in response.json()["data"]]

    assert await ids(channel="express") == [express["id"]]
    assert await ids(status="cancelled") == [mail_ids[0]]
    assert await ids(status="accepted", channel="mail") == [mail_ids[1]]
    assert await ids(merchant_order_no="M-01") == [mail_ids[1]]
    created = datetime.fromisoformat(express["created_at"])
    assert await ids(created_gte=express["created_at"]) == [express["id"]]
    assert await ids(created_lt=express["created_at"]) == list(reversed(mail_ids))
    assert await ids(created_gte=(created + timedelta(seconds=1)).isoformat()) == []
    # Ops sees every merchant, or one.
    everyone = (await orders.client.get("/v1/orders", headers=orders.ops)).json()["data"]
    assert other.json()["id"] in [o["id"] for o in everyone] and len(everyone) == 4
    one = (await orders.client.get("/v1/orders", params={"merchant": "M-ALMATY"}, headers=orders.ops)).json()["data"]
    assert [o["id"] for o in one] == [other.json()["id"]]
    # A merchant naming another merchant still sees only its own orders.
    assert len(await ids(merchant="M-ALMATY")) == 3


@pytest.mark.parametrize(("params", "field", "code"), [
    ({"limit": 101}, "limit", "too_large"),
    ({"limit": 0}, "limit", "too_small"),
    ({"status": "lost"}, "status", "value_not_allowed"),
    ({"channel": "pigeon"}, "channel", "value_not_allowed"),
    ({"created_gte": "2026-03-01T00:00:00"}, "created_gte", "timezone_required"),
    ({"created_lt": "yesterday"}, "created_lt", "datetime_from_date_parsing"),
    ({"starting_after": "ord_unknown"}, "starting_after", "cursor_invalid"),
    # Issue 16: valid RFC 3339, but before year 1 / after 9999 in UTC (was OverflowError, a 500).
    ({"created_gte": "0001-01-01T00:00:00+01:00"}, "created_gte", "date_out_of_range"),
    ({"created_lt": "9999-12-31T23:59:59-01:00"}, "created_lt", "date_out_of_range"),
    ({"created_lt": "0.5"}, "created_lt", "datetime_format"),  # not Unix seconds: the document says date-time
])
async def test_bad_list_parameters_are_422(orders, params, field, code):
    response = await orders.client.get("/v1/orders", params=params, headers=orders.merchant)
    assert response.status_code == 422
    assert (response.json()["field"], response.json()["code"]) == (field, code)


async def test_another_merchants_order_is_not_a_cursor(orders):
    other = await orders.client.post("/v1/orders", json=mail_parcel(),
                                     headers={**orders.other_merchant, "Idempotency-Key": "x"})
    response = await orders.client.get("/v1/orders", params={"starting_after": other.json()["id"]},
                                       headers=orders.merchant)
    assert response.status_code == 422 and response.json()["code"] == "cursor_invalid"


# ── POST /v1/orders/{id}/cancel ───────────────────────────────────────────────


async def test_cancelling_is_immediate_published_and_idempotent(orders):
    created = await orders.create_order(mail_parcel(), headers={"X-Correlation-Id": "journey-7"})
    response = await orders.client.post(f"/v1/orders/{created['id']}/cancel", json={"reason": "out of stock"},
                                        headers=orders.merchant)
    assert response.status_code == 200
    order = response.json()
    assert (order["status"], order["status_reason"]) == ("cancelled", "out of stock")
    assert order["timeline"][-1]["title"] == "Cancellation requested: out of stock"
    [envelope] = await orders.outbox_envelopes(OrderCancelled.event_type())
    assert (envelope.subject, envelope.correlation_id) == (created["id"], "journey-7")  # the parcel's journey

    again = await orders.client.post(f"/v1/orders/{created['id']}/cancel", headers=orders.merchant)
    assert again.status_code == 200 and again.json() == order
    assert len(await orders.outbox_envelopes(OrderCancelled.event_type())) == 1


async def test_cancel_without_a_body_and_by_ops(orders):
    created = await orders.create_order(mail_parcel())
    response = await orders.client.post(f"/v1/orders/{created['id']}/cancel", headers=orders.ops)
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["status_reason"]) == ("cancelled", None)
    assert response.json()["timeline"][-1]["title"] == "Cancellation requested"


async def test_a_cancel_reason_is_bounded(orders):
    created = await orders.create_order(mail_parcel())
    response = await orders.client.post(f"/v1/orders/{created['id']}/cancel", json={"reason": "x" * 513},
                                        headers=orders.merchant)
    assert (response.status_code, response.json()["field"], response.json()["code"]) == (422, "reason", "too_long")


# ── OpenAPI ───────────────────────────────────────────────────────────────────


async def test_every_endpoint_is_documented_with_examples(orders):
    assert (await orders.client.get("/docs")).status_code == 200
    spec = (await orders.client.get("/openapi.json")).json()
    operations = [(path, method, op) for path, item in spec["paths"].items() if path.startswith("/v1/")
                  for method, op in item.items()]
    # 27 merchant operations, + 5 ops dead-letter endpoints every service has, + the key rotation, + the parties'
    # (payment and waybill documents, the payments batch, returns, the partner registry and its bindings).
    assert len(operations) == 27 + 5 + 1 + 5
    paths = {path for path, _, _ in operations}
    assert {"/v1/payments/batch", "/v1/orders/{order_id}/waybill", "/v1/orders/{order_id}/return",
            "/v1/partners", "/v1/partners/{code}/merchants/{merchant_code}"} <= paths
    for path, method, operation in operations:
        for status, response in operation["responses"].items():
            if status == "204":
                continue  # no content, nothing to show
            assert response["content"], (method, path, status)
            for media in response["content"].values():  # (documents may answer a PDF or a zip)
                assert "example" in media, (method, path, status)
        if method in ("post",) and "requestBody" in operation:
            [media] = operation["requestBody"]["content"].values()
            assert media.get("examples"), (method, path)
