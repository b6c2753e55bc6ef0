"""Receptacles and dispatches, and the waybills in them: consolidation, manifests and handoff."""

from __future__ import annotations

from collections.abc import Sequence as Seq
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.postal.models import Dispatch, Receptacle
from services.postal.repository.base import locked, receptacles, waybills

_PARCEL_COLUMNS = (waybills.c.tracking_number, waybills.c.receptacle_id, waybills.c.status, waybills.c.channel,
                   waybills.c.registered, waybills.c.weight_kg, waybills.c.customs_form, waybills.c.declaration_id,
                   waybills.c.parcel)


async def parcels_in_receptacles(session: AsyncSession, receptacle_ids: Seq[str]) -> list[Row[Any]]:
    """The waybill rows (what a manifest needs, not ORM objects) in the receptacles, by tracking number."""
    if not receptacle_ids:
        return []
    query = (select(*_PARCEL_COLUMNS).where(waybills.c.receptacle_id.in_(receptacle_ids))
             .order_by(waybills.c.tracking_number))
    return list((await session.execute(query)).all())


async def lock_parcels_of_dispatch(session: AsyncSession, dispatch_id: str) -> list[Row[Any]]:
    """The dispatch's waybills still in their receptacles, locked in tracking-number order: (tracking_number,
    order_id, correlation_id, receptacle_id) rows."""
    query = (
        select(waybills.c.tracking_number, waybills.c.order_id, waybills.c.correlation_id, waybills.c.receptacle_id)
        .where(waybills.c.dispatch_id == dispatch_id, waybills.c.status == "in_receptacle")
        .order_by(waybills.c.tracking_number)
        .with_for_update()
    )
    return list((await session.execute(query)).all())


async def hand_off_parcels(session: AsyncSession, dispatch_id: str, *, now: datetime) -> None:
    """Mark the dispatch's waybills still in their receptacles handed off."""
    await session.execute(
        update(waybills)
        .where(waybills.c.dispatch_id == dispatch_id, waybills.c.status == "in_receptacle")
        .values(status="handed_off", handed_off_at=now)
    )


async def set_dispatch_of_receptacle(session: AsyncSession, receptacle_id: str, dispatch_id: str) -> None:
    await session.execute(
        update(waybills)
        .where(waybills.c.receptacle_id == receptacle_id, waybills.c.status == "in_receptacle")
        .values(dispatch_id=dispatch_id)
    )


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
    return (await session.execute(locked(query))).scalar_one_or_none()


async def add_receptacle(session: AsyncSession, receptacle: Receptacle) -> None:
    session.add(receptacle)
    await session.flush()


async def get_receptacle(session: AsyncSession, receptacle_id: str, *, lock: bool = False) -> Receptacle | None:
    query = select(Receptacle).where(Receptacle.id == receptacle_id)
    return (await session.execute(locked(query) if lock else query)).scalar_one_or_none()


async def aged_open_receptacles(session: AsyncSession, *, opened_before: datetime, limit: int) -> list[Receptacle]:
    """Open, non-empty receptacles opened before the cutoff, claimed so another replica skips them."""
    query = (
        select(Receptacle)
        .where(Receptacle.status == "open", Receptacle.item_count > 0, Receptacle.opened_at <= opened_before)
        .order_by(Receptacle.opened_at)
        .limit(limit)
    )
    return list((await session.execute(locked(query, skip_locked=True))).scalars())


async def closed_receptacles_of(session: AsyncSession, dispatch_id: str) -> list[Receptacle]:
    query = (
        select(Receptacle)
        .where(Receptacle.dispatch_id == dispatch_id, Receptacle.status == "closed")
        .order_by(Receptacle.serial)
    )
    return list((await session.execute(locked(query))).scalars())


async def receptacle_labels(session: AsyncSession, dispatch_id: str) -> dict[str, str | None]:
    """Receptacle id → S9 id, for every receptacle of a dispatch."""
    query = select(receptacles.c.id, receptacles.c.s9_id).where(receptacles.c.dispatch_id == dispatch_id)
    return {row.id: row.s9_id for row in (await session.execute(query)).all()}


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
    return (await session.execute(locked(query))).scalar_one_or_none()


async def add_dispatch(session: AsyncSession, dispatch: Dispatch) -> None:
    session.add(dispatch)
    await session.flush()


async def get_dispatch(session: AsyncSession, dispatch_id: str, *, lock: bool = False) -> Dispatch | None:
    query = select(Dispatch).where(Dispatch.id == dispatch_id)
    return (await session.execute(locked(query) if lock else query)).scalar_one_or_none()


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
    return list((await session.execute(locked(query, skip_locked=True))).scalars())


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
    return list((await session.execute(locked(query, skip_locked=True))).scalars())


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
