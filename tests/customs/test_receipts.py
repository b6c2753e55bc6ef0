"""The customs authority's receipts through POST /v1/receipts: verified, kept, applied once, never backwards."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from services.customs import receipts_batch
from services.customs.intake import cancel_order
from services.customs.models import Message, Receipt
from services.customs.repository import DeclarationRepository
from services.customs.repository_exchange import ExchangeRepository
from services.customs.service import StaleDeclaration, outbox_emitter
from shared.ceb.signing import SigningIdentity
from shared.certificates import ensure_pair
from shared.outbox import unsent_count
from tests.customs.events import accepted, cancelled, mail, new_order_id
from tests.support import eventually


async def _receipts(customs, declaration_id):
    async with customs.runtime.db.reader() as session:
        return await ExchangeRepository(session).receipts_of(declaration_id)


async def _all_receipts(customs):
    async with customs.runtime.db.reader() as session:
        return list((await session.execute(select(Receipt).order_by(Receipt.id))).scalars())


async def test_the_authority_accepts_then_releases_an_ecommerce_import(customs):
    declaration = await customs.file(accepted(new_order_id()))
    assert declaration.status == "filed"
    declaration = await customs.answer(declaration, 2, 120)
    assert (declaration.status, declaration.ceb_code) == ("accepted", 120)
    assert await customs.published(declaration.order_id, "declaration.released") == []
    declaration = await customs.answer(declaration, 800)
    assert (declaration.status, declaration.ceb_code) == ("released", 800) and declaration.released_at is not None
    [released] = await customs.wait_published(declaration.order_id, "declaration.released")
    assert Decimal(released.data["tax_cny"]) == Decimal("9.10") and released.data["decided_by"] == "customs authority"
    bill = released.data["tax_bill"]  # the CEB816 figures the merchant's order shows
    assert (Decimal(bill["taxable_value_cny"]), Decimal(bill["vat_cny"]), Decimal(bill["total_cny"])) == \
        (Decimal("100.00"), Decimal("9.10"), Decimal("9.10"))
    assert bill["invt_no"] == declaration.invt_no
    outcomes = [r.outcome for r in await _receipts(customs, declaration.id)]
    assert outcomes == ["recorded", "applied", "applied"]


async def test_duplicated_reordered_and_late_receipts_move_nothing_back_and_double_nothing(customs):
    declaration = await customs.file(mail(new_order_id()))
    [message] = await customs.messages(declaration.id)
    start = customs.config.now()
    accepted_ = customs.receipt_xml(message, 120, at=start)
    released = customs.receipt_xml(message, 800, at=start + timedelta(seconds=2))
    late_declaring = customs.receipt_xml(message, 2, at=start - timedelta(seconds=1))
    answers = []
    for body in (released, accepted_, released, late_declaring, accepted_):  # 800 overtakes 120; repeats; late 2
        response = await customs.send_receipt(body)
        assert response.status_code == 200, response.text
        answers.append(response.json()["outcome"])
    assert answers == ["applied", "late", "duplicate", "late", "late"]
    assert (await customs.reload(declaration.id)).status == "released"
    assert len(await released_once_relayed(customs, declaration.order_id)) == 1
    closed = await customs.send_receipt(customs.receipt_xml(message, 899, at=start + timedelta(days=1)))
    assert closed.json() == {**closed.json(), "outcome": "applied", "status": "closed"}


async def test_a_review_becomes_an_inspection_then_the_authority_releases(customs):
    declaration = await customs.file(mail(new_order_id()))
    declaration = await customs.answer(declaration, 120, 300)
    assert declaration.status == "manual_review" and declaration.needs_broker
    [held] = await customs.wait_published(declaration.order_id, "declaration.held")
    assert (held.data["status"], held.data["ceb_code"]) == ("manual_review", 300)
    declaration = await customs.answer(declaration, 500, 399, 800)
    assert declaration.status == "released"


async def test_a_malformed_or_unsigned_or_forged_receipt_is_refused_and_kept(customs, tmp_path):
    declaration = await customs.file(mail(new_order_id()))
    [message] = await customs.messages(declaration.id)
    good = customs.receipt_xml(message, 800)
    unsigned = good.split(b"<ds:Signature")[0] + good[good.index(b"</ds:Signature>") + len(b"</ds:Signature>"):]
    forger = ensure_pair(tmp_path, "forger")
    forged = customs.receipt_xml(message, 800, identity=SigningIdentity.from_files(forger.key_file, forger.cert_file))
    tampered = good.replace(b"<returnStatus>800</returnStatus>", b"<returnStatus>899</returnStatus>")
    emptied = re.sub(rb"<ds:SignatureValue>[^<]*</ds:SignatureValue>", b"<ds:SignatureValue/>", good)  # was a 500
    assert emptied != good
    cases = [(b"<not xml", "receipt_malformed"), (unsigned, "receipt_signature_invalid"),
             (forged, "receipt_signature_invalid"), (tampered, "receipt_signature_invalid"),
             (emptied, "receipt_signature_invalid")]
    for body, code in cases:
        response = await customs.send_receipt(body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == code
    kept = await _all_receipts(customs)
    assert [(r.outcome, r.error_code) for r in kept] == [("refused", code) for _, code in cases]
    assert kept[1].body == unsigned.decode()  # as received: the evidence
    assert (await customs.reload(declaration.id)).status == "filed"  # none of them moved it


async def test_receipts_need_the_authoritys_key_and_a_message_silkgate_filed(customs):
    declaration = await customs.file(mail(new_order_id()))
    [message] = await customs.messages(declaration.id)
    body = customs.receipt_xml(message, 800)
    broker = await customs.key("broker")
    assert (await customs.send_receipt(body, headers=broker)).json()["code"] == "role_not_allowed"
    assert (await customs.send_receipt(body, headers={"Authorization": "Bearer nope"})).status_code == 401
    message.guid = "0" * 8 + message.guid[8:]  # a receipt for a guid nobody filed
    unknown = await customs.send_receipt(customs.receipt_xml(message, 800))
    assert (unknown.status_code, unknown.json()["code"]) == (404, "receipt_unknown_message")
    assert (await customs.reload(declaration.id)).status == "filed"


async def test_a_rejection_is_amended_and_filed_again_as_a_change_and_old_receipts_are_superseded(customs):
    declaration = await customs.file(mail(new_order_id()))
    [first] = await customs.messages(declaration.id)
    declaration = await customs.answer(declaration, 100)
    assert declaration.status == "authority_rejected" and declaration.needs_broker
    broker = await customs.key("broker")
    assert (await customs.client.post(f"/v1/declarations/{declaration.id}/claim", headers=broker)).status_code == 200
    refile = await customs.client.post(f"/v1/declarations/{declaration.id}/file", headers=broker,
                                       json={"reason_code": "refile_after_rejection", "note": "HS corrected"})
    assert refile.status_code == 200, refile.text
    declaration = await customs.reload(declaration.id)
    second = (await customs.messages(declaration.id))[-1]
    assert (declaration.status, declaration.filings, second.app_type) == ("filed", 2, 2)
    stale = await customs.send_receipt(customs.receipt_xml(first, 800))  # for the first filing: too late
    assert stale.json()["outcome"] == "superseded" and (await customs.reload(declaration.id)).status == "filed"
    assert (await customs.answer(declaration, 120, 800)).status == "released"


async def test_a_cancellation_before_the_authority_numbered_the_list_is_filed_when_the_numbers_come(customs):
    declaration = await customs.file(accepted(new_order_id()))
    async with customs.runtime.db.transaction() as session:
        await cancel_order(DeclarationRepository(session), customs.config, cancelled(declaration.order_id),
                           emit=outbox_emitter(customs.runtime.outbox, session))
    declaration = await customs.reload(declaration.id)
    assert declaration.status == "cancel_requested"
    assert [m.purpose for m in await customs.messages(declaration.id)] == ["order", "declaration"]  # nothing yet
    declaration = await customs.answer(declaration, 120)  # brings preNo and invtNo
    cancel = (await customs.messages(declaration.id))[-1]
    assert (declaration.status, cancel.message_type, cancel.purpose) == ("cancel_requested", "CEB623", "cancel")
    assert (await customs.answer(declaration, 899, purpose="cancel")).status == "cancelled"


# ── POST /v1/receipts/batch ────────────────────────────────────────────────


async def _send_batch(customs, bodies, *, headers=None):
    if customs._authority_headers is None:
        customs._authority_headers = await customs.key("authority", "customs-authority")
    return await customs.client.post("/v1/receipts/batch", headers=headers or customs._authority_headers,
                                     json={"receipts": [base64.b64encode(body).decode() for body in bodies]})


async def test_a_batch_answers_each_receipt_in_order_and_keeps_the_refused_ones(customs, tmp_path):
    first = await customs.file(mail(new_order_id()))
    second = await customs.file(accepted(new_order_id()))
    [message] = await customs.messages(first.id)
    other = next(m for m in await customs.messages(second.id) if m.purpose == "declaration")
    start = customs.config.now()
    forger = ensure_pair(tmp_path, "forger")
    forged = customs.receipt_xml(message, 100, identity=SigningIdentity.from_files(forger.key_file, forger.cert_file))
    nobody = Message(**{**{c: getattr(message, c) for c in ("message_type", "declaration_id")},
                        "guid": "0" * 8 + message.guid[8:]})
    bodies = [customs.receipt_xml(message, 2, at=start), customs.receipt_xml(other, 120, at=start),
              forged, customs.receipt_xml(message, 120, at=start + timedelta(milliseconds=1)),
              b"<not xml", customs.receipt_xml(nobody, 800),
              customs.receipt_xml(message, 800, at=start + timedelta(milliseconds=2)),
              customs.receipt_xml(message, 120, at=start + timedelta(milliseconds=1))]  # a repeat, in the batch
    response = await _send_batch(customs, bodies)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["status"], r.get("outcome") or r["code"]) for r in results] == [
        (200, "recorded"), (200, "applied"), (422, "receipt_signature_invalid"), (200, "applied"),
        (422, "receipt_malformed"), (404, "receipt_unknown_message"), (200, "applied"), (200, "late")]
    assert [r.get("declaration_status") for r in results if r["status"] == 200] == \
        ["filed", "accepted", "accepted", "released", "released"]  # one declaration's receipts in the order given
    assert (await customs.reload(first.id)).status == "released"
    assert (await customs.reload(second.id)).status == "accepted"
    kept = await _all_receipts(customs)
    assert sorted(r.error_code for r in kept if r.outcome == "refused") == \
        ["receipt_malformed", "receipt_signature_invalid", "receipt_unknown_message"]
    assert len(kept) == len(bodies)
    assert [r.outcome for r in await _receipts(customs, first.id)] == ["recorded", "applied", "applied", "late"]


async def test_a_batch_posted_again_changes_nothing(customs):
    declaration = await customs.file(mail(new_order_id()))
    [message] = await customs.messages(declaration.id)
    start = customs.config.now()
    bodies = [customs.receipt_xml(message, status, at=start + timedelta(milliseconds=n))
              for n, status in enumerate((2, 120, 800))]
    first = (await _send_batch(customs, bodies)).json()["results"]
    again = (await _send_batch(customs, bodies)).json()["results"]
    assert [r["outcome"] for r in first] == ["recorded", "applied", "applied"]
    assert [r["outcome"] for r in again] == ["late", "late", "duplicate"]  # only the last one ranks as high
    assert (await customs.reload(declaration.id)).status == "released"
    assert len(await released_once_relayed(customs, declaration.order_id)) == 1


async def released_once_relayed(customs, order_id: str) -> list:
    """The order's declaration.released events once the relay has published everything written (it runs on its own
    schedule: right after the answers, the outbox may still hold them)."""
    await eventually(lambda: _outbox_empty(customs))
    return await customs.published(order_id, "declaration.released")


async def _outbox_empty(customs) -> bool:
    return await unsent_count(customs.runtime.db, customs.runtime.tables.outbox) == 0


async def test_a_batch_needs_the_authoritys_key_and_a_sound_body(customs):
    declaration = await customs.file(mail(new_order_id()))
    [message] = await customs.messages(declaration.id)
    broker = await customs.key("broker")
    assert (await _send_batch(customs, [customs.receipt_xml(message, 2)], headers=broker)).status_code == 403
    authority = await customs.key("authority", "customs-authority")
    for body, field in (({"receipts": []}, "receipts"), ({"receipts": ["x" * 8] * 101}, "receipts"),
                        ({"receipts": ["PD94bWw=", "not base64!"]}, "receipts[1]"), ({}, "receipts")):
        response = await customs.client.post("/v1/receipts/batch", headers=authority, json=body)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["field"] == field, response.text
    assert await _all_receipts(customs) == []


async def test_a_batch_whose_declaration_changed_concurrently_is_applied_one_receipt_at_a_time(customs, monkeypatch):
    declaration = await customs.file(mail(new_order_id()))
    [message] = await customs.messages(declaration.id)
    start = customs.config.now()
    bodies = [customs.receipt_xml(message, status, at=start + timedelta(milliseconds=n))
              for n, status in enumerate((2, 120, 800))]

    async def lost_a_race(*_args, **_kwargs):
        raise StaleDeclaration(declaration.id)  # a broker changed the declaration under the shared transaction

    monkeypatch.setattr(receipts_batch, "_apply_together", lost_a_race)
    results = (await _send_batch(customs, bodies)).json()["results"]
    assert [(r["status"], r["outcome"]) for r in results] == [(200, "recorded"), (200, "applied"), (200, "applied")]
    assert (await customs.reload(declaration.id)).status == "released"
