"""Carrier and post tracking events on handed-off parcels, and the statuses derived from them."""

from __future__ import annotations

from collections.abc import Sequence as Seq
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.postal.models import TrackingEvent
from services.postal.repository.base import dialect, per_dialect, tracking_events, waybills
from shared.db import UTCDateTime, bucketed

_TRACKED_COLUMNS = (waybills.c.tracking_number, waybills.c.order_id, waybills.c.correlation_id, waybills.c.carrier,
                    waybills.c.channel, waybills.c.status, waybills.c.tracking_status, waybills.c.handed_off_at,
                    waybills.c.delivered_at)


async def lock_tracked_parcels(session: AsyncSession, numbers: Seq[str]) -> dict[str, Row[Any]]:
    """The waybills of these tracking numbers, locked in tracking-number order (so concurrent batches never
    deadlock), as rows: tracking_number, order_id, correlation_id, carrier, channel, status, tracking_status,
    handed_off_at, delivered_at."""
    if not numbers:
        return {}
    query = (select(*_TRACKED_COLUMNS).where(waybills.c.tracking_number.in_(bucketed(sorted(set(numbers)))))
             .order_by(waybills.c.tracking_number).with_for_update())
    return {row.tracking_number: row for row in (await session.execute(query)).all()}


async def tracking_histories(session: AsyncSession, numbers: Seq[str]) -> dict[str, list[Row[Any]]]:
    """The stored events of these parcels as (tracking_number, status, occurred_at, location) rows, each parcel's
    in the order tracking_events_of() gives them (time, then arrival)."""
    histories: dict[str, list[Row[Any]]] = {number: [] for number in numbers}
    if not numbers:
        return histories
    query = (
        select(tracking_events.c.tracking_number, tracking_events.c.status, tracking_events.c.occurred_at,
               tracking_events.c.location)
        .where(tracking_events.c.tracking_number.in_(bucketed(sorted(set(numbers)))))
        .order_by(tracking_events.c.occurred_at, tracking_events.c.id)
    )
    for row in (await session.execute(query)).all():
        histories[row.tracking_number].append(row)
    return histories


_INSERT_TRACKING = per_dialect(lambda insert: (
    insert(tracking_events).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(tracking_events.c.dedupe_key)
))


async def add_tracking_events(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Store events in one INSERT; returns the dedupe keys stored (an event already stored is left out)."""
    if not rows:
        return set()
    result = await session.execute(_INSERT_TRACKING[dialect(session)], rows)
    return set(result.scalars().all())


_SET_TRACKING_STATUS = (
    update(waybills)
    .where(waybills.c.tracking_number == bindparam("tracked_number"))
    .values(tracking_status=bindparam("tracked_status"), status=bindparam("tracked_parcel_status"),
            delivered_at=bindparam("tracked_delivered_at", type_=UTCDateTime()))
)


async def set_tracking_statuses(session: AsyncSession, changes: list[dict[str, Any]]) -> None:
    """Write parcels' derived statuses: dicts of tracking_number, tracking_status, status and delivered_at."""
    if not changes:
        return
    await session.execute(_SET_TRACKING_STATUS, [
        {"tracked_number": change["tracking_number"], "tracked_status": change["tracking_status"],
         "tracked_parcel_status": change["status"], "tracked_delivered_at": change["delivered_at"]}
        for change in changes
    ])


async def tracking_events_of(session: AsyncSession, tracking_number: str) -> list[TrackingEvent]:
    query = (
        select(TrackingEvent)
        .where(TrackingEvent.tracking_number == tracking_number)
        .order_by(TrackingEvent.occurred_at, TrackingEvent.id)
    )
    return list((await session.execute(query)).scalars())
