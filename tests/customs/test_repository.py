"""The repository's hot-path queries against the database (SQLite, or PostgreSQL with SILKGATE_TEST_POSTGRES_URL),
and one parcel's events in two transactions at once (the consumers lock the parcel first)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select, update

from services.customs.filing import document_row, file_declaration, receive_payment, receive_waybill
from services.customs.models import AuditEntry, Declaration, Document, EarlyCancellation
from services.customs.repository import DeclarationRepository, DocumentBody, OrderArrivals
from services.customs.repository_draft import DraftRepository
from services.customs.service import SYSTEM, audit_entry, outbox_emitter
from shared.consumer import lock_parcels
from shared.contract.events import DeclarationFiled, DeclarationReleased, OrderAccepted, PaymentRecorded
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
        "lane": "standard", "lane_rank": 1, "status": "accepted", "ceb_code": 120, "value_cny": Decimal("100"),
        "taxable_value_cny": Decimal("100"), "counts_towards_annual": False, "buyer_key": "buyer-1", "parcel": {},
        "correlation_id": f"corr-{order_id}", "awaiting_documents": False, "opened_at": T0, "version": 1,
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
                                             exclude_id="dcl_none", year_start=None)
        assert [(at, value) for at, value in ecommerce.recent] == [
            (T0 - timedelta(hours=1), Decimal("300.00")), (T0 - timedelta(hours=2), Decimal("200.00"))]
        assert ecommerce.annual_total_cny == 0
        mail_history = await repo.buyer_history(buyer_key="buyer-1", channel="mail", since=since,
                                                exclude_id="dcl_none", year_start=None)
        assert [value for _, value in mail_history.recent] == [Decimal("7.00")]  # the goods value, for mail


@pytest.mark.parametrize("customs_overrides", [QUIET_WORKER])
async def test_buyer_history_adds_up_this_years_cleared_ecommerce_imports_as_the_annual_total_does(customs):
    year_start = datetime(2024, 12, 31, 16, tzinfo=UTC)  # 1 January 2025 in China
    cleared = {"status": "released", "ceb_code": 800, "counts_towards_annual": True,
               "opened_at": T0 - timedelta(days=30)}
    excluded = _declaration(new_order_id(), **cleared, decided_at=T0, taxable_value_cny=Decimal("1000"))
    await _insert(
        customs,
        _declaration(new_order_id(), **cleared, decided_at=T0 - timedelta(days=30), taxable_value_cny=Decimal("4500")),
        _declaration(new_order_id(), **{**cleared, "status": "closed", "ceb_code": 899}, decided_at=T0,
                     taxable_value_cny=Decimal("0.10")),
        _declaration(new_order_id(), **cleared, decided_at=year_start - timedelta(seconds=1)),  # last year
        _declaration(new_order_id(), **{**cleared, "counts_towards_annual": False}, decided_at=T0),
        _declaration(new_order_id(), **{**cleared, "direction": "export"}, decided_at=T0),
        _declaration(new_order_id(), status="manual_review", ceb_code=300, opened_at=T0),  # recent, not cleared
        excluded,
    )
    async with customs.runtime.db.reader() as session:
        repo = DeclarationRepository(session)
        history = await repo.buyer_history(buyer_key="buyer-1", channel="ecommerce", since=T0 - timedelta(hours=24),
                                           exclude_id=excluded.id, year_start=year_start)
        annual = await repo.annual_total_cny(buyer_key="buyer-1", year_start=year_start, exclude_id=excluded.id)
    assert history.annual_total_cny == annual == Decimal("4500.10")
    assert [value for _, value in history.recent] == [Decimal("100.00")]


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
        await draft.append_audit(audit_entry(declaration.id, SYSTEM, action="file", from_status=None,
                                             to_status="accepted", ceb_code=120, at=T0))
        await draft.add_document(_document(order_id, "order", T0 + timedelta(seconds=1), declaration.id))
        assert [d.kind for d in await draft.match_documents(order_id)] == ["waybill", "order"]
        assert await draft.change(declaration, status="released", ceb_code=800) is True
        assert (declaration.status, declaration.version) == ("released", 2)
        assert await repo.get_by_order(order_id) is None  # nothing written yet
        await draft.write()
        stored = await repo.get_by_order(order_id)
        assert (stored.status, stored.ceb_code, stored.version) == ("released", 800, 2)
        assert [line.sku for line in await repo.lines(declaration.id)] == ["TS-1"]
        assert [e.action for e in await repo.audit_trail(declaration.id)] == ["file"]
        assert sorted(d.kind for d in await repo.documents(order_id)) == ["order", "waybill"]


@pytest.mark.parametrize("customs_overrides", [QUIET_WORKER])
async def test_a_draft_changes_other_declarations_in_the_database_on_their_version(customs):
    other = _declaration(new_order_id())
    await _insert(customs, other)
    async with customs.runtime.db.transaction() as session:
        draft = DraftRepository(session, _declaration(new_order_id()), [], documents_came_first=False)
        loaded = await draft.get(other.id)
        assert await draft.change(loaded, status="manual_review", ceb_code=300) is True
        # Another transaction changes it meanwhile (as a broker's decision would).
        table = Declaration.__table__
        await session.execute(update(table).where(table.c.id == other.id).values(version=9))
        assert await draft.change(loaded, status="released", ceb_code=800) is False
        assert loaded.status == "manual_review"
    assert (await customs.declaration(other.order_id)).status == "manual_review"


async def test_a_new_declaration_is_written_with_one_insert_per_table(customs):
    """Filing a mail parcel writes the declaration already released, with its audit entries and both events."""
    inserts: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        if statement.startswith("INSERT INTO"):
            inserts.append(statement.split()[2])

    engine = customs.runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        order_id = new_order_id()
        declaration = await customs.file(mail(order_id))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert sorted(inserts) == ["audit_trail", "declaration_lines", "declarations", "documents", "outbox"]
    assert (declaration.status, declaration.version) == ("released", 2)
    async with customs.runtime.db.reader() as session:
        repo = DeclarationRepository(session)
        stored = await repo.get_by_order(order_id)
        assert (stored.status, stored.version, stored.decided_by) == ("released", 2, "system")
        trail = await repo.audit_trail(declaration.id)
    assert [(e.action, e.from_status, e.to_status) for e in trail] == [
        ("file", None, "accepted"), ("release", "accepted", "released")]
    await customs.wait_published(order_id, "declaration.released")
    published = await customs.published(order_id)
    assert [e.type for e in published] == [DeclarationFiled.event_type(), DeclarationReleased.event_type()]
    assert {e.correlation_id for e in published} == {f"corr-{order_id}"}


# ── one order's events in two transactions at once ────────────────────────


async def _handle(customs, event, session) -> None:
    """What the consumer does with the event, in the given transaction: lock the parcel, then handle it."""
    await lock_parcels(session, [event.order_id])
    repo, emit = DeclarationRepository(session), outbox_emitter(customs.runtime.outbox, session)
    if isinstance(event, OrderAccepted):
        await file_declaration(repo, customs.config, event, correlation_id=f"corr-{event.order_id}", event_id=None,
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
async def test_an_order_and_its_waybill_in_two_transactions_at_once_end_in_one_release(customs, first):
    order_id = new_order_id()
    order = accepted(order_id, payment=paid(order_id).payment)
    events = [order, waybill_for(order)] if first == "order" else [waybill_for(order), order]
    await _while_holding(customs, *events)
    declaration = await customs.declaration(order_id)
    assert (declaration.status, declaration.awaiting_documents) == ("released", False)
    assert sorted(d.kind for d in await customs.documents(order_id)) == ["order", "payment", "waybill"]


@pytest.mark.parametrize("customs_overrides", [QUIET_WORKER])
async def test_two_documents_completing_a_declaration_at_once_end_in_one_release(customs):
    order_id = new_order_id()
    order = accepted(order_id, lines=[line()])
    await _handle_alone(customs, order)
    await _while_holding(customs, paid(order_id), waybill_for(order))
    declaration = await customs.declaration(order_id)
    assert declaration.status == "released"
    async with customs.runtime.db.reader() as session:
        decisions = (await session.execute(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.declaration_id == declaration.id, AuditEntry.action == "release"))).scalar_one()
        documents = (await session.execute(
            select(func.count()).select_from(Document).where(Document.order_id == order_id))).scalar_one()
    assert (decisions, documents) == (1, 3)
