"""Event handlers of the orders service: waybill, declaration and parcel events keep each order's status and timeline."""

from __future__ import annotations

import structlog

from services.orders import repository
from services.orders.service import record_order_event
from shared.consumer import Handler, MessageContext
from shared.contract.events import (
    DeclarationCancellationRefused,
    DeclarationCancelled,
    DeclarationFiled,
    DeclarationHeld,
    DeclarationRejected,
    DeclarationReleased,
    Event,
    ParcelDelivered,
    ParcelHandedOff,
    ParcelTracking,
    WaybillIssued,
    WaybillVoided,
)

log = structlog.get_logger()


async def on_order_event(ctx: MessageContext) -> None:
    """Record a downstream event on its order (status, customs status, tracking number, timeline).

    Out-of-order and repeated events are the rule, not the exception: record_order_event never moves a status
    back and keeps one timeline entry per event id (the inbox already drops redelivered envelopes).
    """
    event = ctx.event
    order = await repository.lock_order_progress(ctx.session, event.order_id)
    if order is None:
        # Cannot happen while orders publishes order.accepted before anyone hears of an order; retrying would
        # never help, so the event is logged and left (the inbox records it as handled).
        log.warning("order.event_for_unknown_order", order_id=event.order_id, event_type=ctx.envelope.type)
        return
    await record_order_event(ctx.session, order=order, event=event, event_id=ctx.envelope.id)


HANDLERS: dict[type[Event], Handler] = {
    event_type: on_order_event
    for event_type in (
        WaybillIssued,
        WaybillVoided,
        DeclarationFiled,
        DeclarationHeld,
        DeclarationReleased,
        DeclarationRejected,
        DeclarationCancelled,
        DeclarationCancellationRefused,
        ParcelHandedOff,
        ParcelTracking,
        ParcelDelivered,
    )
}
