"""Every query of the postal service. Nothing here commits: the caller's boundary does.

Rows that a concurrent worker could change under us are read `FOR UPDATE` (PostgreSQL; SQLite serialises writers
with BEGIN IMMEDIATE and ignores the clause), and work queues are claimed with `SKIP LOCKED` so two replicas share
them instead of queueing behind each other. Locks are taken in one order — waybill, dispatch, receptacle — except
that an open receptacle, which belongs to no dispatch yet, is locked before the dispatch it joins.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.postal.models import Dispatch, PendingEvent, Receptacle, Sequence, TrackingEvent, Waybill
from shared.db import utcnow


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _insert(session: AsyncSession, model: Any) -> Any:
    """INSERT with ON CONFLICT support for the session's dialect."""
    return (postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert)(model)


def _locked(query: Select, *, skip_locked: bool = False) -> Select:
    # populate_existing: a row already in the session is refreshed with what the lock let us read.
    return query.with_for_update(skip_locked=skip_locked).execution_options(populate_existing=True)


# ── sequences ──────────────────────────────────────────────────────────────────


async def allocate(session: AsyncSession, name: str, count: int = 1) -> int:
    """Take `count` consecutive numbers from sequence `name` (starting at 1); returns the first.

    One atomic `UPDATE … RETURNING` in the caller's transaction: the row lock (or SQLite's writer lock) holds off
    every other allocator until we commit, and a rollback gives the numbers back, so none is issued twice.
    """
    if count < 1:
        raise ValueError("count must be positive")
    bump = (
        update(Sequence)
        .where(Sequence.name == name)
        .values(next_value=Sequence.next_value + count, updated_at=utcnow())
        .returning(Sequence.next_value)
        .execution_options(synchronize_session=False)
    )
    end = (await session.execute(bump)).scalar_one_or_none()
    if end is None:
        # First use: create the row; a racing creator wins harmlessly (DO NOTHING), then both increment it.
        create = _insert(session, Sequence).values(name=name, next_value=1, updated_at=utcnow())
        await session.execute(create.on_conflict_do_nothing(index_elements=["name"]))
        end = (await session.execute(bump)).scalar_one()
    return end - count


# ── waybills ──────────────────────────────────────────────────────────────────


async def get_waybill(session: AsyncSession, tracking_number: str, *, lock: bool = False) -> Waybill | None:
    query = select(Waybill).where(Waybill.tracking_number == tracking_number)
    return (await session.execute(_locked(query) if lock else query)).scalar_one_or_none()


async def get_waybill_by_order(session: AsyncSession, order_id: str, *, lock: bool = False) -> Waybill | None:
    query = select(Waybill).where(Waybill.order_id == order_id)
    return (await session.execute(_locked(query) if lock else query)).scalar_one_or_none()


async def add_waybill(session: AsyncSession, waybill: Waybill) -> None:
    session.add(waybill)
    await session.flush()


async def waybills_in_receptacles(session: AsyncSession, receptacle_ids: Seq[str]) -> list[Waybill]:
    if not receptacle_ids:
        return []
    query = select(Waybill).where(Waybill.receptacle_id.in_(receptacle_ids)).order_by(Waybill.tracking_number)
    return list((await session.execute(query)).scalars())


async def waybills_of_dispatch(session: AsyncSession, dispatch_id: str, *, status: str,
                               lock: bool = False) -> list[Waybill]:
    query = (
        select(Waybill)
        .where(Waybill.dispatch_id == dispatch_id, Waybill.status == status)
        .order_by(Waybill.tracking_number)
    )
    return list((await session.execute(_locked(query) if lock else query)).scalars())


async def set_dispatch_of_receptacle(session: AsyncSession, receptacle_id: str, dispatch_id: str) -> None:
    await session.execute(
        update(Waybill)
        .where(Waybill.receptacle_id == receptacle_id, Waybill.status == "in_receptacle")
        .values(dispatch_id=dispatch_id)
        .execution_options(synchronize_session="fetch")
    )


# ── events that came before their order ────────────────────────────────────────


async def add_pending(session: AsyncSession, *, order_id: str, kind: str, payload: dict[str, Any]) -> bool:
    """Keep an early release or void for `order_id`; False when one of that kind is already kept."""
    statement = _insert(session, PendingEvent).values(order_id=order_id, kind=kind, payload=payload,
                                                      received_at=utcnow())
    result = await session.execute(statement.on_conflict_do_nothing(index_elements=["order_id", "kind"]))
    return bool(result.rowcount)


async def stranded_pending_orders(session: AsyncSession, *, limit: int) -> list[str]:
    """Orders with kept events although their waybill exists (the two were handled at the same moment)."""
    query = (
        select(PendingEvent.order_id)
        .join(Waybill, Waybill.order_id == PendingEvent.order_id)
        .distinct()
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def take_pending(session: AsyncSession, order_id: str) -> dict[str, dict[str, Any]]:
    """The early events kept for `order_id` by kind, removed as they are handed over."""
    rows = (await session.execute(select(PendingEvent).where(PendingEvent.order_id == order_id))).scalars().all()
    if rows:
        await session.execute(delete(PendingEvent).where(PendingEvent.order_id == order_id))
    return {row.kind: row.payload for row in rows}


# ── receptacles ────────────────────────────────────────────────────────────────


async def open_receptacle(session: AsyncSession, *, carrier: str, channel: str, origin: str, destination: str,
                          category: str, subclass: str) -> Receptacle | None:
    query = select(Receptacle).where(
        Receptacle.status == "open",
        Receptacle.carrier == carrier,
        Receptacle.channel == channel,
        Receptacle.origin_office == origin,
        Receptacle.destination_office == destination,
        Receptacle.mail_category == category,
        Receptacle.mail_subclass == subclass,
    )
    return (await session.execute(_locked(query))).scalar_one_or_none()


async def add_receptacle(session: AsyncSession, receptacle: Receptacle) -> None:
    session.add(receptacle)
    await session.flush()


async def get_receptacle(session: AsyncSession, receptacle_id: str, *, lock: bool = False) -> Receptacle | None:
    query = select(Receptacle).where(Receptacle.id == receptacle_id)
    return (await session.execute(_locked(query) if lock else query)).scalar_one_or_none()


async def aged_open_receptacles(session: AsyncSession, *, opened_before: datetime, limit: int) -> list[Receptacle]:
    """Open, non-empty receptacles opened before the cutoff, claimed so another replica skips them."""
    query = (
        select(Receptacle)
        .where(Receptacle.status == "open", Receptacle.item_count > 0, Receptacle.opened_at <= opened_before)
        .order_by(Receptacle.opened_at)
        .limit(limit)
    )
    return list((await session.execute(_locked(query, skip_locked=True))).scalars())


async def closed_receptacles_of(session: AsyncSession, dispatch_id: str) -> list[Receptacle]:
    query = (
        select(Receptacle)
        .where(Receptacle.dispatch_id == dispatch_id, Receptacle.status == "closed")
        .order_by(Receptacle.serial)
    )
    return list((await session.execute(_locked(query))).scalars())


async def receptacles_of(session: AsyncSession, dispatch_id: str) -> list[Receptacle]:
    """Every receptacle that joined a dispatch, emptied ones included, by serial (for reading)."""
    query = select(Receptacle).where(Receptacle.dispatch_id == dispatch_id).order_by(Receptacle.serial)
    return list((await session.execute(query)).scalars())


# ── dispatches ─────────────────────────────────────────────────────────────────


async def open_dispatch(session: AsyncSession, *, carrier: str, origin: str, destination: str, category: str,
                        subclass: str, year: int) -> Dispatch | None:
    query = select(Dispatch).where(
        Dispatch.status == "open",
        Dispatch.carrier == carrier,
        Dispatch.origin_office == origin,
        Dispatch.destination_office == destination,
        Dispatch.mail_category == category,
        Dispatch.mail_subclass == subclass,
        Dispatch.year == year,
    )
    return (await session.execute(_locked(query))).scalar_one_or_none()


async def add_dispatch(session: AsyncSession, dispatch: Dispatch) -> None:
    session.add(dispatch)
    await session.flush()


async def get_dispatch(session: AsyncSession, dispatch_id: str, *, lock: bool = False) -> Dispatch | None:
    query = select(Dispatch).where(Dispatch.id == dispatch_id)
    return (await session.execute(_locked(query) if lock else query)).scalar_one_or_none()


async def find_dispatch(session: AsyncSession, reference: str) -> Dispatch | None:
    """A dispatch by its id (dsp_…) or its 20-character S9 dispatch identifier."""
    query = select(Dispatch).where(or_(Dispatch.id == reference, Dispatch.dispatch_identifier == reference))
    return (await session.execute(query)).scalar_one_or_none()


async def due_open_dispatches(session: AsyncSession, *, opened_before: datetime, limit: int) -> list[Dispatch]:
    query = (
        select(Dispatch)
        .where(Dispatch.status == "open", Dispatch.receptacle_count > 0, Dispatch.opened_at <= opened_before)
        .order_by(Dispatch.opened_at)
        .limit(limit)
    )
    return list((await session.execute(_locked(query, skip_locked=True))).scalars())


async def claimable_dispatches(session: AsyncSession, *, now: datetime, limit: int) -> list[Dispatch]:
    """Dispatches ready for (another) handoff attempt whose lease, if any, has run out."""
    query = (
        select(Dispatch)
        .where(
            Dispatch.status.in_(("closed", "handing_off")),
            Dispatch.next_attempt_at <= now,
            or_(Dispatch.claimed_until.is_(None), Dispatch.claimed_until < now),
        )
        .order_by(Dispatch.next_attempt_at)
        .limit(limit)
    )
    return list((await session.execute(_locked(query, skip_locked=True))).scalars())


async def list_dispatches(session: AsyncSession, *, status: str | None, carrier: str | None,
                          after: tuple[datetime, str] | None, limit: int) -> list[Dispatch]:
    """Dispatches newest first, `after` being the (opened_at, id) of the last one of the previous page."""
    query = select(Dispatch)
    if status:
        query = query.where(Dispatch.status == status)
    if carrier:
        query = query.where(Dispatch.carrier == carrier)
    if after is not None:
        opened_at, last_id = after
        query = query.where(or_(Dispatch.opened_at < opened_at,
                                and_(Dispatch.opened_at == opened_at, Dispatch.id < last_id)))
    query = query.order_by(Dispatch.opened_at.desc(), Dispatch.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


# ── tracking events ────────────────────────────────────────────────────────────


async def add_tracking_event(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Store one event; False when an event with the same dedupe key is already stored."""
    statement = _insert(session, TrackingEvent).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"])
    return bool((await session.execute(statement)).rowcount)


async def tracking_events_of(session: AsyncSession, tracking_number: str) -> list[TrackingEvent]:
    query = (
        select(TrackingEvent)
        .where(TrackingEvent.tracking_number == tracking_number)
        .order_by(TrackingEvent.occurred_at, TrackingEvent.id)
    )
    return list((await session.execute(query)).scalars())
