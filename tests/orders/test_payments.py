"""Payments from payment providers over HTTP (issue 13, findings 5 and 6): only a provider bound to the order's
merchant records a payment, every other key gets the 404 of a missing order (retries included), the answer is a
receipt without personal data, paid_at lies in a sane window, and the amount is customs' to match, not ours."""

from __future__ import annotations

import asyncio

import pytest

from shared.contract.events import PaymentRecorded
from tests.orders.domain.factories import RESIDENT_ID, ecommerce_parcel, express_parcel

PAYMENT = {
    "payer_name": "Wang Fang",
    "payer_id_type": "resident_id",
    "payer_id_number": RESIDENT_ID,
    "provider": "Alipay",
    "transaction_id": "2026030122001400009999",
    "amount": "208.51",
    "currency": "CNY",
    "paid_at": "2025-03-01T10:15:00+08:00",
}
RECEIPT_FIELDS = {"id", "order_id", "provider", "transaction_id", "amount", "currency", "status", "recorded_at"}
# What a payment answer must never carry: the order's and the payer's personal data.
PERSONAL = (RESIDENT_ID, "Wang Fang", "13812345678", "Jianwai SOHO", "parcel", "consignee")


def unpaid_ecommerce(**overrides):
    return ecommerce_parcel(payment=None, **overrides)


def assert_no_personal_data(text: str) -> None:
    for secret in PERSONAL:
        assert secret not in text, secret


async def pay(orders, order_id: str, body: dict | None = None, *, key: dict | None = None):
    return await orders.client.post(f"/v1/orders/{order_id}/payment", json=body or PAYMENT,
                                    headers=key or orders.payment)


async def test_a_bound_provider_records_the_payment_and_gets_a_receipt(orders):
    created = await orders.create_order(unpaid_ecommerce(), headers={"X-Correlation-Id": "journey-9"})
    assert created["payment"] is None
    response = await pay(orders, created["id"])

    assert response.status_code == 201, response.text
    receipt = response.json()
    assert set(receipt) == RECEIPT_FIELDS
    assert receipt["id"].startswith("pay_")
    assert (receipt["order_id"], receipt["provider"], receipt["transaction_id"], receipt["amount"],
            receipt["currency"], receipt["status"]) == (created["id"], "ALIPAY", PAYMENT["transaction_id"], "208.51",
                                                        "CNY", "recorded")
    assert_no_personal_data(response.text)
    [envelope] = await orders.outbox_envelopes(PaymentRecorded.event_type())
    assert (envelope.subject, envelope.correlation_id) == (created["id"], "journey-9")
    event = envelope.event()
    assert (event.provider_code, event.payment.transaction_id, event.merchant_code) == (
        "ALIPAY", PAYMENT["transaction_id"], "M-KASHGAR")
    order = await orders.get_order(created["id"])
    assert order["payment"]["transaction_id"] == PAYMENT["transaction_id"]  # the merchant sees its order's payment
    assert order["timeline"][-1]["title"] == "Payment of 208.51 CNY recorded via Alipay"


async def test_a_retry_answers_200_with_the_same_receipt_and_another_payment_is_a_conflict(orders):
    created = await orders.create_order(unpaid_ecommerce())
    first = await pay(orders, created["id"])
    again = await pay(orders, created["id"])
    assert (again.status_code, again.json()) == (200, first.json())
    assert_no_personal_data(again.text)
    other = await pay(orders, created["id"], {**PAYMENT, "transaction_id": "another"})
    assert (other.status_code, other.json()["code"]) == (409, "payment_already_recorded")
    changed = await pay(orders, created["id"], {**PAYMENT, "amount": "208.50"})  # same id, another document
    assert (changed.status_code, changed.json()["code"]) == (409, "payment_already_recorded")
    assert len(await orders.outbox_envelopes(PaymentRecorded.event_type())) == 1


async def test_the_orders_own_payment_is_a_claim_the_providers_payment_is_the_document(orders):
    # Issue 13 finding 2: the merchant's order carried the "payment document" itself.
    created = await orders.create_order(ecommerce_parcel())
    assert created["payment"] is None and created["parcel"]["payment"]["transaction_id"]  # the claim, kept
    assert await orders.outbox_envelopes(PaymentRecorded.event_type()) == []
    response = await pay(orders, created["id"])
    assert response.status_code == 201, response.text
    order = await orders.get_order(created["id"])
    assert order["payment"]["transaction_id"] == PAYMENT["transaction_id"]
    assert order["parcel"]["payment"]["transaction_id"] == ecommerce_parcel()["payment"]["transaction_id"]


# ── attacks: keys acting across merchants (issue 13, finding 5) ───────────────


async def test_a_provider_not_bound_to_the_merchant_gets_the_404_of_a_missing_order(orders):
    created = await orders.create_order(unpaid_ecommerce())
    foreign = await pay(orders, created["id"], {**PAYMENT, "provider": "WeChat Pay"}, key=orders.other_payment)
    missing = await pay(orders, "ord_000000000000000000000000", {**PAYMENT, "provider": "WeChat Pay"},
                        key=orders.other_payment)
    assert foreign.status_code == missing.status_code == 404
    assert ({k: v for k, v in foreign.json().items() if k not in ("detail", "instance")}
            == {k: v for k, v in missing.json().items() if k not in ("detail", "instance")})
    assert foreign.json()["code"] == "order_not_found"
    assert_no_personal_data(foreign.text)
    assert await orders.outbox_envelopes(PaymentRecorded.event_type()) == []
    assert (await orders.get_order(created["id"]))["payment"] is None


async def test_the_retry_path_checks_the_binding_too(orders):
    # Issue 13 finding 5: a retried payment (same provider, same transaction) skipped the ownership check and
    # answered with the whole order, the payer's ID number included.
    created = await orders.create_order(unpaid_ecommerce())
    assert (await pay(orders, created["id"])).status_code == 201
    for key, body in ((orders.other_payment, PAYMENT), (orders.other_payment, {**PAYMENT, "provider": "WeChat Pay"})):
        retried = await pay(orders, created["id"], body, key=key)
        assert (retried.status_code, retried.json()["code"]) == (404, "order_not_found")
        assert_no_personal_data(retried.text)


async def test_a_logistics_or_merchant_key_cannot_record_payments(orders):
    created = await orders.create_order(unpaid_ecommerce())
    for key in (orders.logistics, orders.merchant, orders.ops):
        response = await pay(orders, created["id"], key=key)
        assert (response.status_code, response.json()["code"]) == (403, "role_not_allowed")


async def test_unbinding_or_deactivating_a_provider_stops_its_keys_at_once(orders):
    first = await orders.create_order(unpaid_ecommerce(merchant_order_no="E-1"))
    second = await orders.create_order(unpaid_ecommerce(merchant_order_no="E-2"))
    response = await orders.client.patch("/v1/partners/ALIPAY", json={"active": False}, headers=orders.ops)
    assert response.status_code == 200 and response.json()["active"] is False
    assert (await pay(orders, first["id"])).status_code == 404
    await orders.client.patch("/v1/partners/ALIPAY", json={"active": True}, headers=orders.ops)
    assert (await pay(orders, first["id"])).status_code == 201
    response = await orders.client.delete("/v1/partners/ALIPAY/merchants/M-KASHGAR", headers=orders.ops)
    assert response.status_code == 200
    assert (await pay(orders, second["id"])).status_code == 404
    assert (await pay(orders, first["id"])).status_code == 404  # its own earlier payment: not its business now


# ── the document itself ───────────────────────────────────────────────────────


@pytest.mark.parametrize("paid_at", ["0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00+01:00",
                                     "9999-12-31T23:59:59-01:00", "2999-01-01T00:00:00Z", "1999-12-31T23:59:59Z"])
async def test_a_paid_at_outside_the_sane_window_is_refused(orders, paid_at):
    # Issue 13 finding 5: a payment dated year 0001 was accepted and cleared.
    created = await orders.create_order(unpaid_ecommerce())
    response = await pay(orders, created["id"], {**PAYMENT, "paid_at": paid_at})
    assert response.status_code == 422, response.text
    assert (response.json()["field"], response.json()["code"]) == ("paid_at", "time_out_of_range")
    assert (await orders.get_order(created["id"]))["payment"] is None


async def test_the_window_is_configured(start_orders):
    orders = await start_orders(time_window_earliest="2026-06-01T00:00:00Z", time_window_ahead_s=60)
    created = await orders.create_order(unpaid_ecommerce())
    response = await pay(orders, created["id"])  # 2026-03-01: before the configured start
    assert (response.status_code, response.json()["code"]) == (422, "time_out_of_range")


@pytest.mark.parametrize("amount", ["208.01", "209.51", "207.51"])
async def test_an_amount_off_by_less_than_the_tolerance_is_accepted(orders, amount):
    # Issue 13 finding 6: the one-cent check made customs' ±1 CNY tolerance unreachable; customs matches now.
    created = await orders.create_order(unpaid_ecommerce())
    response = await pay(orders, created["id"], {**PAYMENT, "amount": amount})
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == amount


async def test_a_payment_in_another_currency_is_recorded_for_customs_to_convert(orders):
    created = await orders.create_order(unpaid_ecommerce())
    response = await pay(orders, created["id"], {**PAYMENT, "amount": "29.00", "currency": "USD"})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(("change", "field", "code"), [
    ({"currency": "XAU"}, "currency", "currency_unknown"),
    ({"payer_id_number": "110105194912310021"}, "payer_id_number", "id_number_invalid"),
    ({"payer_id_type": None}, "payer_id_type", "id_incomplete"),
    ({"provider": "WeChat Pay"}, "provider", "provider_mismatch"),
    ({"paid_at": "2026-03-01T10:15:00"}, "paid_at", "timezone_required"),
    ({"amount": "-1"}, "amount", "must_not_be_negative"),
    ({"tip": "1.00"}, "tip", "field_unknown"),
])
async def test_a_malformed_payment_is_a_422_and_nothing_is_stored(orders, change, field, code):
    created = await orders.create_order(unpaid_ecommerce())
    payment = {k: v for k, v in {**PAYMENT, **change}.items() if v is not None}
    response = await pay(orders, created["id"], payment)
    assert response.status_code == 422, response.text
    assert {"field": field, "code": code} in [{"field": e["field"], "code": e["code"]}
                                              for e in response.json()["errors"]]
    assert_no_personal_data(response.text)
    assert (await orders.get_order(created["id"]))["payment"] is None
    assert await orders.outbox_envelopes(PaymentRecorded.event_type()) == []


async def test_the_provider_may_name_itself_by_code_or_name(orders):
    created = await orders.create_order(unpaid_ecommerce())
    assert (await pay(orders, created["id"], {**PAYMENT, "provider": "alipay"})).status_code == 201


async def test_a_cancelled_order_takes_no_payment_and_unknown_orders_are_404(orders):
    created = await orders.create_order(unpaid_ecommerce())
    response = await pay(orders, "ord_nope")
    assert (response.status_code, response.json()["code"]) == (404, "order_not_found")
    await orders.client.post(f"/v1/orders/{created['id']}/cancel", headers=orders.merchant)
    response = await pay(orders, created["id"])
    assert (response.status_code, response.json()["code"]) == (409, "order_not_payable")


async def test_two_payments_at_once_record_one(orders):
    created = await orders.create_order(unpaid_ecommerce())
    answers = await asyncio.gather(*(pay(orders, created["id"], {**PAYMENT, "transaction_id": f"T-{n}"})
                                     for n in range(4)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    assert len(await orders.outbox_envelopes(PaymentRecorded.event_type())) == 1


# ── POST /v1/payments/batch ───────────────────────────────────────────────────


async def test_a_batch_records_each_payment_as_it_would_alone(orders):
    paid = await orders.create_order(unpaid_ecommerce(merchant_order_no="E-1"))
    fresh = await orders.create_order(unpaid_ecommerce(merchant_order_no="E-2"))
    tolerant = await orders.create_order(unpaid_ecommerce(merchant_order_no="E-3"))
    twice = await orders.create_order(unpaid_ecommerce(merchant_order_no="E-4"))
    foreign = await orders.client.post("/v1/orders", json=unpaid_ecommerce(merchant_order_no="F-1"),
                                       headers={**orders.other_merchant, "Idempotency-Key": "f1"})
    assert (await pay(orders, paid["id"])).status_code == 201
    items = [
        {"order_id": fresh["id"], "payment": {**PAYMENT, "transaction_id": "B-1"}},
        {"order_id": paid["id"], "payment": PAYMENT},  # recorded before: 200
        {"order_id": foreign.json()["id"], "payment": PAYMENT},  # another merchant's: 404
        {"order_id": tolerant["id"], "payment": {**PAYMENT, "transaction_id": "B-3", "amount": "208.01"}},
        {"order_id": fresh["id"], "payment": {**PAYMENT, "paid_at": "0001-01-01T00:00:00+01:00"}},  # 422
        {"order_id": twice["id"], "payment": {**PAYMENT, "transaction_id": "B-4"}},
        {"order_id": twice["id"], "payment": {**PAYMENT, "transaction_id": "B-5"}},  # the same order again: 409
        {"payment": PAYMENT},  # no order id: 422
        "not an object",
    ]
    response = await orders.client.post("/v1/payments/batch", json={"payments": items}, headers=orders.payment)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["status"] for r in body["results"]] == [201, 200, 404, 201, 422, 201, 409, 422, 422]
    assert (body["recorded"], body["replayed"], body["failed"]) == (3, 1, 5)
    assert body["results"][4]["problem"]["field"] == "payment.paid_at"
    assert body["results"][7]["problem"]["field"] == "order_id"
    assert [r["index"] for r in body["results"]] == list(range(len(items)))
    assert all(set(r["payment"]) == RECEIPT_FIELDS for r in body["results"] if r["status"] < 300)
    assert_no_personal_data(response.text)
    events = await orders.outbox_envelopes(PaymentRecorded.event_type())
    assert sorted(e.subject for e in events) == sorted([paid["id"], fresh["id"], tolerant["id"], twice["id"]])

    # The same batch again: everything recorded answers 200 with its receipt, nothing is published twice.
    again = (await orders.client.post("/v1/payments/batch", json={"payments": items}, headers=orders.payment)).json()
    assert [r["status"] for r in again["results"]] == [200, 200, 404, 200, 422, 200, 409, 422, 422]
    assert [r["payment"] for r in again["results"]][:4] == [r["payment"] for r in body["results"]][:4]
    assert len(await orders.outbox_envelopes(PaymentRecorded.event_type())) == 4


async def test_a_batch_from_an_unbound_provider_finds_no_order(orders):
    created = await orders.create_order(unpaid_ecommerce())
    items = [{"order_id": created["id"], "payment": {**PAYMENT, "provider": "WeChat Pay"}}]
    response = await orders.client.post("/v1/payments/batch", json={"payments": items}, headers=orders.other_payment)
    assert [r["status"] for r in response.json()["results"]] == [404]
    assert await orders.outbox_envelopes(PaymentRecorded.event_type()) == []


async def test_a_batch_is_bounded_and_needs_a_payment_key(orders):
    too_many = {"payments": [{"order_id": "x", "payment": PAYMENT}] * 1001}
    response = await orders.client.post("/v1/payments/batch", json=too_many, headers=orders.payment)
    assert (response.status_code, response.json()["field"], response.json()["code"]) == (
        422, "payments", "too_many_items")
    response = await orders.client.post("/v1/payments/batch", json={"payments": []}, headers=orders.merchant)
    assert response.status_code == 403


async def test_express_orders_take_payments_too_but_only_from_a_bound_provider(orders):
    created = await orders.create_order(express_parcel())
    response = await pay(orders, created["id"], {**PAYMENT, "amount": "260.99", "currency": "EUR"})
    assert response.status_code == 201, response.text
