"""Every query of the orders service."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.domain.progress import OrderProgress
from services.orders.models import IdempotencyKey, Merchant, Order, OrderEvent

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


async def find_idempotency_key(session: AsyncSession, *, api_key_id: str, key: str) -> IdempotencyKey | None:
    query = select(IdempotencyKey).where(IdempotencyKey.api_key_id == api_key_id, IdempotencyKey.key == key)
    return (await session.scalars(query)).first()


async def insert_idempotency_key(session: AsyncSession, *, api_key_id: str, key: str, fingerprint: str,
                                 response_status: int, response_body: str, created_at: datetime) -> None:
    """Insert at once (not at flush): the primary key decides between concurrent requests with the same key."""
    await session.execute(
        insert(IdempotencyKey).values(api_key_id=api_key_id, key=key, fingerprint=fingerprint,
                                      response_status=response_status, response_body=response_body,
                                      created_at=created_at)
    )


async def delete_idempotency_keys_before(session: AsyncSession, cutoff: datetime) -> int:
    result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    return result.rowcount or 0


# ── orders ────────────────────────────────────────────────────────────────────


async def insert_orders(session: AsyncSession, orders: list[dict[str, Any]]) -> None:
    """Insert orders in one statement per batch of rows (executemany / insertmanyvalues)."""
    if orders:
        await session.execute(insert(Order), orders)


async def existing_merchant_order_nos(session: AsyncSession, merchant_code: str, numbers: Iterable[str]) -> set[str]:
    numbers = list(set(numbers))
    if not numbers:
        return set()
    query = select(Order.merchant_order_no).where(Order.merchant_code == merchant_code,
                                                   Order.merchant_order_no.in_(numbers))
    return set((await session.scalars(query)).all())


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
_PROGRESS_UPDATES = ("status", "tracking_number", "customs_status", "customs_ceb_code", "status_reason", "updated_at")


async def lock_order_progress(session: AsyncSession, order_id: str) -> OrderProgress | None:
    """An order's progress, row-locked until the transaction ends; None when there is no such order."""
    row = (await session.execute(_LOCK_PROGRESS, {"order_id": order_id})).first()
    return None if row is None else OrderProgress(*row)


async def update_order_progress(session: AsyncSession, progress: OrderProgress) -> None:
    """Write what an event changed (status, customs status, tracking number, reason, updated_at)."""
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


# ── timeline ──────────────────────────────────────────────────────────────────


async def insert_order_events(session: AsyncSession, events: list[dict[str, Any]]) -> None:
    if events:
        await session.execute(insert(OrderEvent), events)


_INSERT_EVENT_IF_NEW = {
    dialect.dialect.name: dialect.insert(_order_events).on_conflict_do_nothing(index_elements=["event_id"])
    for dialect in (postgresql, sqlite)
}


async def insert_order_event_if_new(session: AsyncSession, entry: dict[str, Any]) -> bool:
    """Add a timeline entry unless one with its event_id exists (event ids are unique); True when added."""
    result = await session.execute(_INSERT_EVENT_IF_NEW[dialect_of(session)], entry)
    return result.rowcount == 1


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
