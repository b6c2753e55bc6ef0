"""POST /v1/receipts/batch applied set-based: the same outcomes as one receipt at a time, in the order given, with the
batch's reads and writes made once for all of its receipts."""

from __future__ import annotations

import base64
from datetime import timedelta

from sqlalchemy import event
from sqlalchemy.orm.attributes import set_committed_value

from services.customs.intake import cancel_order
from services.customs.repository import DeclarationRepository
from services.customs.repository_receipts import ReceiptRepository
from services.customs.service import outbox_emitter
from tests.customs.events import accepted, cancelled, mail, new_order_id
from tests.customs.test_receipts import _receipts


async def _send_batch(customs, bodies):
    if customs._authority_headers is None:
        customs._authority_headers = await customs.key("authority", "customs-authority")
    response = await customs.client.post("/v1/receipts/batch", headers=customs._authority_headers,
                                         json={"receipts": [base64.b64encode(body).decode() for body in bodies]})
    assert response.status_code == 200, response.text
    return response.json()["results"]


async def test_an_orders_answers_repeated_within_and_across_batches_count_once(customs):
    declaration = await customs.file(accepted(new_order_id()))
    order = next(m for m in await customs.messages(declaration.id) if m.purpose == "order")
    start = customs.config.now()
    declaring, taken = (customs.receipt_xml(order, status, at=start + timedelta(milliseconds=n))
                        for n, status in enumerate((2, 120)))
    first = await _send_batch(customs, [declaring, taken, taken, declaring])
    assert [r["outcome"] for r in first] == ["recorded", "recorded", "duplicate", "duplicate"]
    again = await _send_batch(customs, [taken])
    assert [r["outcome"] for r in again] == ["duplicate"]
    assert [r.outcome for r in await _receipts(customs, declaration.id)] == \
        ["recorded", "recorded", "duplicate", "duplicate", "duplicate"]  # kept in the order given


async def test_a_batch_files_the_waiting_cancellation_once_and_applies_its_answer(customs):
    declaration = await customs.file(accepted(new_order_id()))
    async with customs.runtime.db.transaction() as session:
        await cancel_order(DeclarationRepository(session), customs.config, cancelled(declaration.order_id),
                           emit=outbox_emitter(customs.runtime.outbox, session))
    filing = next(m for m in await customs.messages(declaration.id) if m.purpose == "declaration")
    start = customs.config.now()
    numbered = customs.receipt_xml(filing, 120, at=start)
    # Two receipts bringing the numbers in one batch: the cancellation is filed once.
    results = await _send_batch(customs, [numbered, customs.receipt_xml(filing, 120, at=start)])
    assert [(r["outcome"], r["declaration_status"]) for r in results] == \
        [("recorded", "cancel_requested"), ("duplicate", "cancel_requested")]
    cancels = [m for m in await customs.messages(declaration.id) if m.purpose == "cancel"]
    assert [m.message_type for m in cancels] == ["CEB623"]
    closed = customs.receipt_xml(cancels[0], 899, at=start + timedelta(seconds=1))
    results = await _send_batch(customs, [closed, closed])
    assert [(r["outcome"], r["declaration_status"]) for r in results] == \
        [("applied", "cancelled"), ("duplicate", "cancelled")]
    assert (await customs.reload(declaration.id)).status == "cancelled"
    assert await customs.wait_published(declaration.order_id, "declaration.cancelled")


async def test_a_declaration_changed_after_the_batch_read_it_sends_the_batch_one_receipt_at_a_time(customs, monkeypatch):
    first = await customs.file(mail(new_order_id()))
    second = await customs.file(mail(new_order_id()))
    [one] = await customs.messages(first.id)
    [other] = await customs.messages(second.id)
    start = customs.config.now()
    bodies = [customs.receipt_xml(one, 120, at=start), customs.receipt_xml(other, 120, at=start),
              customs.receipt_xml(one, 800, at=start + timedelta(milliseconds=1))]
    read = ReceiptRepository.declarations
    races = []

    async def read_then_lose_a_race(self, ids):
        found = await read(self, ids)
        if not races:  # the first (set-based) attempt: someone changes the first declaration after our read
            races.append(first.id)
            set_committed_value(found[first.id], "version", found[first.id].version - 1)
        return found

    monkeypatch.setattr(ReceiptRepository, "declarations", read_then_lose_a_race)
    results = await _send_batch(customs, bodies)
    assert races == [first.id]
    assert [(r["status"], r["outcome"], r["declaration_status"]) for r in results] == \
        [(200, "applied", "accepted"), (200, "applied", "accepted"), (200, "applied", "released")]
    assert (await customs.reload(first.id)).status == "released"
    assert (await customs.reload(second.id)).status == "accepted"
    assert [r.outcome for r in await _receipts(customs, first.id)] == ["applied", "applied"]  # nothing doubled


async def test_a_batch_reads_and_keeps_its_receipts_in_a_statement_each_whatever_its_size(customs):
    declarations = [await customs.file(mail(new_order_id())) for _ in range(4)]
    messages = [(await customs.messages(d.id))[0] for d in declarations]
    start = customs.config.now()
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.split()))

    engine = customs.runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for step, statuses in enumerate(((2,), (120, 800))):
            statements.clear()
            bodies = [customs.receipt_xml(m, status, at=start + timedelta(milliseconds=10 * step + n))
                      for m in messages for n, status in enumerate(statuses)]
            results = await _send_batch(customs, bodies)
            assert {r["outcome"] for r in results} <= {"recorded", "applied"}, results
            ours = [s for s in statements if "messages.guid IN" in s or "declarations.id IN" in s
                    or s.startswith(("INSERT INTO receipts", "UPDATE declarations"))]
            # One read of the messages, one of the declarations, one versioned update, one insert of receipts.
            assert len(ours) == 4, ours
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert {(await customs.reload(d.id)).status for d in declarations} == {"released"}
