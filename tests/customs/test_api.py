"""The brokers' API: auth, the work queue and a declaration's detail (acting: test_broker_actions.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.customs.broker import FILE, file_held
from tests.customs.events import accepted, green_held, held, mail, new_order_id, paid, waybill_for

# ── auth ──────────────────────────────────────────────────────────────────


async def test_keys_and_roles(customs):
    declaration = await file_held(customs)
    client = customs.client
    assert (await client.get("/v1/declarations")).status_code == 401
    bogus = {"Authorization": "Bearer sg_broker_nope"}
    assert (await client.get("/v1/declarations", headers=bogus)).json()["code"] == "api_key_invalid"
    merchant = await customs.key("merchant", "M-KASHGAR")
    response = await client.get("/v1/declarations", headers=merchant)
    assert response.status_code == 403 and response.json()["code"] == "role_not_allowed"
    ops = await customs.key("ops", "ops")
    assert (await client.get("/v1/declarations", headers=ops)).status_code == 200
    assert (await client.get(f"/v1/declarations/{declaration.id}", headers=ops)).status_code == 200
    assert (await client.get(f"/v1/declarations/{declaration.id}/audit", headers=ops)).status_code == 200
    response = await client.post(f"/v1/declarations/{declaration.id}/claim", headers=ops)
    assert response.status_code == 403  # ops may read, only brokers decide
    response = await client.post(f"/v1/declarations/{declaration.id}/file", headers=ops, json=FILE)
    assert response.status_code == 403
    authority = await customs.key("authority", "customs-authority")
    assert (await client.get("/v1/declarations", headers=authority)).status_code == 403  # it posts receipts only


async def test_unknown_declaration_is_404_everywhere(customs):
    broker = await customs.key()
    client, missing = customs.client, "dcl_000000000000000000000000"
    responses = [
        await client.get(f"/v1/declarations/{missing}", headers=broker),
        await client.get(f"/v1/declarations/{missing}/audit", headers=broker),
        await client.post(f"/v1/declarations/{missing}/claim", headers=broker),
        await client.delete(f"/v1/declarations/{missing}/claim", headers=broker),
        await client.get(f"/v1/declarations/{missing}/messages", headers=broker),
        await client.post(f"/v1/declarations/{missing}/file", headers=broker, json=FILE),
        await client.post(f"/v1/declarations/{missing}/reject", headers=broker, json={"reason_code": "other"}),
        await client.post(f"/v1/declarations/{missing}/answer", headers=broker,
                          json={"reason_code": "explanation", "explanation": "x"}),
    ]
    for response in responses:
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "declaration_not_found"


# ── the work queue ────────────────────────────────────────────────────────


async def test_queue_puts_the_green_lane_first_then_the_oldest(customs):
    broker = await customs.key()
    standard_old = await file_held(customs)
    green_old = await customs.file(green_held(new_order_id()))
    standard_new = await file_held(customs, "express")
    green_new = await customs.file(green_held(new_order_id()))
    response = await customs.client.get("/v1/declarations?needs_broker=true", headers=broker)
    assert response.status_code == 200
    body = response.json()
    assert [d["id"] for d in body["data"]] == [green_old.id, green_new.id, standard_old.id, standard_new.id]
    assert [d["lane"] for d in body["data"]] == ["green", "green", "standard", "standard"]
    assert body["has_more"] is False and body["next_cursor"] is None
    first = body["data"][0]
    assert (first["status"], first["ceb_code"], first["form"], first["needs_broker"]) == ("held", 1, "CN23", True)
    assert first["allowed_actions"] == ["amend", "file", "reject", "cancel"]
    assert "api_key" not in response.text and "key_hash" not in response.text


async def test_queue_filters_by_status_channel_lane_and_what_needs_a_broker(customs):
    broker = await customs.key()
    mail_held = await file_held(customs)
    express_held = await file_held(customs, "express")
    green = await customs.file(green_held(new_order_id()))
    filed = await customs.file(mail(new_order_id()))
    assert filed.status == "filed"

    async def ids(query):
        response = await customs.client.get(f"/v1/declarations?{query}", headers=broker)
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()["data"]]

    assert await ids("") == [green.id, mail_held.id, express_held.id, filed.id]
    assert await ids("status=filed") == [filed.id]
    assert await ids("needs_broker=true") == [green.id, mail_held.id, express_held.id]
    assert await ids("needs_broker=false") == [filed.id]
    assert await ids("channel=express") == [express_held.id]
    assert await ids("lane=green") == [green.id]
    assert await ids("lane=standard&channel=mail&status=held") == [mail_held.id]


async def test_brokers_find_an_orders_declaration_without_paging_the_queue(customs):
    """Issue 16 finding 13: filter by order id, merchant order number and tracking number."""
    broker = await customs.key(owner="Alice Brokerage")
    wanted, other = await file_held(customs), await file_held(customs)

    async def ids(query):
        return [d["id"] for d in (await customs.client.get(f"/v1/declarations?{query}", headers=broker)).json()["data"]]

    assert await ids(f"order_id={wanted.order_id}") == [wanted.id]
    assert await ids(f"merchant_order_no={wanted.merchant_order_no}") == [wanted.id]
    assert await ids(f"tracking_number={wanted.tracking_number}") == [wanted.id]
    assert await ids("tracking_number=NOPE") == []
    await customs.client.post(f"/v1/declarations/{other.id}/claim", headers=broker)
    assert await ids("claimed_by_me=true") == [other.id]
    customs.clock.advance(minutes=30)
    assert await ids("waited_minutes=20") == [wanted.id, other.id]
    assert await ids("waited_minutes=60") == []


async def test_queue_pages_with_a_cursor_over_the_full_sort_key(customs):
    broker = await customs.key()
    green = [await customs.file(green_held(new_order_id())) for _ in range(2)]
    standard = [await file_held(customs) for _ in range(3)]
    expected = [d.id for d in green + standard]
    seen, cursor, pages = [], None, 0
    while True:
        query = "/v1/declarations?status=held&limit=2" + (f"&starting_after={cursor}" if cursor else "")
        body = (await customs.client.get(query, headers=broker)).json()
        pages += 1
        seen += [d["id"] for d in body["data"]]
        if not body["has_more"]:
            assert body["next_cursor"] is None
            break
        cursor = body["next_cursor"]
    assert seen == expected and pages == 3


async def test_queue_pages_through_declarations_opened_at_the_same_instant_by_id(customs):
    broker = await customs.key()
    instant = customs.clock()
    customs.config.clock = lambda: instant
    ids = sorted([(await file_held(customs)).id for _ in range(3)])
    seen, cursor = [], None
    for _ in range(3):
        query = "/v1/declarations?limit=1" + (f"&starting_after={cursor}" if cursor else "")
        body = (await customs.client.get(query, headers=broker)).json()
        seen += [d["id"] for d in body["data"]]
        cursor = body["next_cursor"]
    assert seen == ids and cursor is None


@pytest.mark.parametrize("query, field, code", [
    ("status=waiting", "status", "value_not_allowed"),
    ("needs_broker=perhaps", "needs_broker", "bool_parsing"),
    ("waited_minutes=-1", "waited_minutes", "must_not_be_negative"),
    ("channel=pigeon", "channel", "value_not_allowed"),
    ("lane=fast", "lane", "value_not_allowed"),
    ("limit=0", "limit", "too_small"),
    ("limit=101", "limit", "too_large"),
    ("starting_after=not-a-cursor", "starting_after", "cursor_invalid"),
    ("starting_after=WzEsIjIwMjUtMDEtMDEiLCJ4Il0", "starting_after", "cursor_invalid"),  # naive time inside
])
async def test_queue_rejects_bad_parameters_naming_the_field(customs, query, field, code):
    broker = await customs.key()
    response = await customs.client.get(f"/v1/declarations?{query}", headers=broker)
    assert response.status_code == 422
    assert (response.json()["field"], response.json()["code"]) == (field, code)


# ── one declaration ───────────────────────────────────────────────────────


async def test_detail_has_lines_documents_findings_messages_receipts_and_history(customs):
    broker = await customs.key()
    order_id = new_order_id()
    order = accepted(order_id, consignee=held(order_id).parcel.consignee)
    declaration = await customs.file(order, documents=False)
    await customs.attach(paid(order_id, amount=Decimal("150")))
    await customs.attach(waybill_for(order))
    response = await customs.client.get(f"/v1/declarations/{declaration.id}", headers=broker)
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["channel"], body["form"], body["trade_mode"]) == \
        ("held", "ecommerce", "inventory_list", "9610")
    assert body["lines"][0]["hs_code"] == "6109100000" and Decimal(body["lines"][0]["unit_price"]) == 100
    assert [d["kind"] for d in body["documents"]] == ["order", "payment", "waybill"]
    assert [(f["code"], f["source"]) for f in body["findings"]] == [("amount_mismatch", "prefiling")]
    assert [h["action"] for h in body["history"]] == ["open", "hold"]
    assert body["history"][1]["reason_code"] == "amount_mismatch" and body["history"][1]["actor"] == "system"
    assert body["parcel"]["merchant_order_no"] == order.parcel.merchant_order_no
    assert body["claim"] is None and body["awaiting_documents"] is False
    assert body["messages"] == [] and body["receipts"] == []
    filed = await customs.file(mail(new_order_id()))
    await customs.answer(filed, 120)
    detail = (await customs.client.get(f"/v1/declarations/{filed.id}", headers=broker)).json()
    [message] = detail["messages"]
    assert (message["message_type"], message["purpose"], message["state"]) == ("CUSITM", "declaration", "queued")
    assert [(r["return_status"], r["outcome"]) for r in detail["receipts"]] == [(120, "applied")]
    listing = (await customs.client.get(f"/v1/declarations/{filed.id}/messages", headers=broker)).json()
    assert listing["messages"] == detail["messages"] and listing["receipts"] == detail["receipts"]
    raw = await customs.client.get(f"/v1/messages/{message['guid']}", headers=broker)
    assert raw.headers["content-type"].startswith("application/json") and raw.headers["silkgate-signature"]
    receipt = await customs.client.get(f"/v1/receipts/{detail['receipts'][0]['id']}", headers=broker)
    assert receipt.headers["content-type"].startswith("application/xml") and b"<ds:Signature" in receipt.content
    missing = await customs.client.get("/v1/messages/" + "0" * 36, headers=broker)
    assert (missing.status_code, missing.json()["code"]) == (404, "message_not_found")
