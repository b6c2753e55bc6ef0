"""Waybills on the consumer paths: issue, release and bag, and the events kept for an order not issued yet.

In a consumer batch's fast path (shared.batch) a parcel's release and bagging, whose checks were made ahead under
the waybill's lock (read_ahead.lock_issued_for_release), are held and written for the whole batch with one
executemany right before the session's next statement, flush or commit: every read sees them, as with the kit's
held inserts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from services.postal.models import PendingEvent, Waybill
from services.postal.repository.base import dialect, insert_for, locked, pending_events, per_dialect, waybills
from shared.batch import execute_later, insert_rows, scope_of
from shared.db import UTCDateTime, utcnow


# Waybills are written with Core statements on hot paths, which leave a waybill already in the session stale:
# reading one as an ORM object always refreshes it.
async def get_waybill(session: AsyncSession, tracking_number: str, *, lock: bool = False) -> Waybill | None:
    query = select(Waybill).where(Waybill.tracking_number == tracking_number)
    query = locked(query) if lock else query.execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def get_waybill_by_order(session: AsyncSession, order_id: str, *, lock: bool = False) -> Waybill | None:
    query = select(Waybill).where(Waybill.order_id == order_id)
    query = locked(query) if lock else query.execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


_INSERT_WAYBILL = per_dialect(lambda insert: (
    insert(waybills).on_conflict_do_nothing(index_elements=["order_id"])
    .returning(select(pending_events.c.kind).where(pending_events.c.order_id == bindparam("pending_of")).exists())
))


async def insert_waybill(session: AsyncSession, values: dict[str, Any]) -> bool | None:
    """Insert a waybill; None when its order already has one (the unique order id decides, even between replicas),
    else whether events are kept for the order (pending_events), read by the same statement."""
    result = await session.execute(_INSERT_WAYBILL[dialect(session)], {**values, "pending_of": values["order_id"]})
    row = result.first()
    return None if row is None else bool(row[0])


_RELEASE = (
    update(waybills)
    .where(waybills.c.order_id == bindparam("release_order_id"), waybills.c.status == "issued")
    .values(declaration_id=bindparam("release_declaration_id"), customs_form=bindparam("release_form"),
            released_at=bindparam("release_at", type_=UTCDateTime()))
    .returning(waybills.c.tracking_number, waybills.c.order_id, waybills.c.carrier, waybills.c.channel,
               waybills.c.destination_office, waybills.c.mail_category, waybills.c.mail_subclass,
               waybills.c.weight_kg, waybills.c.registered)
)


async def release_waybill(session: AsyncSession, *, order_id: str, declaration_id: str, form: str | None,
                          released_at: datetime) -> Row[Any] | None:
    """Record customs' release on the order's waybill if it is still `issued` (locking it); returns what routing
    needs (tracking_number, order_id, carrier, channel, destination_office, mail_category, mail_subclass,
    weight_kg, registered), or None when there is no waybill or it is past `issued`."""
    result = await execute_unflushed(session, _RELEASE, {
        "release_order_id": order_id, "release_declaration_id": declaration_id, "release_form": form,
        "release_at": released_at,
    })
    return result.first()


_BAG = (
    update(waybills)
    .where(waybills.c.tracking_number == bindparam("bag_number"))
    .values(status="in_receptacle", receptacle_id=bindparam("bag_receptacle_id"))
)
# The release and the bagging of a parcel read ahead as `issued`, in one statement; the status condition is the
# one _RELEASE checks, kept although the parcel's row lock already guarantees it.
_RELEASE_AND_BAG = (
    update(waybills)
    .where(waybills.c.tracking_number == bindparam("bag_number"), waybills.c.status == "issued")
    .values(status="in_receptacle", receptacle_id=bindparam("bag_receptacle_id"),
            declaration_id=bindparam("release_declaration_id"), customs_form=bindparam("release_form"),
            released_at=bindparam("release_at", type_=UTCDateTime()))
)


@dataclass(frozen=True, slots=True)
class Release:
    """Customs' release of a parcel, recorded on its waybill when it is bagged (the read-ahead path)."""

    declaration_id: str
    form: str | None
    released_at: datetime


async def bag_waybill(session: AsyncSession, tracking_number: str, receptacle_id: str, *,
                      release: Release | None = None) -> None:
    """The parcel is in the receptacle; with `release`, its release (read ahead as `issued` under its row lock) is
    recorded by the same statement, held for the batch's one executemany inside a consumer batch."""
    if release is None:
        await execute_unflushed(session, _BAG, {"bag_number": tracking_number, "bag_receptacle_id": receptacle_id})
        return
    row = {"bag_number": tracking_number, "bag_receptacle_id": receptacle_id,
           "release_declaration_id": release.declaration_id, "release_form": release.form,
           "release_at": release.released_at}
    if scope_of(session) is None:
        await execute_unflushed(session, _RELEASE_AND_BAG, row)
        return
    await execute_later(session, _RELEASE_AND_BAG, row)


async def execute_unflushed(session: AsyncSession, statement: Any, params: dict[str, Any]) -> Any:
    """Execute a Core statement without flushing the session first (Session.execute would). Bagging keeps the
    receptacle's running weight and count as pending ORM changes, written once when the session next flushes (an
    ORM query, or the commit), not once per parcel; these statements do not read it. What a consumer batch holds
    (inserts, bagged parcels) is written first all the same, as before any statement."""
    scope = scope_of(session)
    if scope is not None and scope.pending:
        await session.run_sync(scope.write_held)
    connection = await session.connection()
    return await connection.execute(statement, params)


# ── events that came before their order ────────────────────────────────────────


async def add_pending(session: AsyncSession, *, order_id: str, kind: str, payload: dict[str, Any]) -> bool:
    """Keep an early release or void for `order_id`; False when one of that kind is already kept."""
    statement = insert_for(session, PendingEvent).values(order_id=order_id, kind=kind, payload=payload,
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


_TAKE_PENDING = (
    delete(pending_events)
    .where(pending_events.c.order_id == bindparam("pending_order_id"))
    .returning(pending_events.c.kind, pending_events.c.payload)
)


async def take_pending(session: AsyncSession, order_id: str) -> dict[str, dict[str, Any]]:
    """The early events kept for `order_id` by kind, removed as they are handed over (one DELETE … RETURNING)."""
    rows = (await session.execute(_TAKE_PENDING, {"pending_order_id": order_id})).all()
    return {row.kind: row.payload for row in rows}



_TAKE_PENDING_KIND = (
    delete(pending_events)
    .where(pending_events.c.order_id == bindparam("pending_order_id"),
           pending_events.c.kind == bindparam("pending_kind"))
    .returning(pending_events.c.payload)
)


async def take_pending_kind(session: AsyncSession, order_id: str, kind: str) -> dict[str, Any] | None:
    """The event of one kind kept for `order_id`, removed as it is handed over; None when none is kept."""
    row = (await session.execute(_TAKE_PENDING_KIND, {"pending_order_id": order_id, "pending_kind": kind})).first()
    return None if row is None else row.payload


async def hold_waybill(session: AsyncSession, values: dict[str, Any]) -> None:
    """Insert a waybill known to be its order's first (read ahead under the parcel's lock): held for the batch's
    one multi-row insert inside a consumer batch, at once otherwise. A conflict fails the batch, which the kit then
    redoes message by message the careful way (insert_waybill)."""
    await insert_rows(session, waybills, [values])
