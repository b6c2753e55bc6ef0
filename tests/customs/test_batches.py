"""Consumer batches: one fetch is one transaction whose reads are made ahead, whose inserts and declaration updates
go out together; what the batch read ahead is used only while it is still exact, and a held update that finds its
declaration changed sends the batch through the kit's message-by-message path. The consumers are driven by hand
here, so that a test decides what one batch holds."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from services.customs.consumers import build_handlers, build_prefetchers
from services.customs.models import AuditEntry, Declaration, EarlyCancellation, Message, tables
from shared.consumer import build_consumers
from shared.contract.envelope import Envelope
from shared.contract.events import Event
from shared.contract.parcel import Party
from tests.customs.domain.factories import line, party
from tests.customs.events import accepted, cancelled, mail, new_order_id, paid, waybill_for
from tests.support import handle_as_one_batch

# No background consumers or workers: each test hands the consumer its batches.
BY_HAND = {"run_workers": False}


async def handle_one_batch(customs, events: list[Event], *, disturb=None) -> list[str]:
    """Publish the events, fetch them as one batch of their stream and handle it; returns the statements it took.
    `disturb(session)` runs right after the batch read ahead (and only then: the one-by-one path reads nothing
    ahead)."""
    runtime = customs.runtime
    for event_ in events:
        await customs.publish(event_, subject=event_.order_id)
    [source] = {type(event_).SERVICE for event_ in events}  # one batch comes from one stream
    prefetchers = build_prefetchers(customs.config)
    if disturb is not None:
        for event_type, prefetch in list(prefetchers.items()):
            prefetchers[event_type] = _then(prefetch, disturb)
    [consumer] = [c for c in build_consumers(service="customs", handlers=build_handlers(customs.config),
                                             db=runtime.db, bus=runtime.bus, inbox=runtime.inbox,
                                             outbox=runtime.outbox, settings=runtime.consumer_settings(),
                                             prefetchers=prefetchers)
                  if c.stream == f"SILKGATE_{source.upper()}"]
    statements = await handle_as_one_batch(consumer, len(events), runtime.db.engine)
    return statements


def _then(prefetch, disturb):
    async def prefetch_then_disturb(session, scope, contexts):
        await prefetch(session, scope, contexts)
        await disturb(session)

    return prefetch_then_disturb


async def emitted(customs, order_id: str) -> list[str]:
    """The names of the events customs put in its outbox for an order, in order."""
    async with customs.runtime.db.reader() as session:
        payloads = (await session.execute(select(tables.outbox.c.payload).order_by(tables.outbox.c.id))).scalars()
        envelopes = [Envelope.from_bytes(payload.encode()) for payload in payloads]
    return [".".join(e.type.split(".")[2:4]) for e in envelopes if e.subject == order_id]


async def statuses(customs, order_ids: list[str]) -> list[str | None]:
    return [d.status if d else None for d in [await customs.declaration(o) for o in order_ids]]


def _buyer(n: int) -> Party:
    """A buyer of their own, with a valid resident ID (an e-commerce import needs one)."""
    body = f"11010519800101{n:03d}"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2),
                                                       strict=True)) % 11]
    return party(name=f"Buyer {n}", phone=f"+86 138 0000 {n:04d}", id_type="resident_id", id_number=body + check)


def split(statements: list[str]) -> bool:
    """Whether the batch went the message-by-message way (a savepoint per message)."""
    return any(s.startswith("SAVEPOINT") for s in statements)


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_a_batch_of_orders_then_of_their_waybills_files_each_parcel_in_a_few_statements(customs):
    mails = [new_order_id() for _ in range(4)]
    shops = [new_order_id() for _ in range(4)]
    # A buyer each: a buyer's history read ahead is used only until the batch writes a declaration of that buyer.
    orders = ([mail(o, consignee=_buyer(n)) for n, o in enumerate(mails)]
              + [accepted(o, consignee=_buyer(n)) for n, o in enumerate(shops, start=len(mails))])
    payments = [paid(o, payer_name=f"Buyer {n}", payer_id_number=order.parcel.consignee.id_number)
                for n, (o, order) in enumerate(zip(shops, orders[4:], strict=True), start=len(mails))]
    opening = await handle_one_batch(customs, orders)
    assert not split(opening)
    assert await statuses(customs, mails + shops) == ["pending_documents"] * 8  # every channel files with its waybill
    assert len(opening) <= 12  # lock, inbox, the read-aheads, one insert per table, the inbox rows
    assert len(await handle_one_batch(customs, payments)) <= 12

    filing = await handle_one_batch(customs, [waybill_for(o) for o in orders])
    assert not split(filing)
    assert await statuses(customs, mails + shops) == ["filed"] * 8
    for order_id in mails + shops:
        assert await emitted(customs, order_id) == ["declaration.filed"]
    for order_id in shops:
        assert sorted(d.kind for d in await customs.documents(order_id)) == ["order", "payment", "waybill"]
    # Lock, inbox, the read-aheads (the buyers' quota rows locked), the inserts (quota rows and messages with
    # them), the eight filings in one update, the inbox rows: not one statement more per parcel.
    assert len(filing) <= 16


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_two_parcels_of_one_buyer_in_one_batch_see_each_other_as_a_split_purchase(customs):
    first, second = sorted(new_order_id() for _ in range(2))  # the batch handles parcels in order id order
    six_hundred = dict(lines=[line(quantity=Decimal("6"), total_price=Decimal("600"))], goods_value=Decimal("600"),
                       amount_paid=Decimal("600"))
    orders = [mail(second, **six_hundred), mail(first, **six_hundred)]
    await handle_one_batch(customs, orders)
    # The buyer's history is read ahead once for both; each counts the other (opened, not yet filed: a split
    # purchase does not wait for its parts to be filed one after the other).
    statements = await handle_one_batch(customs, [waybill_for(o) for o in orders])
    assert not split(statements)
    assert await statuses(customs, [first, second]) == ["held", "held"]
    assert await emitted(customs, first) == await emitted(customs, second) == ["declaration.held"]


@pytest.mark.parametrize("customs_overrides", [{**BY_HAND, "policy": {"ecommerce_annual_limit_cny": "150"}}])
async def test_two_filings_of_one_buyer_in_one_batch_share_the_annual_quota(customs):
    first, second = sorted(new_order_id() for _ in range(2))
    orders = [accepted(order_id) for order_id in (first, second)]  # 100 CNY each, one buyer
    await handle_one_batch(customs, [*orders, paid(first), paid(second)])
    assert await statuses(customs, [first, second]) == ["pending_documents", "pending_documents"]
    # The quota is read ahead at zero; the first filing's reservation must count for the second.
    statements = await handle_one_batch(customs, [waybill_for(o) for o in reversed(orders)])
    assert not split(statements)
    assert await statuses(customs, [first, second]) == ["filed", "held"]
    second_declaration = await customs.declaration(second)
    async with customs.runtime.db.reader() as session:
        trail = (await session.execute(select(AuditEntry.action).where(
            AuditEntry.declaration_id == second_declaration.id).order_by(AuditEntry.id))).scalars().all()
    assert trail == ["open", "hold"]
    assert (await customs.declaration(first)).quota_reserved_fen == 10000


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_an_order_with_its_payment_or_its_cancellation_in_one_batch(customs):
    paid_first, cancelled_after = sorted(new_order_id() for _ in range(2))
    await handle_one_batch(customs, [paid(paid_first), accepted(paid_first), accepted(cancelled_after),
                                     cancelled(cancelled_after, "changed my mind")])
    assert await statuses(customs, [paid_first, cancelled_after]) == ["pending_documents", "cancelled"]
    assert await emitted(customs, cancelled_after) == ["declaration.cancelled"]
    order = accepted(paid_first)
    await handle_one_batch(customs, [waybill_for(order), waybill_for(accepted(cancelled_after))])
    assert await statuses(customs, [paid_first, cancelled_after]) == ["filed", "cancelled"]
    assert await emitted(customs, paid_first) == ["declaration.filed"]


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_a_declaration_changed_after_the_batch_read_it_sends_the_batch_one_by_one(customs):
    order_ids = sorted(new_order_id() for _ in range(3))
    orders = [mail(o, consignee=_buyer(n)) for n, o in enumerate(order_ids)]
    await handle_one_batch(customs, orders)
    target = await customs.declaration(order_ids[1])

    async def someone_else_changes_it(session):
        # As a broker's or the deadline worker's update would, between the batch's read and its write: from another
        # transaction on PostgreSQL; on SQLite (one writer, which the batch is) inside the batch's own.
        table = Declaration.__table__
        change = update(table).where(table.c.id == target.id).values(version=table.c.version + 5)
        if customs.runtime.db.sqlite:
            await session.execute(change)
            return
        async with customs.runtime.db.engine.connect() as other:
            await other.execute(change)
            await other.commit()

    statements = await handle_one_batch(customs, [waybill_for(o) for o in orders], disturb=someone_else_changes_it)
    assert split(statements)  # the held update found another version: the batch was redone message by message
    assert await statuses(customs, order_ids) == ["filed"] * 3
    for order_id in order_ids:
        assert await emitted(customs, order_id) == ["declaration.filed"]
    async with customs.runtime.db.reader() as session:
        filings = (await session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "file"))).scalar_one()
    assert filings == 3


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_an_order_accepted_twice_in_one_batch_opens_one_declaration(customs):
    order_id, other = sorted(new_order_id() for _ in range(2))
    order = mail(order_id)
    statements = await handle_one_batch(customs, [order, mail(other), order])
    assert not split(statements)
    assert await statuses(customs, [order_id, other]) == ["pending_documents", "pending_documents"]
    async with customs.runtime.db.reader() as session:
        count = (await session.execute(select(func.count()).select_from(Declaration))).scalar_one()
    assert count == 2


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_orders_with_their_payments_in_one_batch_take_no_statement_of_their_own(customs):
    """The payment provider pays orders right after they are accepted: a batch holds both events of each parcel.
    The payment finds the declaration its order opened in the batch, and the order's documents, as read ahead."""
    shops = sorted(new_order_id() for _ in range(6))
    orders = [accepted(o, consignee=_buyer(n)) for n, o in enumerate(shops)]
    payments = [paid(o, payer_name=f"Buyer {n}", payer_id_number=order.parcel.consignee.id_number)
                for n, (o, order) in enumerate(zip(shops, orders, strict=True))]
    statements = await handle_one_batch(customs, [e for pair in zip(orders, payments, strict=True) for e in pair])
    assert not split(statements)
    assert await statuses(customs, shops) == ["pending_documents"] * 6  # the waybill is still to come
    assert len(statements) <= 12  # as a batch of orders alone: not one statement more per parcel
    for order_id in shops:
        assert sorted(d.kind for d in await customs.documents(order_id)) == ["order", "payment"]
    filing = await handle_one_batch(customs, [waybill_for(o) for o in orders])
    assert not split(filing)
    assert await statuses(customs, shops) == ["filed"] * 6
    for order_id in shops:
        assert await emitted(customs, order_id) == ["declaration.filed"]


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_an_order_its_payment_and_its_payment_again_in_one_batch_file_once_their_waybill_came_first(customs):
    """The waybill came first and waits; the batch opens the declaration (documents kept for it attached), takes the
    payment, files, and the repeated payment (a provider's retry) joins the file without a second filing."""
    order_id = new_order_id()
    order = accepted(order_id)
    await handle_one_batch(customs, [waybill_for(order)])
    assert await statuses(customs, [order_id]) == [None]
    payment = paid(order_id)
    statements = await handle_one_batch(customs, [order, payment, paid(order_id)])
    assert not split(statements)
    assert await statuses(customs, [order_id]) == ["filed"]
    assert await emitted(customs, order_id) == ["declaration.filed"]
    declaration = await customs.declaration(order_id)
    documents = await customs.documents(order_id)
    assert sorted(d.kind for d in documents) == ["order", "payment", "payment", "waybill"]
    assert {d.declaration_id for d in documents} == {declaration.id}  # the waybill kept for it was attached
    async with customs.runtime.db.reader() as session:
        filings = (await session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.declaration_id == declaration.id, AuditEntry.action == "file"))).scalar_one()
        messages = (await session.execute(select(func.count()).select_from(Message).where(
            Message.declaration_id == declaration.id))).scalar_one()
    assert (filings, messages) == (1, 2)  # CEB311 + CEB621, once
    assert declaration.version == 2  # opened, then filed once, each change version-checked in the batch's update


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_a_cancellation_before_its_order_in_one_batch_opens_it_cancelled(customs):
    order_id = new_order_id()
    statements = await handle_one_batch(customs, [cancelled(order_id, "out of stock"), mail(order_id)])
    assert not split(statements)
    assert await statuses(customs, [order_id]) == ["cancelled"]
    assert await emitted(customs, order_id) == ["declaration.cancelled"]
    async with customs.runtime.db.reader() as session:
        kept = (await session.execute(select(func.count()).select_from(EarlyCancellation).where(
            EarlyCancellation.order_id == order_id))).scalar_one()
    assert kept == 0  # the cancellation kept for the order went with its opening


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_two_parcels_of_one_buyer_opened_in_one_batch_after_their_waybills_see_each_other(customs):
    """Both are assessed as they open (their waybills came first): the second must count the first, written in the
    same batch after the buyer's history was read ahead."""
    first, second = sorted(new_order_id() for _ in range(2))
    six_hundred = {"lines": [line(quantity=Decimal(6), total_price=Decimal(600))], "goods_value": Decimal(600),
                   "amount_paid": Decimal(600)}
    orders = [mail(first, **six_hundred), mail(second, **six_hundred)]
    await handle_one_batch(customs, [waybill_for(o) for o in orders])
    statements = await handle_one_batch(customs, orders)
    assert not split(statements)
    assert await statuses(customs, [first, second]) == ["filed", "held"]
    assert await emitted(customs, second) == ["declaration.held"]


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_a_payment_before_its_order_in_one_batch_is_attached_to_the_declaration_the_order_opens(customs):
    order_id = new_order_id()
    order = accepted(order_id)
    statements = await handle_one_batch(customs, [paid(order_id), order])
    assert not split(statements)
    declaration = await customs.declaration(order_id)
    documents = await customs.documents(order_id)
    assert sorted(d.kind for d in documents) == ["order", "payment"]
    assert {d.declaration_id for d in documents} == {declaration.id}
    await handle_one_batch(customs, [waybill_for(order)])
    assert await statuses(customs, [order_id]) == ["filed"]
