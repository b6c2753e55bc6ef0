"""The brokers' API: work queue, claims (and races), decisions, inspection results, audit trail, auth."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from tests.customs.events import accepted, green_held, held, mail, new_order_id, paid, waybill_for

REVIEW = {"reason_code": "documents_verified", "note": "Invoice checked against the goods."}


async def _held(customs, channel: str = "mail"):
    return await customs.file(held(new_order_id(), channel))


async def _claimed(customs, headers, channel: str = "mail"):
    declaration = await _held(customs, channel)
    response = await customs.client.post(f"/v1/declarations/{declaration.id}/claim", headers=headers)
    assert response.status_code == 200, response.text
    return declaration


# ── auth ──────────────────────────────────────────────────────────────────


async def test_keys_and_roles(customs):
    declaration = await _held(customs)
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
    response = await client.post(f"/v1/declarations/{declaration.id}/release", headers=ops, json=REVIEW)
    assert response.status_code == 403


async def test_unknown_declaration_is_404_everywhere(customs):
    broker = await customs.key()
    client, missing = customs.client, "dcl_000000000000000000000000"
    responses = [
        await client.get(f"/v1/declarations/{missing}", headers=broker),
        await client.get(f"/v1/declarations/{missing}/audit", headers=broker),
        await client.post(f"/v1/declarations/{missing}/claim", headers=broker),
        await client.delete(f"/v1/declarations/{missing}/claim", headers=broker),
        await client.post(f"/v1/declarations/{missing}/release", headers=broker, json=REVIEW),
        await client.post(f"/v1/declarations/{missing}/detain", headers=broker, json=REVIEW),
        await client.post(f"/v1/declarations/{missing}/inspection-result", headers=broker, json={"outcome": "passed"}),
    ]
    for response in responses:
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "declaration_not_found"


# ── the work queue ────────────────────────────────────────────────────────


async def test_queue_puts_the_green_lane_first_then_the_oldest(customs):
    broker = await customs.key()
    standard_old = await _held(customs)
    green_old = await customs.file(green_held(new_order_id()))
    standard_new = await _held(customs, "express")
    green_new = await customs.file(green_held(new_order_id()))
    response = await customs.client.get("/v1/declarations?status=manual_review", headers=broker)
    assert response.status_code == 200
    body = response.json()
    assert [d["id"] for d in body["data"]] == [green_old.id, green_new.id, standard_old.id, standard_new.id]
    assert [d["lane"] for d in body["data"]] == ["green", "green", "standard", "standard"]
    assert body["has_more"] is False and body["next_cursor"] is None
    first = body["data"][0]
    assert (first["status"], first["ceb_code"], first["form"]) == ("manual_review", 300, "CN23")
    assert first["allowed_actions"] == ["detain", "inspect", "reject", "release"]
    assert "api_key" not in response.text and "key_hash" not in response.text


async def test_queue_filters_by_status_channel_and_lane(customs):
    broker = await customs.key()
    mail_held = await _held(customs)
    express_held = await _held(customs, "express")
    green = await customs.file(green_held(new_order_id()))
    released = await customs.file(mail(new_order_id()))
    assert released.status == "released"

    async def ids(query):
        response = await customs.client.get(f"/v1/declarations?{query}", headers=broker)
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()["data"]]

    assert await ids("") == [green.id, mail_held.id, express_held.id, released.id]
    assert await ids("status=released") == [released.id]
    assert await ids("channel=express") == [express_held.id]
    assert await ids("lane=green") == [green.id]
    assert await ids("lane=standard&channel=mail&status=manual_review") == [mail_held.id]


async def test_queue_pages_with_a_cursor_over_the_full_sort_key(customs):
    broker = await customs.key()
    green = [await customs.file(green_held(new_order_id())) for _ in range(2)]
    standard = [await _held(customs) for _ in range(3)]
    expected = [d.id for d in green + standard]
    seen, cursor, pages = [], None, 0
    while True:
        query = "/v1/declarations?status=manual_review&limit=2" + (f"&starting_after={cursor}" if cursor else "")
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
    ids = sorted([(await _held(customs)).id for _ in range(3)])
    seen, cursor = [], None
    for _ in range(3):
        query = "/v1/declarations?limit=1" + (f"&starting_after={cursor}" if cursor else "")
        body = (await customs.client.get(query, headers=broker)).json()
        seen += [d["id"] for d in body["data"]]
        cursor = body["next_cursor"]
    assert seen == ids and cursor is None


@pytest.mark.parametrize("query, field, code", [
    ("status=waiting", "status", "value_not_allowed"),
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


async def test_detail_has_lines_documents_findings_and_history(customs):
    broker = await customs.key()
    order_id = new_order_id()
    order = accepted(order_id, consignee=held(order_id).parcel.consignee)
    await customs.file(order)
    await customs.attach(paid(order_id, amount=Decimal("150")))
    declaration = await customs.declaration(order_id)
    await customs.attach(waybill_for(order))
    response = await customs.client.get(f"/v1/declarations/{declaration.id}", headers=broker)
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["channel"], body["form"], body["trade_mode"]) == \
        ("manual_review", "ecommerce", "inventory_list", "9610")
    assert body["lines"][0]["hs_code"] == "6109100000" and Decimal(body["lines"][0]["unit_price"]) == 100
    assert [d["kind"] for d in body["documents"]] == ["order", "payment", "waybill"]
    assert [(f["code"], f["source"]) for f in body["findings"]] == [("amount_mismatch", "match")]
    assert [h["action"] for h in body["history"]] == ["file", "refer_to_review"]
    assert body["history"][1]["reason_code"] == "amount_mismatch" and body["history"][1]["actor"] == "system"
    assert body["parcel"]["merchant_order_no"] == order.parcel.merchant_order_no
    assert body["claim"] is None and body["awaiting_documents"] is False


# ── claims ────────────────────────────────────────────────────────────────


async def test_one_broker_at_a_time_and_the_same_broker_extends(customs):
    alice, bob = await customs.key(owner="Alice Brokerage"), await customs.key(owner="Bob Brokerage")
    declaration = await _held(customs)
    url = f"/v1/declarations/{declaration.id}/claim"
    first = await customs.client.post(url, headers=alice)
    assert first.status_code == 200 and first.json()["claim"]["broker"] == "Alice Brokerage"
    refused = await customs.client.post(url, headers=bob)
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["code"] == "declaration_claimed" and problem["claimed_by"] == "Alice Brokerage"
    assert problem["claim_expires_at"] == first.json()["claim"]["expires_at"].replace("Z", "+00:00")
    customs.clock.advance(seconds=60)
    again = await customs.client.post(url, headers=alice)
    assert again.status_code == 200
    assert _time(again.json()["claim"]["expires_at"]) > _time(first.json()["claim"]["expires_at"])


async def test_a_claim_lapses_after_its_ttl(customs):
    alice, bob = await customs.key(owner="Alice Brokerage"), await customs.key(owner="Bob Brokerage")
    declaration = await _claimed(customs, alice)
    customs.clock.advance(seconds=899)
    assert (await customs.client.post(f"/v1/declarations/{declaration.id}/claim", headers=bob)).status_code == 409
    customs.clock.advance(seconds=2)
    listed = (await customs.client.get("/v1/declarations", headers=bob)).json()["data"][0]
    assert listed["claim"] is None  # lapsed claims are not shown as held
    taken = await customs.client.post(f"/v1/declarations/{declaration.id}/claim", headers=bob)
    assert taken.status_code == 200 and taken.json()["claim"]["broker"] == "Bob Brokerage"
    late = await customs.client.post(f"/v1/declarations/{declaration.id}/release", headers=alice, json=REVIEW)
    assert late.status_code == 409 and late.json()["code"] == "claim_required"
    assert late.json()["claimed_by"] == "Bob Brokerage"


async def test_two_brokers_racing_for_one_declaration_exactly_one_wins(customs):
    brokers = [await customs.key(owner=f"Broker {n}") for n in range(4)]
    for _ in range(3):
        declaration = await _held(customs)
        url = f"/v1/declarations/{declaration.id}/claim"
        responses = await asyncio.gather(*(customs.client.post(url, headers=h) for h in brokers))
        codes = sorted(r.status_code for r in responses)
        assert codes == [200, 409, 409, 409], [r.text for r in responses]
        winner = next(r for r in responses if r.status_code == 200).json()["claim"]["broker"]
        assert {r.json()["claimed_by"] for r in responses if r.status_code == 409} == {winner}
        trail = (await customs.client.get(f"/v1/declarations/{declaration.id}/audit", headers=brokers[0])).json()
        assert [e["action"] for e in trail["data"]].count("claim") == 1


async def test_unclaim_gives_the_declaration_back(customs):
    alice, bob = await customs.key(owner="Alice Brokerage"), await customs.key(owner="Bob Brokerage")
    declaration = await _claimed(customs, alice)
    url = f"/v1/declarations/{declaration.id}/claim"
    assert (await customs.client.delete(url, headers=bob)).json()["code"] == "claim_required"
    response = await customs.client.delete(url, headers=alice)
    assert response.status_code == 200 and response.json()["claim"] is None
    assert (await customs.client.post(url, headers=bob)).status_code == 200


async def test_a_decided_declaration_cannot_be_claimed(customs):
    broker = await customs.key()
    released = await customs.file(mail(new_order_id()))
    response = await customs.client.post(f"/v1/declarations/{released.id}/claim", headers=broker)
    assert response.status_code == 409
    assert (response.json()["code"], response.json()["current_status"]) == ("declaration_final", "released")


# ── decisions ─────────────────────────────────────────────────────────────


async def test_deciding_needs_the_claim(customs):
    broker = await customs.key()
    declaration = await _held(customs)
    response = await customs.client.post(f"/v1/declarations/{declaration.id}/release", headers=broker, json=REVIEW)
    assert response.status_code == 409 and response.json()["code"] == "claim_required"
    assert response.json()["claimed_by"] is None
    assert (await customs.declaration(declaration.order_id)).status == "manual_review"


async def test_release_publishes_the_release_with_the_broker_and_tax(customs):
    broker = await customs.key(owner="Alice Brokerage")
    declaration = await _claimed(customs, broker)
    response = await customs.client.post(f"/v1/declarations/{declaration.id}/release", headers=broker, json=REVIEW)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["ceb_code"], body["decided_by"], body["claim"]) == \
        ("released", 800, "Alice Brokerage", None)
    [event] = await customs.wait_published(declaration.order_id, "declaration.released")
    assert event.data["decided_by"] == "Alice Brokerage" and event.data["ceb_code"] == 800
    assert Decimal(event.data["tax_cny"]) == Decimal("0.65")  # 13% personal articles tax on 5 CNY
    assert event.correlation_id == f"corr-{declaration.order_id}"  # the parcel's journey, not the request's


async def test_reject_publishes_the_rejection_with_reason_and_findings(customs):
    broker = await customs.key(owner="Alice Brokerage")
    declaration = await _claimed(customs, broker)
    body = {"reason_code": "undervalued_goods", "note": "Invoice shows 5 CNY for a branded T-shirt."}
    response = await customs.client.post(f"/v1/declarations/{declaration.id}/reject", headers=broker, json=body)
    assert response.status_code == 200 and response.json()["ceb_code"] == 100
    [event] = await customs.wait_published(declaration.order_id, "declaration.rejected")
    assert event.data["reason_code"] == "undervalued_goods" and event.data["decided_by"] == "Alice Brokerage"
    assert event.data["reason"] == "undervalued_goods: Invoice shows 5 CNY for a branded T-shirt."
    assert [f["code"] for f in event.data["findings"]] == ["undervaluation"]


async def test_inspection_then_result_then_release(customs):
    broker = await customs.key(owner="Alice Brokerage")
    declaration = await _claimed(customs, broker)
    base = f"/v1/declarations/{declaration.id}"
    inspect = await customs.client.post(f"{base}/inspect", headers=broker, json={"reason_code": "verify_contents"})
    assert (inspect.json()["status"], inspect.json()["ceb_code"]) == ("inspection", 500)
    assert inspect.json()["claim"]["broker"] == "Alice Brokerage"  # still hers: the case is not closed
    early = await customs.client.post(f"{base}/release", headers=broker, json=REVIEW)
    assert early.status_code == 409
    assert (early.json()["code"], early.json()["current_status"]) == ("transition_not_allowed", "inspection")
    assert early.json()["allowed_actions"] == ["detain", "record_inspection_result", "reject"]
    result = await customs.client.post(f"{base}/inspection-result", headers=broker,
                                       json={"outcome": "passed", "note": "Contents as declared."})
    assert (result.json()["status"], result.json()["ceb_code"]) == ("review_concluded", 399)
    release = await customs.client.post(f"{base}/release", headers=broker, json=REVIEW)
    assert release.status_code == 200 and release.json()["status"] == "released"
    held_events = await customs.wait_published(declaration.order_id, "declaration.held", count=3)
    assert [(e.data["status"], e.data["ceb_code"]) for e in held_events] == \
        [("manual_review", 300), ("inspection", 500), ("review_concluded", 399)]
    await customs.wait_published(declaration.order_id, "declaration.released")


async def test_failed_inspection_leaves_a_finding_and_detention_carries_its_code(customs):
    broker = await customs.key(owner="Alice Brokerage")
    declaration = await _claimed(customs, broker)
    base = f"/v1/declarations/{declaration.id}"
    await customs.client.post(f"{base}/inspect", headers=broker, json={"reason_code": "verify_contents"})
    failed = await customs.client.post(f"{base}/inspection-result", headers=broker,
                                       json={"outcome": "failed", "note": "Counterfeit logos."})
    assert failed.status_code == 200
    detain = await customs.client.post(f"{base}/detain", headers=broker,
                                       json={"reason_code": "suspected_counterfeit", "detention_code": 502})
    assert (detain.json()["status"], detain.json()["ceb_code"]) == ("detained", 502)
    events = await customs.wait_published(declaration.order_id, "declaration.held", count=4)
    assert (events[-1].data["status"], events[-1].data["ceb_code"]) == ("detained", 502)
    assert "inspection_failed" in [f["code"] for f in events[-1].data["findings"]]
    detail = (await customs.client.get(base, headers=broker)).json()
    assert [(f["code"], f["source"]) for f in detail["findings"]][-1] == ("inspection_failed", "inspection")


async def test_decisions_on_a_final_declaration_are_not_allowed(customs):
    broker = await customs.key()
    declaration = await _claimed(customs, broker)
    base = f"/v1/declarations/{declaration.id}"
    assert (await customs.client.post(f"{base}/reject", headers=broker, json=REVIEW)).status_code == 200
    for action in ("release", "reject", "inspect", "detain"):
        response = await customs.client.post(f"{base}/{action}", headers=broker, json=REVIEW)
        assert response.status_code == 409
        assert (response.json()["code"], response.json()["current_status"]) == ("transition_not_allowed", "rejected")
    response = await customs.client.post(f"{base}/inspection-result", headers=broker, json={"outcome": "passed"})
    assert response.json()["code"] == "transition_not_allowed"
    assert len(await customs.published(declaration.order_id, "declaration.rejected")) <= 1


@pytest.mark.parametrize("path, body, field, code", [
    ("release", {}, "reason_code", "field_required"),
    ("release", {"reason_code": "Bad Code"}, "reason_code", "format_invalid"),
    ("release", {"reason_code": "ok_code", "verdict": "yes"}, "verdict", "field_unknown"),
    ("release", {"reason_code": "ok_code", "note": "x" * 2001}, "note", "too_long"),
    ("detain", {"reason_code": "ok_code", "detention_code": 600}, "detention_code", "too_large"),
    ("detain", {"reason_code": "ok_code", "detention_code": 500}, "detention_code", "too_small"),
    ("inspection-result", {"outcome": "maybe"}, "outcome", "value_not_allowed"),
])
async def test_bad_decision_bodies_are_422_naming_the_field(customs, path, body, field, code):
    broker = await customs.key()
    declaration = await _claimed(customs, broker)
    response = await customs.client.post(f"/v1/declarations/{declaration.id}/{path}", headers=broker, json=body)
    assert response.status_code == 422
    assert (response.json()["field"], response.json()["code"]) == (field, code)
    assert (await customs.declaration(declaration.order_id)).status == "manual_review"  # nothing half-written


async def test_broker_may_release_a_declaration_still_waiting_for_documents_and_it_is_taxed(customs):
    broker = await customs.key()
    order_id = new_order_id()
    declaration = await customs.file(accepted(order_id))
    assert declaration.awaiting_documents and declaration.tax_cny is None
    await customs.client.post(f"/v1/declarations/{declaration.id}/claim", headers=broker)
    response = await customs.client.post(f"/v1/declarations/{declaration.id}/release", headers=broker, json=REVIEW)
    assert response.status_code == 200 and Decimal(response.json()["tax_cny"]) == Decimal("9.10")
    assert response.json()["awaiting_documents"] is False
    await customs.attach(paid(order_id))  # the documents arrive afterwards: attached, the release stands
    assert (await customs.declaration(order_id)).status == "released"


# ── the audit trail ───────────────────────────────────────────────────────


async def test_audit_trail_records_every_action_in_order(customs):
    alice = await customs.key(owner="Alice Brokerage")
    declaration = await _claimed(customs, alice)
    base = f"/v1/declarations/{declaration.id}"
    await customs.client.post(f"{base}/inspect", headers=alice, json={"reason_code": "verify_contents",
                                                                      "note": "Check the labels."})
    await customs.client.post(f"{base}/inspection-result", headers=alice, json={"outcome": "passed"})
    await customs.client.post(f"{base}/release", headers=alice, json=REVIEW)
    trail = (await customs.client.get(f"{base}/audit", headers=alice)).json()
    assert trail["declaration_id"] == declaration.id
    rows = [(e["actor"], e["action"], e["from_status"], e["to_status"], e["ceb_code"]) for e in trail["data"]]
    assert rows == [
        ("system", "file", None, "accepted", 120),
        ("system", "refer_to_review", "accepted", "manual_review", 300),
        ("Alice Brokerage", "claim", "manual_review", "manual_review", 300),
        ("Alice Brokerage", "inspect", "manual_review", "inspection", 500),
        ("Alice Brokerage", "record_inspection_result", "inspection", "review_concluded", 399),
        ("Alice Brokerage", "release", "review_concluded", "released", 800),
    ]
    inspect = trail["data"][3]
    assert (inspect["reason_code"], inspect["note"], inspect["actor_role"]) == \
        ("verify_contents", "Check the labels.", "broker")
    assert inspect["key_id"] and not inspect["key_id"].startswith("sg_")  # the key's id, never the key
    times = [_time(e["at"]) for e in trail["data"]]
    assert times == sorted(times)


async def test_audit_trail_cannot_be_edited_through_the_api_or_the_database(customs):
    broker = await customs.key()
    declaration = await _held(customs)
    url = f"/v1/declarations/{declaration.id}/audit"
    for method in ("put", "patch", "delete", "post"):
        response = await customs.client.request(method.upper(), url, headers=broker, json={"note": "rewritten"})
        assert response.status_code == 405
    for statement in ("UPDATE audit_trail SET note = 'rewritten'", "DELETE FROM audit_trail"):
        with pytest.raises(Exception, match="append-only"):
            async with customs.runtime.db.transaction() as session:
                await session.execute(text(statement))
    trail = (await customs.client.get(url, headers=broker)).json()["data"]
    assert [e["note"] for e in trail] == [None, "manual_review: undervaluation"]


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)
