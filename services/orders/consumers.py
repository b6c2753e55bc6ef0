"""Event handlers of the orders service: waybill, declaration and parcel events keep each order's status and timeline."""

from __future__ import annotations

from services.orders import repository
from services.orders.recording import batch_recorder, log_unknown_order, record_order_event
from shared.consumer import Handler, MessageContext
from shared.contract.envelope import Envelope
from shared.contract.events import (
    CustomsEventDeadLettered,
    DeclarationCancellationRefused,
    DeclarationCancellationRefusedV2,
    DeclarationCancelled,
    DeclarationFiled,
    DeclarationFiledV2,
    DeclarationHeld,
    DeclarationHeldV2,
    DeclarationRejected,
    DeclarationReleased,
    DeclarationReturned,
    Event,
    EventDeadLettered,
    ParcelDelivered,
    ParcelHandedOff,
    ParcelTracking,
    PostalEventDeadLettered,
    WaybillIssued,
    WaybillVoided,
)
from shared.db import Database


async def on_order_event(ctx: MessageContext) -> None:
    """Record a downstream event on its order (status, customs status, tracking number, timeline).

    Out-of-order and repeated events are the rule, not the exception: recording never moves a status back and
    keeps one timeline entry per event id (the inbox already drops redelivered envelopes). A batch handled in one
    transaction is recorded as a whole when it commits (recording.BatchRecorder); in a savepoint, at once.
    """
    recorder = batch_recorder(ctx.session)
    if recorder is not None:
        recorder.add(ctx.envelope, ctx.event)
        return
    event = ctx.event
    order = await repository.lock_order_progress(ctx.session, event.order_id)
    if order is None:
        log_unknown_order(event, ctx.envelope.type)
        return
    await record_order_event(ctx.session, order=order, event=event, event_id=ctx.envelope.id)


async def record_own_stall(db: Database, envelope: Envelope, event: EventDeadLettered) -> None:
    """Orders' consumer gave up on an event about an order: show it on the order as customs' and postal's
    announcements do (shared.stall), in a transaction of its own (the message is parked outside the batch's)."""
    async with db.transaction() as session:
        order = await repository.lock_order_progress(session, event.order_id)
        if order is None:
            log_unknown_order(event, envelope.type)
            return
        await record_order_event(session, order=order, event=event, event_id=envelope.id)


HANDLERS: dict[type[Event], Handler] = {
    event_type: on_order_event
    for event_type in (
        WaybillIssued,
        WaybillVoided,
        DeclarationFiled,
        DeclarationFiledV2,
        DeclarationHeld,
        DeclarationHeldV2,
        DeclarationReleased,
        DeclarationRejected,
        DeclarationCancelled,
        DeclarationCancellationRefused,
        DeclarationCancellationRefusedV2,
        DeclarationReturned,
        ParcelHandedOff,
        ParcelTracking,
        ParcelDelivered,
        CustomsEventDeadLettered,
        PostalEventDeadLettered,
    )
}
