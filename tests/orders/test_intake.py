"""POST /v1/orders: acceptance, every validation rule (422 naming the field, nothing stored), idempotency, 413."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from services.orders.domain.validation import VIOLATION_CODES
from shared.contract.events import OrderAccepted
from shared.contract.subjects import stream_name
from tests.orders.domain.factories import (
    ecommerce_export_parcel,
    ecommerce_parcel,
    express_parcel,
    mail_parcel,
    order_line,
    party,
)
from tests.support import eventually

ACCEPTED = OrderAccepted.event_type()
NOTHING_STORED = {"orders": 0, "order_events": 0, "outbox": 0, "idempotency_keys": 0}


@pytest.mark.parametrize("factory", [mail_parcel, express_parcel, ecommerce_parcel])
async def test_an_order_of_every_channel_is_accepted_and_announced(orders, factory):
    body = factory()
    response = await orders.post_order(body, headers={"X-Correlation-Id": "journey-42"})

    assert response.status_code == 201, response.text
    order = response.json()
    assert order["id"].startswith("ord_") and order["status"] == "accepted"
    assert response.headers["Location"] == f"/v1/orders/{order['id']}"
    assert order["channel"] == body["channel"] and order["merchant_code"] == "M-KASHGAR"
    assert order["correlation_id"] == "journey-42"
    assert order["parcel"]["merchant_order_no"] == body["merchant_order_no"]
    assert [entry["type"] for entry in order["timeline"]] == [ACCEPTED]
    [envelope] = await orders.outbox_envelopes(ACCEPTED)
    assert (envelope.subject, envelope.correlation_id) == (order["id"], "journey-42")
    event = envelope.event()
    assert event.order_id == order["id"] and event.parcel.merchant_order_no == body["merchant_order_no"]
    # The relay publishes it on the orders stream.
    js = orders.runtime.bus.js
    message = await eventually(lambda: _first_message(js))
    assert message.header["Nats-Msg-Id"] == envelope.id


async def _first_message(js):
    try:
        return await js.get_msg(stream_name("orders"), seq=1)
    except Exception:  # noqa: BLE001 - not published yet
        return None


async def test_the_stored_order_is_what_get_returns(orders):
    created = await orders.create_order(ecommerce_parcel())
    assert await orders.get_order(created["id"]) == created
    # The order's own payment is its claim: kept in the parcel, never the order's payment document.
    assert created["parcel"]["payment"]["transaction_id"] == ecommerce_parcel()["payment"]["transaction_id"]
    assert created["payment"] is None


async def test_an_unusable_correlation_id_is_replaced(orders):
    order = await orders.create_order(mail_parcel(), headers={"X-Correlation-Id": "x" * 65})
    assert len(order["correlation_id"]) == 32 and order["correlation_id"] != "x" * 65


# ── validation: every rule answers 422 with the field and code, and stores nothing ──


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting a dotted/indexed path ("lines[1].hs_code") in a body; value None deletes it."""

    def mutate(body: dict[str, Any]) -> None:
        parts = path.replace("]", "").replace("[", ".").split(".")
        target: Any = body
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last: Any = int(parts[-1]) if parts[-1].isdigit() else parts[-1]
        if value is None:
            del target[last]
        else:
            target[last] = value

    return mutate


def _lines(count: int) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        body["lines"] = [order_line(line_no=i + 1, total_price="91.00") for i in range(count)]
        body["goods_value"] = f"{91 * count}.00"
        body["amount_paid"] = f"{91 * count + 30}.00"

    return mutate


def _no_consignee_id(body: dict[str, Any]) -> None:
    del body["consignee"]["id_type"], body["consignee"]["id_number"]


RULES = [
    # (factory, mutation, field, code)
    (mail_parcel, _set("lines[0].hs_code", "6205.20"), "lines[0].hs_code", "hs_code_not_numeric"),
    (mail_parcel, _set("lines[0].hs_code", "62052"), "lines[0].hs_code", "hs_code_invalid_length"),
    (ecommerce_parcel, _set("lines[0].hs_code", "04090000"), "lines[0].hs_code", "hs_code_invalid_length"),
    (mail_parcel, _set("lines[0].hs_code", "770000"), "lines[0].hs_code", "hs_code_invalid_chapter"),
    (mail_parcel, _set("consignee.country", "XK"), "consignee.country", "country_unknown"),
    (mail_parcel, _set("lines[1].origin_country", "ZZ"), "lines[1].origin_country", "country_unknown"),
    (mail_parcel, _set("consignee.country", "kz"), "consignee.country", "format_invalid"),
    (mail_parcel, _set("lines[1].currency", "USD"), "lines[1].currency", "currency_mismatch"),
    (express_parcel, _set("currency", "XAU"), "currency", "currency_unknown"),
    (mail_parcel, _set("currency", "CNYX"), "currency", "too_long"),
    (mail_parcel, _set("lines[0].quantity", "0"), "lines[0].quantity", "must_be_positive"),
    (mail_parcel, _set("lines[0].unit_price", "-45.50"), "lines[0].unit_price", "must_be_positive"),
    (mail_parcel, _set("lines[0].net_weight_kg", "0"), "lines[0].net_weight_kg", "must_be_positive"),
    (mail_parcel, _set("gross_weight_kg", "0"), "gross_weight_kg", "must_be_positive"),
    (mail_parcel, _set("freight", "-1.00"), "freight", "must_not_be_negative"),
    (mail_parcel, _set("lines[0].unit_price", "45.505"), "lines[0].unit_price", "too_many_decimal_places"),
    (mail_parcel, _set("lines[0].total_price", "90.00"), "lines[0].total_price", "line_total_mismatch"),
    (mail_parcel, _set("goods_value", "128.00"), "goods_value", "goods_value_mismatch"),
    (mail_parcel, _set("amount_paid", "158.04"), "amount_paid", "amount_paid_mismatch"),
    (mail_parcel, _set("discount", "500.00"), "discount", "discount_exceeds_total"),
    (mail_parcel, _set("lines[1].line_no", 3), "lines[1].line_no", "line_no_sequence"),
    (ecommerce_parcel, _set("consignee.id_number", "110105194912310021"), "consignee.id_number", "id_number_invalid"),
    (ecommerce_parcel, _set("payment.payer_id_number", "110105194912310021"), "payment.payer_id_number",
     "id_number_invalid"),
    (mail_parcel, _set("sender.id_number", "91350100M000100Y44"), "sender.id_number", "id_number_invalid"),
    (ecommerce_parcel, _no_consignee_id, "consignee.id_type", "consignee_id_required"),
    (mail_parcel, _set("consignee", party(id_type="passport")), "consignee.id_number", "id_incomplete"),
    (ecommerce_parcel, _set("buyer", party(country="CN")), "buyer.id_type", "buyer_id_required"),
    (ecommerce_parcel, _set("consignee.id_type", "uscc"), "consignee.id_type", "buyer_id_type_not_allowed"),
    (ecommerce_parcel, _set("consignee.country", "KZ"), "consignee.country", "import_consignee_not_in_china"),
    (ecommerce_export_parcel, _set("sender.country", "KZ"), "sender.country", "export_sender_not_in_china"),
    (ecommerce_export_parcel, _set("consignee.country", "CN"), "consignee.country", "export_consignee_in_china"),
    # issue 13 finding 4: the export inventory list declares 10-digit HS codes too
    (ecommerce_export_parcel, _set("lines[0].hs_code", "620520"), "lines[0].hs_code", "hs_code_invalid_length"),
    (express_parcel, _set("logistics_company", "YTO"), "logistics_company", "logistics_company_not_allowed"),
    (ecommerce_parcel, _set("logistics_company", "yto"), "logistics_company", "format_invalid"),
    (ecommerce_parcel, lambda b: b.update(logistics_company="YTO", carrier="SGE"), "carrier", "carrier_conflict"),
    (ecommerce_parcel, _set("payment.paid_at", "0001-01-01T00:00:00+01:00"), "payment.paid_at",
     "time_out_of_range"),
    (ecommerce_parcel, _set("payment.paid_at", "2026-03-01T10:15:00"), "payment.paid_at", "timezone_required"),
    (ecommerce_parcel, _set("payment.currency", "USD"), "payment.currency", "currency_mismatch"),
    (ecommerce_parcel, _set("trade_mode", None), "trade_mode", "trade_mode_required"),
    (ecommerce_parcel, _set("trade_mode", "9710"), "trade_mode", "trade_mode_direction"),
    (ecommerce_parcel, _set("trade_mode", "9999"), "trade_mode", "value_not_allowed"),
    (mail_parcel, _set("trade_mode", "9610"), "trade_mode", "trade_mode_not_allowed"),
    (mail_parcel, _set("mail_product", None), "mail_product", "mail_product_required"),
    (express_parcel, _set("mail_product", "parcel"), "mail_product", "mail_product_not_allowed"),
    (express_parcel, _set("carrier", None), "carrier", "carrier_required"),
    # issue 16 finding 11: accepted, then dead-lettered by postal (no numbering) and stalled
    (express_parcel, _set("carrier", "NOPE"), "carrier", "carrier_unknown"),
    (mail_parcel, _set("gross_weight_kg", "1000.000"), "gross_weight_kg", "weight_too_large"),
    (mail_parcel, _set("channel", "pigeon"), "channel", "value_not_allowed"),
    (mail_parcel, _set("consignee.name", "x" * 129), "consignee.name", "too_long"),
    (mail_parcel, _set("consignee.address", ""), "consignee.address", "too_short"),
    (mail_parcel, _set("merchant_order_no", "MAIL 0001!"), "merchant_order_no", "format_invalid"),
    (mail_parcel, _lines(101), "lines", "too_many_items"),
    (mail_parcel, _set("lines", []), "lines", "too_few_items"),
    (mail_parcel, _set("colour", "red"), "colour", "field_unknown"),
    (mail_parcel, _set("lines[0].colour", "red"), "lines[0].colour", "field_unknown"),
    (mail_parcel, _set("consignee", None), "consignee", "field_required"),
]


def _rule_id(rule: tuple) -> str:
    return f"{rule[0].__name__}-{rule[2]}-{rule[3]}"


def test_every_domain_violation_code_has_an_api_test():
    assert VIOLATION_CODES <= {rule[3] for rule in RULES}


@pytest.mark.parametrize(("factory", "mutate", "field", "code"), RULES, ids=[_rule_id(r) for r in RULES])
async def test_a_broken_rule_is_a_422_naming_the_field_and_nothing_is_stored(start_orders, factory, mutate, field,
                                                                            code):
    orders = await start_orders(run_workers=False)
    body = factory()
    mutate(body)
    response = await orders.post_order(body, key="rule")

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert {"field": field, "code": code} in [{"field": e["field"], "code": e["code"]} for e in problem["errors"]]
    assert (problem["field"], problem["code"]) == (problem["errors"][0]["field"], problem["errors"][0]["code"])
    assert await orders.counts() == NOTHING_STORED
    # Nothing was stored under the key either: the corrected order goes through with the same key.
    assert (await orders.post_order(factory(), key="rule")).status_code == 201


async def test_an_ecommerce_import_without_the_buyers_id_is_refused(orders):
    # Issue 13 finding 3: a buyer without an ID number was keyed by name + phone (a quota per phone number).
    body = ecommerce_parcel()
    _no_consignee_id(body)
    response = await orders.post_order(body)
    assert (response.status_code, response.json()["field"], response.json()["code"]) == (
        422, "consignee.id_type", "consignee_id_required")
    assert await orders.counts() == NOTHING_STORED


async def test_the_claim_may_differ_from_the_amount_paid(orders):
    # Issue 13 finding 6: 208.01 paid against 208.51 declared is customs' ±1 CNY match, not a 422 here.
    body = ecommerce_parcel()
    body["payment"]["amount"] = "208.01"
    assert (await orders.post_order(body)).status_code == 201


async def test_a_logistics_company_must_be_bound_to_the_merchant(orders):
    accepted = await orders.post_order(ecommerce_parcel(merchant_order_no="E-YTO", logistics_company="YTO"))
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["parcel"]["logistics_company"] == "YTO"
    for company in ("ZTO", "NOPE"):  # bound to another merchant; not registered
        response = await orders.post_order(ecommerce_parcel(merchant_order_no=f"E-{company}",
                                                            logistics_company=company))
        assert (response.status_code, response.json()["field"], response.json()["code"]) == (
            422, "logistics_company", "logistics_company_not_bound")
    response = await orders.post_order(ecommerce_parcel(merchant_order_no="E-ALIPAY", logistics_company="ALIPAY"))
    assert response.json()["code"] == "logistics_company_not_bound"  # a payment provider carries nothing
    response = await orders.client.post("/v1/orders/batch", json={"orders": [
        ecommerce_parcel(merchant_order_no="B-1", logistics_company="YTO"),
        ecommerce_parcel(merchant_order_no="B-2", logistics_company="ZTO"),
        ecommerce_parcel(merchant_order_no="B-3"),
    ]}, headers={**orders.merchant, "Idempotency-Key": "b"})
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 422, 201]
    assert results[1]["problem"]["field"] == "logistics_company"


async def test_every_violation_is_reported_at_once(orders):
    body = mail_parcel(amount_paid="1.00", carrier=None, trade_mode="9610")
    body["lines"][0]["hs_code"] = "12AB"
    response = await orders.post_order(body)
    fields = {(e["field"], e["code"]) for e in response.json()["errors"]}
    assert fields == {("amount_paid", "amount_paid_mismatch"), ("trade_mode", "trade_mode_not_allowed"),
                      ("lines[0].hs_code", "hs_code_not_numeric")}


async def test_a_body_that_is_not_json_is_a_422(orders):
    response = await orders.client.post("/v1/orders", content=b'{"merchant_order_no": ',
                                        headers={**orders.merchant, "Idempotency-Key": "k",
                                                 "Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["code"] == "json_invalid"
    assert await orders.counts() == NOTHING_STORED


async def test_a_body_over_the_size_limit_is_refused_with_413(orders):
    body = mail_parcel()
    body["lines"][0]["name"] = "x" * 1_100_000
    response = await orders.post_order(body)
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    assert await orders.counts() == NOTHING_STORED


# ── Idempotency-Key ───────────────────────────────────────────────────────────


async def test_the_idempotency_key_is_required(orders):
    response = await orders.client.post("/v1/orders", json=mail_parcel(), headers=orders.merchant)
    assert response.status_code == 422
    assert (response.json()["field"], response.json()["code"]) == ("Idempotency-Key", "idempotency_key_required")
    response = await orders.post_order(mail_parcel(), key="k" * 256)
    assert response.json()["code"] == "idempotency_key_invalid"
    assert await orders.counts() == NOTHING_STORED


async def test_same_key_and_same_body_replays_the_stored_response(orders):
    first = await orders.post_order(mail_parcel(), key="k1")
    # The same JSON with other key order and spacing is the same request.
    same_body = json.dumps(dict(reversed(list(mail_parcel().items()))), indent=2)
    again = await orders.client.post("/v1/orders", content=same_body,
                                     headers={**orders.merchant, "Idempotency-Key": "k1",
                                              "Content-Type": "application/json"})

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    counts = await orders.counts()
    assert (counts["orders"], counts["outbox"]) == (1, 1)


async def test_same_key_and_another_body_is_a_409(orders):
    await orders.create_order(mail_parcel(), key="k1")
    response = await orders.post_order(mail_parcel(merchant_order_no="MAIL-2026-0002"), key="k1")
    assert response.status_code == 409
    assert (response.json()["code"], response.json()["field"]) == ("idempotency_key_reuse", "Idempotency-Key")
    assert (await orders.counts())["orders"] == 1


async def test_keys_belong_to_the_api_key_that_used_them(orders):
    first = await orders.create_order(mail_parcel(), key="shared-key")
    other = await orders.client.post("/v1/orders", json=mail_parcel(),
                                     headers={**orders.other_merchant, "Idempotency-Key": "shared-key"})
    assert other.status_code == 201 and other.json()["id"] != first["id"]


async def test_concurrent_duplicates_make_one_order(orders):
    body = ecommerce_parcel()
    responses = await asyncio.gather(*(orders.post_order(body, key="burst") for _ in range(8)))

    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 7
    counts = await orders.counts()
    assert (counts["orders"], counts["outbox"], counts["idempotency_keys"]) == (1, 1, 1)


async def test_a_duplicate_merchant_order_number_is_a_409(orders):
    await orders.create_order(mail_parcel(), key="k1")
    response = await orders.post_order(mail_parcel(), key="k2")
    assert response.status_code == 409
    assert (response.json()["code"], response.json()["field"]) == ("duplicate_merchant_order_no", "merchant_order_no")
    # Unique per merchant: another merchant may use the same number.
    other = await orders.client.post("/v1/orders", json=mail_parcel(),
                                     headers={**orders.other_merchant, "Idempotency-Key": "k3"})
    assert other.status_code == 201
    assert (await orders.counts())["orders"] == 2


async def test_concurrent_orders_with_one_merchant_order_number_make_one_order(orders):
    body = mail_parcel()
    responses = await asyncio.gather(*(orders.post_order(body, key=f"k{i}") for i in range(6)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409, 409]
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"duplicate_merchant_order_no"}
    assert (await orders.counts())["orders"] == 1
