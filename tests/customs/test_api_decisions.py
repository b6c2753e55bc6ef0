"""The customs broker's API, deciding: claims, releases, rejections, inspections and the audit trail."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import text

from tests.customs.broker import REVIEW, claimed, file_held, parse_time
from tests.customs.events import accepted, mail, new_order_id, paid

# ── claims ────────────────────────────────────────────────────────────────


async def test_one_broker_at_a_time_and_the_same_broker_extends(customs):
    alice, bob = await customs.key(owner="Alice Brokerage"), await customs.key(owner="Bob Brokerage")
    declaration = await file_held(customs)
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
    assert parse_time(again.json()["claim"]["expires_at"]) > parse_time(first.json()["claim"]["expires_at"])


async def test_a_claim_lapses_after_its_ttl(customs):
    alice, bob = await customs.key(owner="Alice Brokerage"), await customs.key(owner="Bob Brokerage")
    declaration = await claimed(customs, alice)
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
        declaration = await file_held(customs)
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
    declaration = await claimed(customs, alice)
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
    declaration = await file_held(customs)
    response = await customs.client.post(f"/v1/declarations/{declaration.id}/release", headers=broker, json=REVIEW)
    assert response.status_code == 409 and response.json()["code"] == "claim_required"
    assert response.json()["claimed_by"] is None
    assert (await customs.declaration(declaration.order_id)).status == "manual_review"


async def test_release_publishes_the_release_with_the_broker_and_tax(customs):
    broker = await customs.key(owner="Alice Brokerage")
    declaration = await claimed(customs, broker)
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
    declaration = await claimed(customs, broker)
    body = {"reason_code": "undervalued_goods", "note": "Invoice shows 5 CNY for a branded T-shirt."}
    response = await customs.client.post(f"/v1/declarations/{declaration.id}/reject", headers=broker, json=body)
    assert response.status_code == 200 and response.json()["ceb_code"] == 100
    [event] = await customs.wait_published(declaration.order_id, "declaration.rejected")
    assert event.data["reason_code"] == "undervalued_goods" and event.data["decided_by"] == "Alice Brokerage"
    assert event.data["reason"] == "undervalued_goods: Invoice shows 5 CNY for a branded T-shirt."
    assert [f["code"] for f in event.data["findings"]] == ["undervaluation"]


async def test_inspection_then_result_then_release(customs):
    broker = await customs.key(owner="Alice Brokerage")
    declaration = await claimed(customs, broker)
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
    declaration = await claimed(customs, broker)
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
    declaration = await claimed(customs, broker)
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
    declaration = await claimed(customs, broker)
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
    declaration = await claimed(customs, alice)
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
    assert [e["note"] for e in trail] == [None, "manual_review: undervaluation"]
