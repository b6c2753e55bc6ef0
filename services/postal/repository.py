"""Every query of the postal service. Nothing here commits: the caller's boundary does.

Rows that a concurrent worker could change under us are read `FOR UPDATE` (PostgreSQL; SQLite serialises writers
with BEGIN IMMEDIATE and ignores the clause), and work queues are claimed with `SKIP LOCKED` so two replicas share
them instead of queueing behind each other. Locks are taken in one order — waybill, dispatch, receptacle — except
that an open receptacle, which belongs to no dispatch yet, is locked before the dispatch it joins.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence as Seq
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.postal.models import Dispatch, PendingEvent, Receptacle, Sequence, TrackingEvent, Waybill
from shared.db import UTCDateTime, utcnow

# Hot paths use Core statements on the tables, built once: no ORM unit of work, no statement building per call.
waybills = Waybill.__table__
sequences = Sequence.__table__
pending_events = PendingEvent.__table__
receptacles = Receptacle.__table__
tracking_events = TrackingEvent.__table__


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _insert(session: AsyncSession, model: Any) -> Any:
    """INSERT with ON CONFLICT support for the session's dialect."""
    return (postgresql.insert if _dialect(session) == "postgresql" else sqlite.insert)(model)


def _per_dialect(build: Callable[[Any], Any]) -> dict[str, Any]:
    """A statement built once for each dialect from its own insert() (ON CONFLICT is dialect-specific)."""
    return {"postgresql": build(postgresql.insert), "sqlite": build(sqlite.insert)}


def _locked(query: Select, *, skip_locked: bool = False) -> Select:
    # populate_existing: a row already in the session is refreshed with what the lock let us read.
    return query.with_for_update(skip_locked=skip_locked).execution_options(populate_existing=True)


async def _execute_unflushed(session: AsyncSession, statement: Any, params: dict[str, Any]) -> Any:
    """Execute a Core statement without flushing the session first (Session.execute would). Bagging keeps the
    receptacle's running weight and count as pending ORM changes, written once when the session next flushes (an
    ORM query, or the commit), not once per parcel; these statements do not read it."""
    connection = await session.connection()
    return await connection.execute(statement, params)


def held_in_transaction(session: AsyncSession, key: str) -> dict[Any, Any] | None:
    """A dict for what this session's transaction read under its locks (valid until it ends); None in a savepoint,
    whose rollback would undo what the dict remembers."""
    sync = session.sync_session
    if sync.in_nested_transaction():
        return None
    transaction = sync.get_transaction()
    held = sync.info.get(key)
    if held is None or held[0] is not transaction:
        held = sync.info[key] = (transaction, {})
    return held[1]


# ── sequences ──────────────────────────────────────────────────────────────────


_BUMP = (
    update(sequences)
    .where(sequences.c.name == bindparam("seq_name"))
    .values(next_value=sequences.c.next_value + bindparam("seq_count"),
            updated_at=bindparam("seq_now", type_=UTCDateTime()))
    .returning(sequences.c.next_value)
)
_CREATE_SEQUENCE = _per_dialect(lambda insert: insert(sequences).on_conflict_do_nothing(index_elements=["name"]))


async def allocate(session: AsyncSession, name: str, count: int = 1) -> int:
    """Take `count` consecutive numbers from sequence `name` (starting at 1); returns the first.

    One atomic `UPDATE … RETURNING` in the caller's transaction: the row lock (or SQLite's writer lock) holds off
    every other allocator until we commit, and a rollback gives the numbers back, so none is issued twice.
    """
    if count < 1:
        raise ValueError("count must be positive")
    bump = {"seq_name": name, "seq_count": count, "seq_now": utcnow()}
    end = (await session.execute(_BUMP, bump)).scalar_one_or_none()
    if end is None:
        # First use: create the row; a racing creator wins harmlessly (DO NOTHING), then both increment it.
        await session.execute(_CREATE_SEQUENCE[_dialect(session)],
                              {"name": name, "next_value": 1, "updated_at": utcnow()})
        end = (await session.execute(_BUMP, bump)).scalar_one()
    return end - count


_GIVE_BACK = (
    update(sequences)
    .where(sequences.c.name == bindparam("seq_name"), sequences.c.next_value == bindparam("taken_to"))
    .values(next_value=bindparam("unused_from"))
)


def give_back(session: Session, name: str, *, unused_from: int, taken_to: int) -> None:
    """Return the unused tail [unused_from, taken_to) of what this transaction allocated from `name`.

    Synchronous, for a before-commit hook. Safe because the transaction still holds the sequence's row lock (or
    SQLite's writer lock): nobody took a number after ours. Should the counter have moved anyway, nothing changes.
    """
    session.connection().execute(_GIVE_BACK, {"seq_name": name, "unused_from": unused_from, "taken_to": taken_to})


# ── waybills ──────────────────────────────────────────────────────────────────


# Waybills are written with Core statements on hot paths, which leave a waybill already in the session stale:
# reading one as an ORM object always refreshes it.
async def get_waybill(session: AsyncSession, tracking_number: str, *, lock: bool = False) -> Waybill | None:
    query = select(Waybill).where(Waybill.tracking_number == tracking_number)
    query = _locked(query) if lock else query.execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def get_waybill_by_order(session: AsyncSession, order_id: str, *, lock: bool = False) -> Waybill | None:
    query = select(Waybill).where(Waybill.order_id == order_id)
    query = _locked(query) if lock else query.execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


_INSERT_WAYBILL = _per_dialect(lambda insert: (
    insert(waybills).on_conflict_do_nothing(index_elements=["order_id"])
    .returning(select(pending_events.c.kind).where(pending_events.c.order_id == bindparam("pending_of")).exists())
))


async def insert_waybill(session: AsyncSession, values: dict[str, Any]) -> bool | None:
    """Insert a waybill; None when its order already has one (the unique order id decides, even between replicas),
    else whether events are kept for the order (pending_events), read by the same statement."""
    result = await session.execute(_INSERT_WAYBILL[_dialect(session)], {**values, "pending_of": values["order_id"]})
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
    result = await _execute_unflushed(session, _RELEASE, {
        "release_order_id": order_id, "release_declaration_id": declaration_id, "release_form": form,
        "release_at": released_at,
    })
    return result.first()


_BAG = (
    update(waybills)
    .where(waybills.c.tracking_number == bindparam("bag_number"))
    .values(status="in_receptacle", receptacle_id=bindparam("bag_receptacle_id"))
)


async def bag_waybill(session: AsyncSession, tracking_number: str, receptacle_id: str) -> None:
    """The parcel is in the receptacle."""
    await _execute_unflushed(session, _BAG, {"bag_number": tracking_number, "bag_receptacle_id": receptacle_id})


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


_TAKE_PENDING = (
    delete(pending_events)
    .where(pending_events.c.order_id == bindparam("pending_order_id"))
    .returning(pending_events.c.kind, pending_events.c.payload)
)


async def take_pending(session: AsyncSession, order_id: str) -> dict[str, dict[str, Any]]:
    """The early events kept for `order_id` by kind, removed as they are handed over (one DELETE … RETURNING)."""
    rows = (await session.execute(_TAKE_PENDING, {"pending_order_id": order_id})).all()
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


_TRACKED_COLUMNS = (waybills.c.tracking_number, waybills.c.order_id, waybills.c.correlation_id, waybills.c.carrier,
                    waybills.c.channel, waybills.c.status, waybills.c.tracking_status, waybills.c.handed_off_at,
                    waybills.c.delivered_at)


async def lock_tracked_parcels(session: AsyncSession, numbers: Seq[str]) -> dict[str, Row[Any]]:
    """The waybills of these tracking numbers, locked in tracking-number order (so concurrent batches never
    deadlock), as rows: tracking_number, order_id, correlation_id, carrier, channel, status, tracking_status,
    handed_off_at, delivered_at."""
    if not numbers:
        return {}
    query = (select(*_TRACKED_COLUMNS).where(waybills.c.tracking_number.in_(sorted(set(numbers))))
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
        .where(tracking_events.c.tracking_number.in_(sorted(set(numbers))))
        .order_by(tracking_events.c.occurred_at, tracking_events.c.id)
    )
    for row in (await session.execute(query)).all():
        histories[row.tracking_number].append(row)
    return histories


_INSERT_TRACKING = _per_dialect(lambda insert: (
    insert(tracking_events).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(tracking_events.c.dedupe_key)
))


async def add_tracking_events(session: AsyncSession, rows: list[dict[str, Any]]) -> set[str]:
    """Store events in one INSERT; returns the dedupe keys stored (an event already stored is left out)."""
    if not rows:
        return set()
    result = await session.execute(_INSERT_TRACKING[_dialect(session)], rows)
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
