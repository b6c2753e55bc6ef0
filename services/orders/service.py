"""Use cases of an accepted order: reading it, cancelling it.

Nothing here commits: the request owns the transaction. Intake (creating orders, idempotency) lives in intake.py,
recording what happens to an order in recording.py, API keys in keys.py, the partner registry in partners.py, the
other parties' documents in payments.py and waybills.py, returns in returns.py.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders import repository
from services.orders.domain.progress import OrderProgress
from services.orders.domain.status import can_cancel
from services.orders.keys import create_api_key, ensure_merchant  # noqa: F401 - the CLI imports them from here
from services.orders.models import Order, OrderEvent
from services.orders.paper.facts import order_paper_fields
from services.orders.recording import StatusChange, record_order_event
from services.orders.repository import OrderFilters, StuckOrder
from services.orders.schemas import OrderOut, OrderSummary
from shared.auth import Principal
from shared.contract.events import Event, OrderCancelled
from shared.db import utcnow
from shared.errors import Conflict, InvalidInput, NotFound
from shared.outbox import Outbox

log = structlog.get_logger()

# Roles that see every merchant's orders (payment providers and logistics companies see none: they send documents
# for the orders of the merchants bound to them, and get receipts back).
_ALL_ORDERS_ROLES = frozenset({"ops"})


# ── views ─────────────────────────────────────────────────────────────────────


def order_summary(order: Order) -> dict[str, Any]:
    """The order as listed, JSON-ready."""
    return OrderSummary.model_validate(_summary_fields(order)).model_dump(mode="json")


def order_detail(order: Order, events: list[OrderEvent]) -> dict[str, Any]:
    """The order with its parcel, its provider's payment document, its timeline, customs form and tax assessed,
    JSON-ready."""
    fields = {
        **_summary_fields(order),
        "payment": order.payment,
        "parcel": order.parcel,
        "timeline": [{"type": e.event_type, "title": e.title, "occurred_at": e.occurred_at} for e in events],
        **order_paper_fields(events),
    }
    return OrderOut.model_validate(fields).model_dump(mode="json")


def _summary_fields(order: Order) -> dict[str, Any]:
    return {name: getattr(order, name) for name in OrderSummary.model_fields}


# ── reading ───────────────────────────────────────────────────────────────────


async def visible_order(session: AsyncSession, principal: Principal, order_id: str, *,
                        for_update: bool = False) -> Order:
    """The order if this key may see it; another merchant's order is as unknown as a missing one (404)."""
    merchant_code = None if principal.role in _ALL_ORDERS_ROLES else principal.owner
    order = await repository.get_order(session, order_id, merchant_code=merchant_code, for_update=for_update)
    if order is None:
        raise NotFound(f"No order {order_id}", code="order_not_found")
    return order


async def get_order(session: AsyncSession, principal: Principal, order_id: str) -> dict[str, Any]:
    """One order with its timeline."""
    order = await visible_order(session, principal, order_id)
    return order_detail(order, await repository.timeline(session, order.id))


@dataclass(frozen=True)
class OrderPageRequest:
    filters: OrderFilters
    starting_after: str | None
    limit: int


async def list_orders(session: AsyncSession, principal: Principal, page: OrderPageRequest) -> dict[str, Any]:
    """A page of orders newest first; a merchant only ever sees its own."""
    filters = page.filters
    if principal.role not in _ALL_ORDERS_ROLES:
        filters = replace(filters, merchant_code=principal.owner)
    after = None
    if page.starting_after is not None:
        after = await repository.get_order(session, page.starting_after, merchant_code=filters.merchant_code)
        if after is None:
            raise InvalidInput(f"starting_after {page.starting_after} is not an order of this list",
                               code="cursor_invalid", field="starting_after")
    rows = await repository.list_orders(session, filters, after=after, limit=page.limit + 1)
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    return {"data": [order_summary(o) for o in rows], "has_more": has_more,
            "next_cursor": rows[-1].id if has_more else None}


# ── recording events on an order the API loaded ─────────────────────────────


async def record_on_loaded_order(session: AsyncSession, order: Order, event: Event, *, event_id: str,
                                  **options: Any) -> StatusChange:
    """record_order_event on an order the API loaded whole (for update) to answer with; the answer shows the change."""
    progress = OrderProgress(**{field.name: getattr(order, field.name) for field in fields(OrderProgress)})
    change = await record_order_event(session, order=progress, event=event, event_id=event_id, **options)
    await session.refresh(order)
    return change


# ── cancellation ──────────────────────────────────────────────────────────────


async def cancel_order(session: AsyncSession, outbox: Outbox, *, principal: Principal, order_id: str,
                       reason: str) -> dict[str, Any]:
    """Cancel before handoff: the order shows cancelled at once and order.cancelled asks customs and postal to undo.

    Cancelling a cancelled order returns it unchanged. Customs answers with declaration.cancelled, or, for an
    order it had already released, declaration.cancellation_refused: the order stays cancelled (postal voids the
    waybill, so the parcel does not travel) and its status_reason shows customs' reason.
    """
    order = await visible_order(session, principal, order_id, for_update=True)
    if order.status == "cancelled":
        log.info("order.cancel_repeated", order_id=order.id)
        return order_detail(order, await repository.timeline(session, order.id))
    if not can_cancel(order.status):
        raise Conflict(f"Order {order.id} is {order.status}: it can only be cancelled before handoff",
                       code="cancel_not_allowed", extra={"order_status": order.status})
    event = OrderCancelled(order_id=order.id, merchant_code=order.merchant_code, reason=reason,
                           cancelled_at=utcnow())
    envelope = await outbox.add(session, event, subject=order.id, correlation_id=order.correlation_id)
    title = "Cancellation requested" + (f": {reason}" if reason else "")
    with structlog.contextvars.bound_contextvars(correlation_id=order.correlation_id):
        await record_on_loaded_order(session, order, event, event_id=envelope.id, title=title)
        log.info("order.cancelled", order_id=order.id, merchant_code=order.merchant_code, by=principal.role)
    return order_detail(order, await repository.timeline(session, order.id))


# ── stuck orders ──────────────────────────────────────────────────────────────


async def report_stuck_orders(session: AsyncSession, *, stuck_after_s: dict[str, float], now: datetime,
                              limit: int) -> list[StuckOrder]:
    """Orders that have been in a status longer than its age in `stuck_after_s`, not yet reported in that status;
    marked reported. Log them once the transaction has committed (workers.report_stuck_orders_worker)."""
    cutoffs = {status: now - timedelta(seconds=age_s) for status, age_s in stuck_after_s.items()}
    return await repository.claim_stuck_orders(session, cutoffs, limit=limit)
