"""The repository's hot-path queries against the database (SQLite, or PostgreSQL with SILKGATE_TEST_POSTGRES_URL),
and one parcel's events in two transactions at once (the consumers lock the parcel first)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select, update

from services.customs.intake import document_row, open_declaration, receive_payment, receive_waybill
from services.customs.models import AuditEntry, Declaration, Document, EarlyCancellation
from services.customs.repository import DeclarationRepository, DocumentBody, OrderArrivals
from services.customs.repository_draft import DraftRepository
from services.customs.repository_quota import QuotaRepository
from services.customs.service import SYSTEM, audit_entry, outbox_emitter
from shared.consumer_messages import lock_parcels
from shared.contract.events import DeclarationFiledV2, OrderAccepted, PaymentRecorded
from tests.customs.domain.factories import line
from tests.customs.events import accepted, mail, new_order_id, paid, waybill_for

# The deadline worker must not act on the declarations these tests leave waiting.
QUIET_WORKER = {"deadline_check_interval_s": 3600}
T0 = datetime(2025, 3, 1, 9, tzinfo=UTC)


def _declaration(order_id: str, **values) -> Declaration:
    """A declaration row as filing builds it; the tests set what they look at."""
    return Declaration(**{
        "id": f"dcl_{order_id[-24:]}", "order_id": order_id, "merchant_code": "M-KASHGAR", "merchant_order_no": "SO-1",
        "channel": "ecommerce", "direction": "import", "form": "inventory_list", "trade_mode": "9610",
        "lane": "standard", "lane_rank": 1, "status": "filed", "ceb_code": 2, "value_cny": Decimal("100"),
        "taxable_value_cny": Decimal("100"), "counts_towards_annual": False, "buyer_key": "buyer-1", "parcel": {},
        "correlation_id": f"corr-{order_id}", "awaiting_documents": False, "needs_broker": False, "filings": 1,
        "opened_at": T0, "version": 1,
        "updated_at": T0, **values,
    })


async def _insert(customs, *declarations: Declaration) -> None:
    async with customs.runtime.db.transaction() as session:
        for declaration in declarations:
            await DeclarationRepository(session).insert_declaration(declaration, [])


def _document(order_id: str, kind: str, at: datetime, declaration_id: str | None = None) -> dict:
    return document_row(order_id, declaration_id, kind=kind, source=f"silkgate.test.{kind}.v1", event_id=None,
                        now=at, body={"kind": kind, "at": at.isoformat()})


# ── what is already here when an order comes ──────────────────────────────


@pytest.mark.parametrize("customs_overrides", [QUIET_WORKER])
async def test_order_arrivals_of_an_order_nobody_has_seen_are_empty(customs):
    async with customs.runtime.db.transaction() as session:
        assert await DeclarationRepository(session).order_arrivals(new_order_id()) == OrderArrivals(None, None, 0)


@pytest.mark.parametrize("customs_overrides", [QUIET_WORKER])
async def test_order_arrivals_count_documents_kept_for_the_order_and_the_cancellation_that_came_first(customs):
    order_id, other = new_order_id(), new_order_id()
    async with customs.runtime.db.transaction() as session:
        repo = DeclarationRepository(session)
        await repo.add_document(_document(order_id, "payment", T0))
        await repo.add_document(_document(order_id, "waybill", T0))
        await repo.add_document(_document(other, "waybill", T0))
        await repo.add_early_cancellation(EarlyCancellation(order_id=order_id, merchant_code="M", reason="",
                                                            cancelled_at=T0, received_at=T0))
        assert await repo.order_arrivals(order_id) == OrderArrivals(None, "", 2)  # an empty reason is a reason
        await repo.drop_early_cancellation(order_id)
        assert await repo.order_arrivals(order_id) == OrderArrivals(None, None, 2)


@pytest.mark.parametrize("customs_overrides", [QUIET_WORKER])
async def test_order_arrivals_name_the_declaration_and_no_longer_count_attached_documents(customs):
    order_id = new_order_id()
    declaration = _declaration(order_id)
    await _insert(customs, declaration)
    async with customs.runtime.db.transaction() as session:
        repo = DeclarationRepository(session)
        await repo.add_document(_document(order_id, "waybill", T0))
        await repo.attach_buffered_documents(order_id=order_id, declaration_id=declaration.id)
        assert await repo.order_arrivals(order_id) == OrderArrivals(declaration.id, None, 0)
        [attached] = await repo.documents(order_id)
        assert attached.declaration_id == declaration.id


# ── a buyer's history and the documents for the match ─────────────────────


@pytest.mark.parametrize("customs_overrides", [QUIET_WORKER])
async def test_buyer_history_gives_the_recent_declarations_of_the_channel_newest_first(customs):
    since = T0 - timedelta(hours=24)
    await _insert(
        customs,
        _declaration(new_order_id(), opened_at=T0 - timedelta(hours=2), taxable_value_cny=Decimal("200")),
        _declaration(new_order_id(), opened_at=T0 - timedelta(hours=1), taxable_value_cny=Decimal("300")),
        _declaration(new_order_id(), opened_at=T0 - timedelta(hours=25)),  # outside the window
        _declaration(new_order_id(), opened_at=T0 - timedelta(hours=1), status="cancelled", ceb_code=899),
        _declaration(new_order_id(), opened_at=T0 - timedelta(hours=1), buyer_key="buyer-2"),
        _declaration(new_order_id(), opened_at=T0 - timedelta(hours=1), channel="mail", value_cny=Decimal("7")),
    )
    async with customs.runtime.db.reader() as session:
        repo = DeclarationRepository(session)
        ecommerce = await repo.buyer_history(buyer_key="buyer-1", channel="ecommerce", since=since,
                                             exclude_id="dcl_none")
        assert [(at, value) for at, value in ecommerce] == [
            (T0 - timedelta(hours=1), Decimal("300.00")), (T0 - timedelta(hours=2), Decimal("200.00"))]
        mail_history = await repo.buyer_history(buyer_key="buyer-1", channel="mail", since=since,
                                                exclude_id="dcl_none")
        assert [value for _, value in mail_history] == [Decimal("7.00")]  # the goods value, for mail


@pytest.mark.parametrize("customs_overrides", [QUIET_WORKER])
async def test_the_quota_reserves_up_to_the_limit_and_gives_back(customs):
    async with customs.runtime.db.transaction() as session:
        repo = QuotaRepository(session)
        assert await repo.quota_reserved(buyer_key="b", year=2025) == 0
        assert await repo.reserve_quota(buyer_key="b", year=2025, fen=2_000_000, limit_fen=2_600_000, now=T0)
        assert not await repo.reserve_quota(buyer_key="b", year=2025, fen=600_001, limit_fen=2_600_000, now=T0)
        assert await repo.reserve_quota(buyer_key="b", year=2025, fen=600_000, limit_fen=2_600_000, now=T0)
        assert await repo.reserve_quota(buyer_key="b", year=2026, fen=1, limit_fen=2_600_000, now=T0)
        await repo.release_quota(buyer_key="b", year=2025, fen=100, now=T0)
        assert await repo.quota_reserved(buyer_key="b", year=2025) == 2_599_900
        assert await repo.quota_reserved(buyer_key="other", year=2025) == 0


@pytest.mark.parametrize("customs_overrides", [QUIET_WORKER])
async def test_match_documents_are_the_orders_documents_oldest_first(customs):
    order_id = new_order_id()
    async with customs.runtime.db.transaction() as session:
        repo = DeclarationRepository(session)
        await repo.add_document(_document(order_id, "waybill", T0 + timedelta(seconds=2)))
        await repo.add_document(_document(order_id, "payment", T0))
        await repo.add_document(_document(order_id, "order", T0 + timedelta(seconds=2)))
        await repo.add_document(_document(new_order_id(), "order", T0))
        documents = await repo.match_documents(order_id)
    assert [d.kind for d in documents] == ["payment", "waybill", "order"]  # same time: in the order received
    assert documents[0] == DocumentBody("payment", "silkgate.test.payment.v1",
                                        {"kind": "payment", "at": T0.isoformat()})


# ── a new declaration's rows, held until it is decided ────────────────────


@pytest.mark.parametrize("customs_overrides", [QUIET_WORKER])
async def test_a_draft_holds_the_new_declarations_rows_and_writes_them_as_decided(customs):
    order_id = new_order_id()
    declaration = _declaration(order_id)
    lines = [{"declaration_id": declaration.id, "line_no": 1, "sku": "TS-1", "name": "T-shirt", "hs_code": "6109100000",
              "quantity": Decimal("1"), "unit": "PCE", "unit_price": Decimal("100"), "total_price": Decimal("100"),
              "currency": "CNY", "origin_country": "KZ", "net_weight_kg": Decimal("0.2")}]
    async with customs.runtime.db.transaction() as session:
        repo = DeclarationRepository(session)
        await repo.add_document(_document(order_id, "waybill", T0))  # came before the order
        draft = DraftRepository(session, declaration, lines, documents_came_first=True)
        await draft.append_audit(audit_entry(declaration.id, SYSTEM, action="open", from_status=None,
                                             to_status="pending_documents", ceb_code=1, at=T0))
        await draft.add_document(_document(order_id, "order", T0 + timedelta(seconds=1), declaration.id))
        assert [d.kind for d in await draft.match_documents(order_id)] == ["waybill", "order"]
        assert await draft.change(declaration, status="held", ceb_code=1) is True
        assert (declaration.status, declaration.version) == ("held", 2)
        assert await repo.get_by_order(order_id) is None  # nothing written yet
        await draft.write()
        stored = await repo.get_by_order(order_id)
        assert (stored.status, stored.ceb_code, stored.version) == ("held", 1, 2)
        assert [line.sku for line in await repo.lines(declaration.id)] == ["TS-1"]
        assert [e.action for e in await repo.audit_trail(declaration.id)] == ["open"]
        assert sorted(d.kind for d in await repo.documents(order_id)) == ["order", "waybill"]


@pytest.mark.parametrize("customs_overrides", [QUIET_WORKER])
async def test_a_draft_changes_other_declarations_in_the_database_on_their_version(customs):
    other = _declaration(new_order_id())
    await _insert(customs, other)
    async with customs.runtime.db.transaction() as session:
        draft = DraftRepository(session, _declaration(new_order_id()), [], documents_came_first=False)
        loaded = await draft.get(other.id)
        assert await draft.change(loaded, status="accepted", ceb_code=120) is True
        # Another transaction changes it meanwhile (as a broker's decision would).
        table = Declaration.__table__
        await session.execute(update(table).where(table.c.id == other.id).values(version=9))
        assert await draft.change(loaded, status="released", ceb_code=800) is False
        assert loaded.status == "accepted"
    assert (await customs.declaration(other.order_id)).status == "accepted"


async def test_a_new_declaration_is_written_with_one_insert_per_table(customs):
    """Opening a mail parcel whose waybill came first files it at once: the declaration is written already filed,
    with its audit entries, its message and its event, one insert per table."""
    order_id = new_order_id()
    order = mail(order_id)
    await customs.attach(waybill_for(order))  # came first: kept by order id
    inserts: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if statement.startswith("INSERT INTO"):
            inserts.append(statement.split()[2])

    engine = customs.runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        declaration = await customs.file(order, documents=False)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert sorted(inserts) == ["audit_trail", "declaration_lines", "declarations", "documents", "messages", "outbox"]
    assert (declaration.status, declaration.version) == ("filed", 2)
    async with customs.runtime.db.reader() as session:
        repo = DeclarationRepository(session)
        stored = await repo.get_by_order(order_id)
        assert (stored.status, stored.version, stored.tracking_number) == ("filed", 2, declaration.tracking_number)
        trail = await repo.audit_trail(declaration.id)
    assert [(e.action, e.from_status, e.to_status) for e in trail] == [
        ("open", None, "pending_documents"), ("file", "pending_documents", "filed")]
    await customs.wait_published(order_id, "declaration.filed")
    published = await customs.published(order_id)
    assert [e.type for e in published] == [DeclarationFiledV2.event_type()]
    assert {e.correlation_id for e in published} == {f"corr-{order_id}"}


# ── one order's events in two transactions at once ────────────────────────


async def _handle(customs, event, session) -> None:
    """What the consumer does with the event, in the given transaction: lock the parcel, then handle it."""
    await lock_parcels(session, [event.order_id])
    repo, emit = DeclarationRepository(session), outbox_emitter(customs.runtime.outbox, session)
    if isinstance(event, OrderAccepted):
        await open_declaration(repo, customs.config, event, correlation_id=f"corr-{event.order_id}", event_id=None,
                               emit=emit)
    else:
        receive = receive_payment if isinstance(event, PaymentRecorded) else receive_waybill
        await receive(repo, customs.config, event, event_id=None, emit=emit)


async def _handle_alone(customs, event) -> None:
    async with customs.runtime.db.transaction() as session:
        await _handle(customs, event, session)


async def _while_holding(customs, first, second) -> None:
    """Handle `first` in a transaction and start `second` in another before the first commits: the second must
    wait for the first (PostgreSQL: the parcel's lock; SQLite: one writer at a time), then see what it did."""
    async with customs.runtime.db.transaction() as session:
        await _handle(customs, first, session)
        other = asyncio.create_task(_handle_alone(customs, second))
        await asyncio.sleep(0.3)
        assert not other.done(), "the second transaction went ahead without the first's rows"
    await asyncio.wait_for(other, timeout=10)


@pytest.mark.parametrize("customs_overrides", [QUIET_WORKER])
@pytest.mark.parametrize("first", ["order", "waybill"])
async def test_an_order_and_its_waybill_in_two_transactions_at_once_end_in_one_filing(customs, first):
    order_id = new_order_id()
    order = mail(order_id)
    events = [order, waybill_for(order)] if first == "order" else [waybill_for(order), order]
    await _while_holding(customs, *events)
    declaration = await customs.declaration(order_id)
    assert (declaration.status, declaration.awaiting_documents) == ("filed", False)
    assert sorted(d.kind for d in await customs.documents(order_id)) == ["order", "waybill"]


@pytest.mark.parametrize("customs_overrides", [QUIET_WORKER])
async def test_two_documents_completing_a_declaration_at_once_end_in_one_filing(customs):
    order_id = new_order_id()
    order = accepted(order_id, lines=[line()])
    await _handle_alone(customs, order)
    await _while_holding(customs, paid(order_id), waybill_for(order))
    declaration = await customs.declaration(order_id)
    assert declaration.status == "filed"
    async with customs.runtime.db.reader() as session:
        decisions = (await session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.declaration_id == declaration.id, AuditEntry.action == "file"))).scalar_one()
        documents = (await session.execute(
            select(func.count()).select_from(Document).where(Document.order_id == order_id))).scalar_one()
    assert (decisions, documents) == (1, 3)
