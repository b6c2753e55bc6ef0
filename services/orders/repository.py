"""Every query of the orders service."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, delete, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.models import IdempotencyKey, Merchant, Order, OrderEvent

# ── merchants ─────────────────────────────────────────────────────────────────


async def insert_merchant_if_missing(session: AsyncSession, *, code: str, name: str, created_at: datetime) -> None:
    """Register a merchant once; a second registration (or a racing one) leaves the first in place."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
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


async def order_event_exists(session: AsyncSession, event_id: str) -> bool:
    query = select(OrderEvent.id).where(OrderEvent.event_id == event_id)
    return (await session.execute(query)).first() is not None


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
