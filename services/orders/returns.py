"""Returns (CEB625): the merchant asks customs to take back a released e-commerce import; customs approves it
(declaration.returned), and within 30 days of release the buyer's annual quota comes back (DOMAIN.md §7).

When a return may be asked for: once the parcel is out of the merchant's hands — handed off to the carrier, in
transit, delivered, or brought back by the carrier — and never twice. Before the handoff the merchant cancels
instead (CEB623 withdraws the declaration, and the parcel never leaves). Requiring delivery would be wrong: the quota
window runs from the *release* (§7), and a buyer who refuses the parcel at the door, or a parcel the carrier brings
back, must be returnable within those 30 days however slow the delivery. Only e-commerce imports: CEB625 is an import
message (§5), and no other channel has a quota to give back. Nothing here commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders import repository
from services.orders.domain.status import can_cancel
from services.orders.service import order_detail, record_on_loaded_order, visible_order
from shared.auth import Principal
from shared.contract.events import OrderReturnRequested
from shared.errors import Conflict
from shared.outbox import Outbox

log = structlog.get_logger()

# After the handoff the parcel is out of the merchant's hands: a return is how it comes back through customs.
RETURNABLE_STATUSES = frozenset({"handed_off", "in_transit", "delivered", "returned"})


def return_refusal(*, channel: str, direction: str, status: str, requested_before: bool) -> Conflict | None:
    """Why an order cannot be returned now (409 with a stable code), or None. Pure."""
    if requested_before:
        return Conflict("A return was requested for this order already", code="return_already_requested")
    if channel != "ecommerce" or direction != "import":
        return Conflict("Only e-commerce imports are returned through customs (CEB625)", code="return_not_allowed",
                        extra={"order_status": status})
    if status not in RETURNABLE_STATUSES:
        hint = " Cancel it instead: it has not left yet." if can_cancel(status) else ""
        return Conflict(f"The order is {status}: a return is possible once the parcel is handed off.{hint}",
                        code="return_not_allowed", extra={"order_status": status})
    return None


async def request_return(session: AsyncSession, outbox: Outbox, *, principal: Principal, order_id: str,
                         reason: str, now: datetime) -> dict[str, Any]:
    """Publish order.return_requested (customs files CEB625); the order shows return_requested."""
    order = await visible_order(session, principal, order_id, for_update=True)
    refusal = return_refusal(channel=order.channel, direction=order.direction, status=order.status,
                             requested_before=order.return_requested_at is not None)
    if refusal is not None:
        raise refusal
    order.return_requested_at = now
    event = OrderReturnRequested(order_id=order.id, merchant_code=order.merchant_code, reason=reason,
                                 requested_at=now)
    envelope = await outbox.add(session, event, subject=order.id, correlation_id=order.correlation_id)
    with structlog.contextvars.bound_contextvars(correlation_id=order.correlation_id):
        await session.flush()  # return_requested_at, before recording reads the order back
        await record_on_loaded_order(session, order, event, event_id=envelope.id, occurred_at=now)
        log.info("order.return_requested", order_id=order.id, merchant_code=order.merchant_code)
    return order_detail(order, await repository.timeline(session, order.id))
