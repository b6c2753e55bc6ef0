"""The queries of the documents: orders by id (a merchant's own only) and the timeline entries they read."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.models import Order, OrderEvent
from services.orders.paper.facts import PAPER_EVENT_TYPES


async def orders_by_id(session: AsyncSession, order_ids: Sequence[str], *,
                       merchant_code: str | None) -> dict[str, Order]:
    """The orders among `order_ids` that exist (and, given a merchant code, belong to that merchant)."""
    query = select(Order).where(Order.id.in_(set(order_ids)))
    if merchant_code is not None:
        query = query.where(Order.merchant_code == merchant_code)
    return {order.id: order for order in (await session.scalars(query)).all()}


async def paper_entries(session: AsyncSession, order_ids: Sequence[str]) -> dict[str, list[OrderEvent]]:
    """The timeline entries the documents read (waybill and declaration events) of each order, oldest first."""
    entries: dict[str, list[OrderEvent]] = {order_id: [] for order_id in order_ids}
    if not order_ids:
        return entries
    query = (select(OrderEvent)
             .where(OrderEvent.order_id.in_(set(order_ids)), OrderEvent.event_type.in_(PAPER_EVENT_TYPES))
             .order_by(OrderEvent.order_id, OrderEvent.occurred_at, OrderEvent.id))
    for entry in (await session.scalars(query)).all():
        entries[entry.order_id].append(entry)
    return entries
