"""What a broker does: amend and file, ask for documents, reject, cancel, answer the authority — never release."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import text

from tests.customs.broker import FILE, REJECT, claimed, file_held, parse_time
from tests.customs.events import accepted, mail, new_order_id, paid, waybill_for


@pytest.mark.parametrize("action", ["release", "inspect", "detain", "inspection-result"])
async def test_no_broker_releases_inspects_or_detains_any_more(customs, action):
    """Only the customs authority decides: the old broker decisions answer 410 saying what to do instead."""
    broker = await customs.key()
    declaration = await claimed(customs, broker)
    response = await customs.client.post(f"/v1/declarations/{declaration.id}/{action}", headers=broker,
                                         json={"reason_code": "contents_verified"})
    assert response.status_code == 410 and response.json()["code"] == "broker_decision_removed"
    assert declaration.id in response.json()["instead"] or "authority" in response.json()["instead"]
    assert (await customs.reload(declaration.id)).status == "held"


async def test_acting_needs_the_claim(customs):
    broker = await customs.key()
    declaration = await file_held(customs)
    response = await customs.client.post(f"/v1/declarations/{declaration.id}/file", headers=broker, json=FILE)
    assert response.status_code == 409 and response.json()["code"] == "claim_required"
    assert response.json()["claimed_by"] is None
    assert (await customs.reload(declaration.id)).status == "held"


async def test_amend_the_lines_then_file_and_the_authority_releases(customs):
    alice = await customs.key(owner="Alice Brokerage")
    declaration = await claimed(customs, alice)  # a T-shirt declared at 5 CNY: undervalued
    base = f"/v1/declarations/{declaration.id}"
    amend = await customs.client.post(f"{base}/amend", headers=alice, json={
        "lines": [{"line_no": 1, "unit_price": "100.00", "total_price": "100.00", "hs_code": "6109100010",
                   "name": "Cotton T-shirt, men's"}],
        "reason_code": "value_corrected", "note": "Invoice INV-7 shows 100 CNY."})
    assert amend.status_code == 200, amend.text
    assert amend.json()["status"] == "held" and amend.json()["claim"]["broker"] == "Alice Brokerage"
    filed = await customs.client.post(f"{base}/file", headers=alice, json=FILE)
    assert filed.status_code == 200, filed.text
    assert (filed.json()["status"], filed.json()["ceb_code"], filed.json()["claim"]) == ("filed", 2, None)
    detail = (await customs.client.get(base, headers=alice)).json()
    assert detail["lines"][0]["hs_code"] == "6109100010" and Decimal(detail["lines"][0]["unit_price"]) == 100
    [message] = detail["messages"]
    filed_text = (await customs.client.get(f"/v1/messages/{message['guid']}", headers=alice)).text
    assert json.loads(filed_text)["lines"][0]["hs_code"].startswith("610910")  # the amended line went out
    declaration = await customs.answer(declaration, 120, 800)
    assert declaration.status == "released"
    [released] = await customs.wait_published(declaration.order_id, "declaration.released")
    assert released.data["decided_by"] == "customs authority"


async def test_a_broker_cannot_file_past_a_control(customs):
    """Issue 13: a control the checked party could satisfy alone is a bug — and a broker cannot wave it through."""
    broker = await customs.key()
    order_id = new_order_id()
    order = accepted(order_id)
    declaration = await customs.file(order, documents=False)
    await customs.attach(paid(order_id, payer_name="Somebody Else"))
    await customs.attach(waybill_for(order))
    assert (await customs.reload(declaration.id)).status == "held"
    await customs.client.post(f"/v1/declarations/{declaration.id}/claim", headers=broker)
    refused = await customs.client.post(f"/v1/declarations/{declaration.id}/file", headers=broker, json=FILE)
    assert refused.status_code == 409 and refused.json()["code"] == "filing_blocked"
    assert [f["code"] for f in refused.json()["findings"]] == ["payer_mismatch"]
    assert (await customs.reload(declaration.id)).status == "held" and await customs.messages(declaration.id) == []


async def test_waiting_documents_can_be_asked_for_again_rejected_or_cancelled_never_filed(customs):
    """Issue 13 finding 2: a broker released a declaration that was still waiting for documents."""
    broker = await customs.key()
    order_id = new_order_id()
    declaration = await customs.file(accepted(order_id), documents=False)
    await customs.client.post(f"/v1/declarations/{declaration.id}/claim", headers=broker)
    early = await customs.client.post(f"/v1/declarations/{declaration.id}/file", headers=broker, json=FILE)
    assert (early.status_code, early.json()["code"]) == (409, "documents_missing")
    customs.clock.advance(minutes=31)
    await customs.wait_declaration(order_id, "documents_missing")
    await customs.client.post(f"/v1/declarations/{declaration.id}/claim", headers=broker)
    summary = (await customs.client.get(f"/v1/declarations/{declaration.id}", headers=broker)).json()
    assert summary["allowed_actions"] == ["request_documents", "reject", "cancel"]
    file = await customs.client.post(f"/v1/declarations/{declaration.id}/file", headers=broker, json=FILE)
    assert (file.status_code, file.json()["code"]) == (409, "transition_not_allowed")
    again = await customs.client.post(f"/v1/declarations/{declaration.id}/request-documents", headers=broker,
                                      json={"reason_code": "payment_and_waybill", "note": "asked the shop"})
    assert again.json()["status"] == "pending_documents"
    assert parse_time(again.json()["documents_deadline_at"]) > customs.config.now()
    await customs.attach(paid(order_id))
    await customs.attach(waybill_for(accepted(order_id)))
    assert (await customs.reload(declaration.id)).status == "filed"


async def test_reject_publishes_the_rejection_and_cancel_the_cancellation(customs):
    alice = await customs.key(owner="Alice Brokerage")
    declaration = await claimed(customs, alice)
    response = await customs.client.post(f"/v1/declarations/{declaration.id}/reject", headers=alice, json=REJECT)
    assert response.status_code == 200 and (response.json()["status"], response.json()["ceb_code"]) == \
        ("rejected", 100)
    [event] = await customs.wait_published(declaration.order_id, "declaration.rejected")
    assert event.data["reason_code"] == "misdeclared_goods" and event.data["decided_by"] == "Alice Brokerage"
    assert event.data["reason"] == "misdeclared_goods: Invoice shows 5 CNY for a branded T-shirt."
    assert "undervaluation" in [f["code"] for f in event.data["findings"]]
    other = await claimed(customs, alice)
    cancel = await customs.client.post(f"/v1/declarations/{other.id}/cancel", headers=alice,
                                       json={"reason_code": "duplicate_order"})
    assert cancel.json()["status"] == "cancelled"
    await customs.wait_published(other.order_id, "declaration.cancelled")
    for action in ("file", "reject", "amend"):
        late = await customs.client.post(f"/v1/declarations/{declaration.id}/{action}", headers=alice, json=REJECT)
        assert late.status_code in (409, 422)


async def test_a_manual_review_is_answered_once_then_the_authority_decides(customs):
    alice = await customs.key(owner="Alice Brokerage")
    declaration = await customs.answer(await customs.file(mail(new_order_id())), 120, 300)
    base = f"/v1/declarations/{declaration.id}"
    assert (await customs.client.post(f"{base}/claim", headers=alice)).status_code == 200
    body = {"reason_code": "documents_provided", "explanation": "Invoice and photos attached.",
            "documents": [{"kind": "invoice", "reference": "INV-7"}]}
    answered = await customs.client.post(f"{base}/answer", headers=alice, json=body)
    assert answered.status_code == 200, answered.text
    assert (answered.json()["status"], answered.json()["needs_broker"], answered.json()["claim"]) == \
        ("manual_review", False, None)
    again = await customs.client.post(f"{base}/claim", headers=alice)
    twice = await customs.client.post(f"{base}/answer", headers=alice, json=body)
    assert again.status_code == 200 and (twice.status_code, twice.json()["code"]) == (409, "already_answered")
    answer = (await customs.messages(declaration.id))[-1]
    assert (answer.message_type, answer.purpose) == ("REVIEWANSWER", "answer")
    assert json.loads(answer.body)["answers_guid"] == declaration.filing_guid
    assert (await customs.answer(declaration, 399, 800)).status == "released"


async def test_an_inspection_is_recorded_and_a_failed_one_leaves_a_finding(customs):
    alice = await customs.key(owner="Alice Brokerage")
    declaration = await customs.answer(await customs.file(mail(new_order_id())), 120, 500)
    base = f"/v1/declarations/{declaration.id}"
    await customs.client.post(f"{base}/claim", headers=alice)
    recorded = await customs.client.post(f"{base}/inspection", headers=alice, json={
        "attended_by": "Li Wei", "attended_at": "2026-03-01T09:30:00+08:00", "outcome": "failed",
        "note": "Counterfeit logos."})
    assert recorded.status_code == 200 and recorded.json()["needs_broker"] is False
    record = (await customs.messages(declaration.id))[-1]
    assert record.message_type == "INSPECTIONRECORD" and json.loads(record.body)["outcome"] == "failed"
    detail = (await customs.client.get(base, headers=alice)).json()
    assert [(f["code"], f["source"]) for f in detail["findings"]][-1] == ("inspection_failed", "inspection")
    assert (await customs.answer(declaration, 100)).status == "authority_rejected"


@pytest.mark.parametrize("path, body, field, code", [
    ("file", {"reason_code": "Bad Code"}, "reason_code", "value_not_allowed"),
    ("file", {"verdict": "yes"}, "verdict", "field_unknown"),
    ("reject", {}, "reason_code", "field_required"),
    ("reject", {"reason_code": "other", "note": "x" * 2001}, "note", "too_long"),
    ("amend", {"lines": [], "reason_code": "other"}, "lines", "too_few_items"),
    ("amend", {"lines": [{"line_no": 1, "hs_code": "12ab"}], "reason_code": "other"}, "lines[0].hs_code",
     "format_invalid"),
    ("amend", {"lines": [{"line_no": 9, "name": "x"}], "reason_code": "other"}, "lines[9].line_no", "line_not_found"),
    ("amend", {"lines": [{"line_no": 1, "unit_price": "7.00"}], "reason_code": "value_corrected"},
     "lines[1].total_price", "line_total_mismatch"),
    ("amend", {"lines": [{"line_no": 1}], "reason_code": "other"}, "lines", "amendment_empty"),
])
async def test_bad_bodies_are_422_naming_the_field(customs, path, body, field, code):
    broker = await customs.key()
    declaration = await claimed(customs, broker)
    response = await customs.client.post(f"/v1/declarations/{declaration.id}/{path}", headers=broker, json=body)
    assert response.status_code == 422, response.text
    assert (response.json()["field"], response.json()["code"]) == (field, code)
    assert (await customs.reload(declaration.id)).status == "held"  # nothing half-written


async def test_audit_trail_records_every_action_in_order(customs):
    alice = await customs.key(owner="Alice Brokerage")
    declaration = await claimed(customs, alice)
    base = f"/v1/declarations/{declaration.id}"
    await customs.client.post(f"{base}/amend", headers=alice, json={
        "lines": [{"line_no": 1, "unit_price": "100", "total_price": "100"}], "reason_code": "value_corrected"})
    await customs.client.post(f"{base}/file", headers=alice, json=FILE)
    await customs.answer(declaration, 120, 800)
    trail = (await customs.client.get(f"{base}/audit", headers=alice)).json()
    rows = [(e["actor"], e["action"], e["from_status"], e["to_status"], e["ceb_code"]) for e in trail["data"]]
    assert rows == [
        ("system", "open", None, "pending_documents", 1),
        ("system", "hold", "pending_documents", "held", 1),
        ("Alice Brokerage", "claim", "held", "held", 1),
        ("Alice Brokerage", "amend", "held", "held", 1),
        ("Alice Brokerage", "file", "held", "filed", 2),
        ("customs authority", "receipt", "filed", "accepted", 120),
        ("customs authority", "receipt", "accepted", "released", 800),
    ]
    amend = trail["data"][3]
    assert amend["reason_code"] == "value_corrected" and "unit_price 5.00 → 100" in amend["note"]
    assert amend["key_id"] and not amend["key_id"].startswith("sg_")  # the key's id, never the key
    times = [parse_time(e["at"]) for e in trail["data"]]
    assert times == sorted(times)


async def test_audit_trail_cannot_be_edited_through_the_api_or_the_database(customs):
    broker = await customs.key()
    declaration = await file_held(customs)
    url = f"/v1/declarations/{declaration.id}/audit"
    for method in ("put", "patch", "delete", "post"):
        response = await customs.client.request(method.upper(), url, headers=broker, json={"note": "rewritten"})
        assert response.status_code == 405
    for statement in ("UPDATE audit_trail SET note = 'rewritten'", "DELETE FROM audit_trail"):
        with pytest.raises(Exception, match="append-only"):
            async with customs.runtime.db.transaction() as session:
                await session.execute(text(statement))
    trail = (await customs.client.get(url, headers=broker)).json()["data"]
    assert [e["note"] for e in trail] == [None, "held before filing: undervaluation"]
