"""Consumer batches: one fetch is one transaction whose reads are made ahead, whose inserts and declaration updates
go out together; what the batch read ahead is used only while it is still exact, and a held update that finds its
declaration changed sends the batch through the kit's message-by-message path. The consumers are driven by hand
here, so that a test decides what one batch holds."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from services.customs.consumers import build_handlers, build_prefetchers
from services.customs.models import AuditEntry, Declaration, tables
from shared.consumer import build_consumers
from shared.contract.envelope import Envelope
from shared.contract.events import Event
from shared.contract.parcel import Party
from tests.customs.domain.factories import line, party, payment
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
    return party(name=f"Buyer {n}", phone=f"+86 138 0000 {n:04d}", id_type=None, id_number=None)


def split(statements: list[str]) -> bool:
    """Whether the batch went the message-by-message way (a savepoint per message)."""
    return any(s.startswith("SAVEPOINT") for s in statements)


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_a_batch_of_orders_then_of_their_waybills_decides_each_parcel_in_a_few_statements(customs):
    mails = [new_order_id() for _ in range(4)]
    shops = [new_order_id() for _ in range(4)]
    # A buyer each: a buyer's history read ahead is used only until the batch writes a declaration of that buyer.
    orders = ([mail(o, consignee=_buyer(n)) for n, o in enumerate(mails)]
              + [accepted(o, consignee=_buyer(n), payment=payment(payer_name=f"Buyer {n}", payer_id_number=None))
                 for n, o in enumerate(shops, start=len(mails))])
    filing = await handle_one_batch(customs, orders)
    assert not split(filing)
    assert await statuses(customs, mails + shops) == ["released"] * 4 + ["accepted"] * 4
    for order_id in mails:
        assert await emitted(customs, order_id) == ["declaration.filed", "declaration.released"]
    # Lock, inbox, two read-aheads, one insert per table, the inbox rows: not one statement more per order.
    assert len(filing) <= 12

    documents = await handle_one_batch(customs, [waybill_for(o) for o in orders])
    assert not split(documents)
    assert await statuses(customs, mails + shops) == ["released"] * 8
    for order_id in shops:
        assert await emitted(customs, order_id) == ["declaration.filed", "declaration.released"]
        assert sorted(d.kind for d in await customs.documents(order_id)) == ["order", "payment", "waybill"]
    for order_id in mails:  # decided already: the waybill only joins the file
        assert await emitted(customs, order_id) == ["declaration.filed", "declaration.released"]
    # Lock, inbox, three read-aheads, the inserts, the four releases in one update, the inbox rows.
    assert len(documents) <= 12


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_two_orders_of_one_buyer_in_one_batch_see_each_other_as_a_split_purchase(customs):
    first, second = sorted(new_order_id() for _ in range(2))  # the batch handles parcels in order id order
    six_hundred = dict(lines=[line(quantity=Decimal("6"), total_price=Decimal("600"))], goods_value=Decimal("600"),
                       amount_paid=Decimal("600"))
    # Both buyers' histories are read ahead empty; the second must still count the first, filed just before it.
    statements = await handle_one_batch(customs, [mail(second, **six_hundred), mail(first, **six_hundred)])
    assert not split(statements)
    assert await statuses(customs, [first, second]) == ["released", "manual_review"]
    assert await emitted(customs, second) == ["declaration.filed", "declaration.held"]


@pytest.mark.parametrize("customs_overrides", [{**BY_HAND, "policy": {"ecommerce_annual_limit_cny": "150"}}])
async def test_two_waybills_of_one_buyer_in_one_batch_count_the_first_release_towards_the_annual_limit(customs):
    first, second = sorted(new_order_id() for _ in range(2))
    orders = [accepted(order_id, payment=payment()) for order_id in (first, second)]  # 100 CNY each
    await handle_one_batch(customs, orders)
    assert await statuses(customs, [first, second]) == ["accepted", "accepted"]
    # The buyer's history is read ahead with nothing cleared; the first release must count for the second.
    statements = await handle_one_batch(customs, [waybill_for(o) for o in reversed(orders)])
    assert not split(statements)
    assert await statuses(customs, [first, second]) == ["released", "manual_review"]
    second_declaration = await customs.declaration(second)
    async with customs.runtime.db.reader() as session:
        trail = (await session.execute(select(AuditEntry.action).where(
            AuditEntry.declaration_id == second_declaration.id).order_by(AuditEntry.id))).scalars().all()
    assert trail == ["file", "refer_to_review"]


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_an_order_with_its_payment_or_its_cancellation_in_one_batch(customs):
    paid_first, cancelled_after = sorted(new_order_id() for _ in range(2))
    await handle_one_batch(customs, [paid(paid_first), accepted(paid_first), accepted(cancelled_after),
                                     cancelled(cancelled_after, "changed my mind")])
    assert await statuses(customs, [paid_first, cancelled_after]) == ["accepted", "cancelled"]
    assert await emitted(customs, cancelled_after) == ["declaration.filed", "declaration.cancelled"]
    order = accepted(paid_first)
    await handle_one_batch(customs, [waybill_for(order), waybill_for(accepted(cancelled_after))])
    assert await statuses(customs, [paid_first, cancelled_after]) == ["released", "cancelled"]
    assert await emitted(customs, paid_first) == ["declaration.filed", "declaration.released"]


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_a_declaration_changed_after_the_batch_read_it_sends_the_batch_one_by_one(customs):
    order_ids = sorted(new_order_id() for _ in range(3))
    orders = [accepted(o, payment=payment()) for o in order_ids]
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
    assert await statuses(customs, order_ids) == ["released"] * 3
    for order_id in order_ids:
        assert await emitted(customs, order_id) == ["declaration.filed", "declaration.released"]
    async with customs.runtime.db.reader() as session:
        releases = (await session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "release"))).scalar_one()
    assert releases == 3


@pytest.mark.parametrize("customs_overrides", [BY_HAND])
async def test_an_order_accepted_twice_in_one_batch_opens_one_declaration(customs):
    order_id, other = sorted(new_order_id() for _ in range(2))
    order = mail(order_id)
    statements = await handle_one_batch(customs, [order, mail(other), order])
    assert not split(statements)
    assert await statuses(customs, [order_id, other]) == ["released", "released"]
    assert await emitted(customs, order_id) == ["declaration.filed", "declaration.released"]

