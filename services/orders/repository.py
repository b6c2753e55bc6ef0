"""Every query of the orders service."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Integer,
    String,
    Table,
    Text,
    and_,
    any_,
    bindparam,
    delete,
    exists,
    insert,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.orders.domain.progress import OrderProgress
from services.orders.models import IdempotencyKey, Merchant, Order, OrderEvent
from services.orders.webhooks.models import WebhookEndpoint
from shared.bulk import insert_new, update_many
from shared.db import bucketed

# The hot paths (intake, the consumers) run Core statements built once: building a statement and going through
# the ORM's unit of work cost more than the round trip itself.
_orders = Order.__table__
_order_events = OrderEvent.__table__


def dialect_of(session: AsyncSession) -> str:
    return session.bind.dialect.name


# ── merchants ─────────────────────────────────────────────────────────────────


async def insert_merchant_if_missing(session: AsyncSession, *, code: str, name: str, created_at: datetime) -> None:
    """Register a merchant once; a second registration (or a racing one) leaves the first in place."""
    dialect = postgresql if dialect_of(session) == "postgresql" else sqlite
    statement = dialect.insert(Merchant).values(code=code, name=name, created_at=created_at)
    await session.execute(statement.on_conflict_do_nothing(index_elements=["code"]))


async def get_merchant(session: AsyncSession, code: str) -> Merchant | None:
    return await session.get(Merchant, code)


# ── idempotency keys ──────────────────────────────────────────────────────────

_idempotency_keys = IdempotencyKey.__table__
_FIND_STORED_RESPONSE = select(
    _idempotency_keys.c.fingerprint, _idempotency_keys.c.response_status, _idempotency_keys.c.response_body,
).where(_idempotency_keys.c.api_key_id == bindparam("api_key_id"), _idempotency_keys.c.key == bindparam("key"))
_INSERT_IDEMPOTENCY_KEY = insert(_idempotency_keys)


class StoredResponse(NamedTuple):
    """The response stored under an Idempotency-Key, and the fingerprint of the request it answered."""

    fingerprint: str
    response_status: int
    response_body: str


async def find_idempotency_key(session: AsyncSession, *, api_key_id: str, key: str) -> StoredResponse | None:
    row = (await session.execute(_FIND_STORED_RESPONSE, {"api_key_id": api_key_id, "key": key})).first()
    return None if row is None else StoredResponse(*row)


async def insert_idempotency_key(session: AsyncSession, *, api_key_id: str, key: str, fingerprint: str,
                                 response_status: int, response_body: str, created_at: datetime) -> None:
    """Insert at once (not at flush): the primary key decides between concurrent requests with the same key."""
    await session.execute(_INSERT_IDEMPOTENCY_KEY, {
        "api_key_id": api_key_id, "key": key, "fingerprint": fingerprint, "response_status": response_status,
        "response_body": response_body, "created_at": created_at,
    })


async def delete_idempotency_keys_before(session: AsyncSession, cutoff: datetime) -> int:
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    return result.rowcount or 0


# ── intake ────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class IntakeLookup:
    """What intake reads before it writes, in one statement: one snapshot, one round trip.

    A concurrent twin request commits its orders and its Idempotency-Key together, so whenever this sees the twin's
    orders it sees its key too (and replays rather than answering 409).
    """

    taken: set[str]  # of the numbers asked about, those the merchant has used already
    stored: StoredResponse | None  # the response stored under the request's Idempotency-Key
    has_webhook_endpoints: bool  # the merchant has an enabled webhook endpoint


def _intake_lookup_statement():
    """(kind, value, response_status, response_body) rows: 'taken' per number in use, 'stored' for the stored
    response (value: its fingerprint), 'webhooks' when the merchant has an enabled endpoint."""
    endpoints = WebhookEndpoint.__table__
    no_status, no_body = null().cast(Integer), null().cast(Text)
    taken = select(literal_column("'taken'").label("kind"), _orders.c.merchant_order_no.label("value"),
                   no_status.label("response_status"), no_body.label("response_body")).where(
        _orders.c.merchant_code == bindparam("merchant_code"),
        _orders.c.merchant_order_no.in_(bindparam("numbers", expanding=True)))
    stored = select(literal_column("'stored'"), _idempotency_keys.c.fingerprint, _idempotency_keys.c.response_status,
                    _idempotency_keys.c.response_body).where(
        _idempotency_keys.c.api_key_id == bindparam("api_key_id"), _idempotency_keys.c.key == bindparam("key"))
    webhooks = select(literal_column("'webhooks'"), null().cast(String), no_status, no_body).where(
        exists().where(endpoints.c.merchant_code == bindparam("merchant_code"), endpoints.c.enabled.is_(True)))
    return union_all(taken, stored, webhooks)


_INTAKE_LOOKUP = _intake_lookup_statement()


async def intake_lookup(session: AsyncSession, *, merchant_code: str, numbers: Iterable[str], api_key_id: str,
                        key: str) -> IntakeLookup:
    """Which of these merchant order numbers are taken, the response stored under the key, and whether the
    merchant has webhook endpoints."""
    rows = (await session.execute(_INTAKE_LOOKUP, {"merchant_code": merchant_code, "numbers": bucketed(sorted(set(numbers))),
                                                   "api_key_id": api_key_id, "key": key})).all()
    stored = next((row for row in rows if row.kind == "stored"), None)
    return IntakeLookup(
        taken={row.value for row in rows if row.kind == "taken"},
        stored=None if stored is None else StoredResponse(stored.value, stored.response_status, stored.response_body),
        has_webhook_endpoints=any(row.kind == "webhooks" for row in rows),
    )


_INSERT_ORDERS = insert(_orders)
_INSERT_ORDER_EVENTS = insert(_order_events)


async def insert_orders(session: AsyncSession, orders: list[dict[str, Any]]) -> None:
    """Insert orders in one statement per batch of rows (executemany / insertmanyvalues)."""
    if orders:
        await session.execute(_INSERT_ORDERS, orders)


# ── orders ────────────────────────────────────────────────────────────────────


async def get_order(session: AsyncSession, order_id: str, *, merchant_code: str | None = None,
                    for_update: bool = False) -> Order | None:
    """One order by id; restricted to a merchant when `merchant_code` is given; locked when `for_update`."""
    query = select(Order).where(Order.id == order_id)
    if merchant_code is not None:
        query = query.where(Order.merchant_code == merchant_code)
    if for_update:
        # The row lock serialises a merchant's cancel with the consumers' updates on PostgreSQL
        # (SQLite writers are already serialised by BEGIN IMMEDIATE).
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(query)).first()


_PROGRESS_COLUMNS = [_orders.c[field.name] for field in fields(OrderProgress)]
# The row lock serialises events of one order across batches and replicas, and with a merchant's cancel
# (SQLAlchemy leaves FOR UPDATE out on SQLite, whose writers BEGIN IMMEDIATE one at a time anyway).
_LOCK_PROGRESS = select(*_PROGRESS_COLUMNS).where(_orders.c.id == bindparam("order_id")).with_for_update()
_UPDATE_PROGRESS = update(_orders).where(_orders.c.id == bindparam("order_id"))
_PROGRESS_UPDATES = ("status", "tracking_number", "customs_status", "customs_ceb_code", "status_reason", "updated_at",
                     "status_changed_at")


async def lock_order_progress(session: AsyncSession, order_id: str) -> OrderProgress | None:
    """An order's progress, row-locked until the transaction ends; None when there is no such order."""
    row = (await session.execute(_LOCK_PROGRESS, {"order_id": order_id})).first()
    return None if row is None else OrderProgress(*row)


# On PostgreSQL the ids go as one array (`= ANY($1)`): one parameter and one SQL text whatever their number, where an
# expanding IN renders and binds a parameter per id (bucketed, to keep the texts few).
_ORDER_IDS_IN = {
    "postgresql": _orders.c.id == any_(bindparam("order_ids", type_=ARRAY(String))),
    "sqlite": _orders.c.id.in_(bindparam("order_ids", expanding=True)),
}
_LOCK_MANY_PROGRESS = {dialect: select(*_PROGRESS_COLUMNS).where(ids).order_by(_orders.c.id).with_for_update()
                       for dialect, ids in _ORDER_IDS_IN.items()}


def lock_orders_progress(session: Session, order_ids: Iterable[str]) -> dict[str, OrderProgress]:
    """lock_order_progress for many orders in one statement, by id (sync: see recording.BatchRecorder); rows are
    locked in id order, so two such reads never wait on each other in a cycle."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    dialect = session.get_bind().dialect.name
    rows = session.execute(_LOCK_MANY_PROGRESS[dialect], {"order_ids": ids if dialect == "postgresql" else bucketed(ids)})
    return {row.id: OrderProgress(*row) for row in rows}


async def update_order_progress(session: AsyncSession, progress: OrderProgress) -> None:
    """Write what an event changed (status, customs status, tracking number, reason, times)."""
    values = {name: getattr(progress, name) for name in _PROGRESS_UPDATES}
    await session.execute(_UPDATE_PROGRESS, {"order_id": progress.id, **values})


@dataclass(frozen=True)
class OrderFilters:
    merchant_code: str | None = None
    status: str | None = None
    channel: str | None = None
    created_gte: datetime | None = None
    created_lt: datetime | None = None
    merchant_order_no: str | None = None


async def list_orders(session: AsyncSession, filters: OrderFilters, *, after: Order | None,
                      limit: int) -> list[Order]:
    """Orders newest first by (created_at, id), strictly after the cursor order; `limit` rows at most."""
    query = select(Order)
    conditions = {
        Order.merchant_code: filters.merchant_code,
        Order.status: filters.status,
        Order.channel: filters.channel,
        Order.merchant_order_no: filters.merchant_order_no,
    }
    for column, value in conditions.items():
        if value is not None:
            query = query.where(column == value)
    if filters.created_gte is not None:
        query = query.where(Order.created_at >= filters.created_gte)
    if filters.created_lt is not None:
        query = query.where(Order.created_at < filters.created_lt)
    if after is not None:
        query = query.where(or_(Order.created_at < after.created_at,
                                and_(Order.created_at == after.created_at, Order.id < after.id)))
    query = query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit)
    return list((await session.scalars(query)).all())


# ── stuck orders ──────────────────────────────────────────────────────────────


class StuckOrder(NamedTuple):
    id: str
    merchant_order_no: str
    tracking_number: str | None
    status: str
    status_changed_at: datetime
    correlation_id: str


async def claim_stuck_orders(session: AsyncSession, cutoffs: dict[str, datetime], *, limit: int) -> list[StuckOrder]:
    """Orders in one of these statuses since before its cutoff and not yet reported in it, marked reported.

    One UPDATE … RETURNING, oldest first, `limit` at most: a replica running the same claim concurrently waits for
    the row lock, then finds the order reported and leaves it, so each order is reported once per status.
    """
    if not cutoffs:
        return []
    stuck = and_(
        or_(*(and_(_orders.c.status == status, _orders.c.status_changed_at < cutoff)
              for status, cutoff in sorted(cutoffs.items()))),
        _orders.c.stuck_reported_status.is_distinct_from(_orders.c.status),
    )
    oldest = select(_orders.c.id).where(stuck).order_by(_orders.c.status_changed_at).limit(limit)
    statement = (update(_orders).where(_orders.c.id.in_(oldest.scalar_subquery()), stuck)
                 .values(stuck_reported_status=_orders.c.status)
                 .returning(*(_orders.c[name] for name in StuckOrder._fields)))
    return [StuckOrder(*row) for row in (await session.execute(statement)).all()]


# ── timeline ──────────────────────────────────────────────────────────────────


async def insert_order_events(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    if events:
        await session.execute(_INSERT_ORDER_EVENTS, events)


_INSERT_EVENT_IF_NEW = {
    dialect.dialect.name: dialect.insert(_order_events).on_conflict_do_nothing(index_elements=["event_id"])
    for dialect in (postgresql, sqlite)
}


async def insert_order_event_if_new(session: AsyncSession, entry: dict[str, Any]) -> bool:
    """Add a timeline entry unless one with its event_id exists (event ids are unique); True when added."""
    result = await session.execute(_INSERT_EVENT_IF_NEW[dialect_of(session)], entry)
    return result.rowcount == 1


# ── a consumer batch's writes: sync, because they run inside the commit (recording.BatchRecorder) ────────────


def insert_order_events_if_new(session: Session, entries: list[dict[str, Any]]) -> int:
    """Add timeline entries, leaving out those whose event_id exists; returns how many were added."""
    return insert_new(session, _order_events, entries, ("event_id",))


def update_orders_progress(session: Session, orders: list[OrderProgress]) -> None:
    """update_order_progress for many orders in one statement."""
    update_many(session, _orders, "id", [
        {"id": order.id, **{name: getattr(order, name) for name in _PROGRESS_UPDATES}} for order in orders
    ])


async def timeline(session: AsyncSession, order_id: str) -> list[OrderEvent]:
    """An order's events in the order they happened (ties in the order they arrived)."""
    query = select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.occurred_at, OrderEvent.id)
    return list((await session.scalars(query)).all())


# ── API keys (the kit's table; the kit's repository has no lookup by id) ──────


async def get_api_key(session: AsyncSession, table: Table, key_id: str) -> dict[str, Any] | None:
    row = (await session.execute(select(table).where(table.c.id == key_id))).first()
    return None if row is None else _key_row(row)


async def list_api_keys(session: AsyncSession, table: Table, *, role: str | None, owner: str | None,
                        active: bool | None) -> list[dict[str, Any]]:
    query = select(table).order_by(table.c.created_at, table.c.id)
    if role is not None:
        query = query.where(table.c.role == role)
    if owner is not None:
        query = query.where(table.c.owner == owner)
    if active is not None:
        query = query.where(table.c.active == active)
    return [_key_row(row) for row in (await session.execute(query)).all()]


def _key_row(row: Any) -> dict[str, Any]:
    """A key without its hash."""
    return {"id": row.id, "prefix": row.prefix, "role": row.role, "owner": row.owner, "name": row.name,
            "created_at": row.created_at, "revoked_at": row.revoked_at, "active": row.active}
