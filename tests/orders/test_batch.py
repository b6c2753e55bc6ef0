"""POST /v1/orders/batch: one pass, a result per order, bad orders do not sink good ones, idempotent."""

from __future__ import annotations

from shared.contract.events import OrderAccepted
from tests.orders.domain.factories import ecommerce_parcel, express_parcel, mail_parcel


async def post_batch(orders, documents, *, key="batch-1", headers=None):
    return await orders.client.post("/v1/orders/batch", json={"orders": documents},
                                    headers={**orders.merchant, "Idempotency-Key": key, **(headers or {})})


async def test_a_mixed_batch_creates_the_good_orders_and_explains_the_bad_ones(orders):
    await orders.create_order(mail_parcel(merchant_order_no="TAKEN-1"))
    bad_express = express_parcel(carrier=None)
    documents = [
        mail_parcel(),
        bad_express,
        ecommerce_parcel(),
        mail_parcel(),  # the same merchant order number as the first: a duplicate within the batch
        mail_parcel(merchant_order_no="TAKEN-1"),  # a duplicate of an order stored before
        "not an order",
        {**mail_parcel(merchant_order_no="MAIL-X"), "colour": "red"},
    ]
    response = await post_batch(orders, documents)

    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["index"] for r in body["results"]] == list(range(len(documents)))
    assert [r["status"] for r in body["results"]] == [201, 422, 201, 409, 409, 422, 422]
    assert (body["created"], body["failed"]) == (2, 5)
    codes = [r["problem"]["code"] if r["problem"] else None for r in body["results"]]
    assert codes == [None, "carrier_required", None, "duplicate_merchant_order_no", "duplicate_merchant_order_no",
                     "model_type", "field_unknown"]
    created = [r["order"] for r in body["results"] if r["status"] == 201]
    assert [o["merchant_order_no"] for o in created] == ["MAIL-2026-0001", "ECOM-2026-0001"]
    assert all(o["status"] == "accepted" and o["id"].startswith("ord_") for o in created)
    # One journey per parcel: each created order has its own correlation id and its own order.accepted.
    assert len({o["correlation_id"] for o in created}) == 2
    envelopes = await orders.outbox_envelopes(OrderAccepted.event_type())
    assert [e.subject for e in envelopes[1:]] == [o["id"] for o in created]
    counts = await orders.counts()
    assert (counts["orders"], counts["order_events"], counts["outbox"]) == (3, 3, 3)
    for order in created:
        assert (await orders.get_order(order["id"]))["timeline"][0]["title"].startswith("Order ")


async def test_a_bad_order_gets_the_same_problem_as_alone(orders):
    bad = express_parcel(carrier=None)
    bad["lines"][0]["hs_code"] = "85.17"
    alone = await orders.post_order(bad, key="alone")
    in_batch = await post_batch(orders, [bad])
    assert in_batch.json()["results"][0]["problem"] == alone.json()
    assert in_batch.json()["results"][0]["status"] == alone.status_code == 422


async def test_a_batch_is_idempotent(orders):
    documents = [mail_parcel(), express_parcel(carrier=None)]
    first = await post_batch(orders, documents)
    again = await post_batch(orders, documents)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert (await orders.counts())["orders"] == 1

    conflicting = await post_batch(orders, [mail_parcel(merchant_order_no="OTHER")])
    assert conflicting.status_code == 409 and conflicting.json()["code"] == "idempotency_key_reuse"
    assert (await orders.counts())["orders"] == 1


async def test_a_batch_of_a_thousand_orders_is_one_request(orders):
    documents = [mail_parcel(merchant_order_no=f"BULK-{i:04d}") for i in range(1000)]
    response = await post_batch(orders, documents)  # ~2.5 MB: over the single-order limit, within the batch's
    assert response.status_code == 200, response.text[:500]
    assert response.json()["created"] == 1000
    counts = await orders.counts()
    assert (counts["orders"], counts["order_events"], counts["outbox"]) == (1000, 1000, 1000)


async def test_a_batch_over_a_thousand_orders_or_empty_is_a_422(orders):
    response = await post_batch(orders, [mail_parcel()] * 1001)
    assert response.status_code == 422
    assert (response.json()["field"], response.json()["code"]) == ("orders", "too_many_items")
    response = await post_batch(orders, [], key="batch-2")
    assert (response.json()["field"], response.json()["code"]) == ("orders", "too_few_items")
    response = await orders.client.post("/v1/orders/batch", json={"orders": [mail_parcel()], "extra": 1},
                                        headers={**orders.merchant, "Idempotency-Key": "batch-3"})
    assert (response.json()["field"], response.json()["code"]) == ("extra", "field_unknown")
    assert (await orders.counts())["orders"] == 0


async def test_a_batch_needs_an_idempotency_key(orders):
    response = await orders.client.post("/v1/orders/batch", json={"orders": [mail_parcel()]}, headers=orders.merchant)
    assert response.status_code == 422 and response.json()["code"] == "idempotency_key_required"


async def test_a_batch_over_its_size_limit_is_refused_with_413(start_orders):
    orders = await start_orders(max_body_bytes=50_000, run_workers=False)
    response = await post_batch(orders, [mail_parcel(merchant_order_no=f"B-{i}") for i in range(60)])
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"
    assert (await orders.counts())["orders"] == 0
